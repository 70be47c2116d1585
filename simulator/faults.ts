/**
 * Seeded fault injection for the simulator: the failures a cron meets over years, on a schedule that a
 * seed reproduces exactly (same seed, same request order → same faults).
 *
 * Plug a schedule into `startSimulator({ faults: schedule.hook })`. Each request draws once from the
 * seeded generator: with probability `rate` it gets one fault, picked by weight from `kinds`.
 */
import seedrandom from "seedrandom";
import type { Reply, RequestContext } from "./server.js";

/** What the server does instead of (or around) its normal answer. */
export type FaultAction =
  /** Drop the connection without an answer. */
  | { kind: "reset" }
  /** Answer normally, but send only the first part of the JSON body (with a matching Content-Length). */
  | { kind: "truncate" }
  /** Answer normally after a delay (past the client's timeout). */
  | { kind: "delay"; ms: number }
  /** Answer normally with a rewritten body (bad data: unknown fields, nulls, wrong types, huge values). */
  | { kind: "mutate"; mutate: (body: unknown, ctx: RequestContext) => unknown }
  /** Run a side effect first (e.g. a new run arrives), then answer normally. */
  | { kind: "before"; run: () => void };

export const FAULT_KINDS = [
  "500",
  "502",
  "503",
  "secondary-403",
  "429",
  "primary-exhausted",
  "connection-reset",
  "truncated-json",
  "slow",
  "new-run",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultScheduleOptions {
  seed: string | number;
  /** Probability that a request gets a fault (0..1). */
  rate: number;
  /** Relative weights; kinds left out are never drawn. Default: every kind, weight 1. */
  kinds?: Partial<Record<FaultKind, number>>;
  /** Delay of a `slow` answer; set it above the client's timeout. Default 1,500 ms. */
  slowMs?: number;
  /** Seconds in `retry-after` and until `x-ratelimit-reset`. Default 1. */
  retryAfterSeconds?: number;
  /** Only requests whose route (`GET /repos/{owner}/{repo}/actions/runs`) passes get faults. */
  routes?: (route: string) => boolean;
}

export interface FaultSchedule {
  hook: (ctx: RequestContext) => Reply | FaultAction | undefined;
  /** Faults injected so far, by kind. */
  seen: Record<string, number>;
  /** What a `new-run` fault does (e.g. `() => sim.addRun(...)`); without it `new-run` is never drawn. */
  onNewRun?: () => void;
  /** Stops (false) or resumes (true) injecting. */
  enabled: boolean;
}

const DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api";

function reply(kind: FaultKind, retryAfter: number): Reply | FaultAction | undefined {
  switch (kind) {
    case "500":
    case "502":
    case "503":
      return { status: Number(kind), body: { message: kind === "500" ? "Server Error" : kind === "502" ? "Bad Gateway" : "Service Unavailable" } };
    case "secondary-403":
    case "429":
      return {
        status: kind === "429" ? 429 : 403,
        body: { message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", documentation_url: DOCS },
        headers: { "retry-after": String(retryAfter) },
      };
    case "primary-exhausted":
      return {
        status: 403,
        body: { message: "API rate limit exceeded for user ID 1.", documentation_url: DOCS },
        headers: { "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.floor(Date.now() / 1000) + retryAfter) },
      };
    case "connection-reset":
      return { kind: "reset" };
    case "truncated-json":
      return { kind: "truncate" };
    default:
      return undefined;
  }
}

export function createFaultSchedule(options: FaultScheduleOptions): FaultSchedule {
  const rng = seedrandom.alea(String(options.seed));
  const weights = Object.entries(options.kinds ?? Object.fromEntries(FAULT_KINDS.map((k) => [k, 1]))) as [FaultKind, number][];
  const retryAfter = options.retryAfterSeconds ?? 1;
  const schedule: FaultSchedule = {
    seen: {},
    enabled: true,
    hook(ctx) {
      // Draw for every request, enabled or not, so the schedule depends only on the request order.
      const hit = rng() < options.rate;
      const pick = rng();
      if (!schedule.enabled || !hit || (options.routes && !options.routes(ctx.route))) return undefined;
      const usable = weights.filter(([k, w]) => w > 0 && (k !== "new-run" || schedule.onNewRun));
      const total = usable.reduce((n, [, w]) => n + w, 0);
      if (total === 0) return undefined;
      let x = pick * total;
      let kind: FaultKind = usable[usable.length - 1]?.[0] ?? "500";
      for (const [k, w] of usable) {
        if (x < w) {
          kind = k;
          break;
        }
        x -= w;
      }
      schedule.seen[kind] = (schedule.seen[kind] ?? 0) + 1;
      if (kind === "slow") return { kind: "delay", ms: options.slowMs ?? 1500 };
      if (kind === "new-run") {
        const add = schedule.onNewRun;
        return { kind: "before", run: () => add?.() };
      }
      return reply(kind, retryAfter);
    },
  };
  return schedule;
}
