/**
 * Created-date windows for the workflow-runs list.
 *
 * GitHub returns at most 1,000 results for a filtered runs search, so a window whose `total_count`
 * exceeds that is halved (down to a single second) until every window is fully reachable. The first
 * page of each window is reused when the window fits, so splitting costs one request per split only.
 */
export interface Window {
  /** Inclusive, whole seconds. */
  from: Date;
  /** Inclusive, whole seconds. */
  to: Date;
}

export const SEARCH_RESULT_CAP = 1_000;

export function isoSecond(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** GitHub search syntax for an inclusive created range. */
export function createdQualifier(w: Window): string {
  return `${isoSecond(w.from)}..${isoSecond(w.to)}`;
}

export function windowSeconds(w: Window): number {
  return Math.round((w.to.getTime() - w.from.getTime()) / 1000) + 1;
}

/** Halves a window into two disjoint inclusive windows that together cover it exactly. */
export function splitWindow(w: Window): [Window, Window] {
  const seconds = windowSeconds(w);
  if (seconds < 2) throw new Error(`cannot split the one-second window ${createdQualifier(w)}`);
  const half = Math.floor(seconds / 2);
  const leftEnd = new Date(w.from.getTime() + (half - 1) * 1000);
  return [
    { from: w.from, to: leftEnd },
    { from: new Date(leftEnd.getTime() + 1000), to: w.to },
  ];
}

/** Normalises a [since, until] instant pair to whole-second inclusive bounds. */
export function windowOf(since: Date, until: Date): Window {
  return {
    from: new Date(Math.floor(since.getTime() / 1000) * 1000),
    to: new Date(Math.floor(until.getTime() / 1000) * 1000),
  };
}

const DAY_MS = 86_400_000;

/**
 * Whole UTC days covering [from, to]. Runs lists are requested per day, so a day's URL is the same in
 * every extract and its ETag can answer 304 when nothing in that day changed; past days are closed, so
 * runs arriving while the extractor pages can only shift the current day's pages.
 */
export function dayWindows(from: Date, to: Date): Window[] {
  const out: Window[] = [];
  for (let day = Math.floor(from.getTime() / DAY_MS) * DAY_MS; day <= to.getTime(); day += DAY_MS) {
    out.push({ from: new Date(day), to: new Date(day + DAY_MS - 1000) });
  }
  return out;
}
