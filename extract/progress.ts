/**
 * Progress of a long extract: a live bar on a terminal, a JSON log line every few seconds otherwise
 * (cron logs stay readable and parseable).
 */
import cliProgress from "cli-progress";
import type { Logger } from "../log/logger.js";

export interface ExtractStats {
  repositories: number;
  runsDiscovered: number;
  runsDone: number;
  /** Listed runs whose attempt, status and updated_at match the warehouse: not fetched again. */
  runsUnchanged: number;
  jobs: number;
  packageVersions: number;
  requests: number;
  quarantined: number;
}

export interface Progress {
  update(stats: ExtractStats): void;
  stop(stats: ExtractStats): void;
}

export function createProgress(log: Logger, options: { tty?: boolean; intervalMs?: number } = {}): Progress {
  const tty = options.tty ?? (process.stderr.isTTY === true && !log.json);
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: "extract |{bar}| {value}/{total} runs | {jobs} jobs | {versions} versions | {requests} requests | {eta_formatted} left",
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 200,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    const payload = (s: ExtractStats) => ({ jobs: s.jobs, versions: s.packageVersions, requests: s.requests });
    return {
      update(s) {
        if (!started) {
          bar.start(Math.max(s.runsDiscovered, 1), s.runsDone, payload(s));
          started = true;
        }
        bar.setTotal(Math.max(s.runsDiscovered, 1));
        bar.update(s.runsDone, payload(s));
      },
      stop(s) {
        if (started) {
          bar.update(s.runsDone, payload(s));
          bar.stop();
        }
      },
    };
  }
  const interval = options.intervalMs ?? 5_000;
  let last = 0;
  return {
    update(s) {
      const t = Date.now();
      if (t - last < interval) return;
      last = t;
      log.info("extract progress", { ...s });
    },
    stop() {},
  };
}
