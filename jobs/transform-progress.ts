/**
 * Progress of a transform (`runTransform`'s `onProgress`): a live bar on a terminal, otherwise one JSON
 * log line per finished action at debug and a summary line every few seconds at info, like the extract's.
 */
import cliProgress from "cli-progress";
import type { Logger } from "../log/logger.js";
import type { ProgressEvent } from "../transform/run.js";

export interface TransformProgress {
  onProgress(event: ProgressEvent): void;
  stop(): void;
}

export function createTransformProgress(log: Logger, options: { tty?: boolean; intervalMs?: number } = {}): TransformProgress {
  const tty = options.tty ?? (process.stderr.isTTY === true && !log.json);
  if (tty) {
    const bar = new cliProgress.SingleBar(
      { format: "transform |{bar}| {value}/{total} actions | {action}", stream: process.stderr, hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress(event) {
        if (event.kind === "start") {
          if (!started) {
            bar.start(event.total, event.index, { action: event.action });
            started = true;
          }
          bar.update(event.index, { action: event.action });
        } else if (event.kind === "finish") {
          bar.update(event.index + 1, { action: event.result.status === "failed" ? `${event.result.name} FAILED` : event.result.name });
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  const interval = options.intervalMs ?? 5_000;
  let last = Date.now();
  return {
    onProgress(event) {
      if (event.kind === "compiled") log.info("transform compiled", { actions: event.actions, duration_ms: Math.round(event.durationMs) });
      if (event.kind !== "finish") return;
      log.debug("action finished", { action: event.result.name, status: event.result.status, duration_ms: Math.round(event.result.durationMs) });
      if (Date.now() - last >= interval || event.index + 1 === event.total) {
        last = Date.now();
        log.info("transform progress", { done: event.index + 1, total: event.total });
      }
    },
    stop() {},
  };
}
