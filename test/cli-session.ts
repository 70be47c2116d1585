/**
 * Runs the real command line (`main()` from jobs/cli.ts) in-process, the way a user's shell would:
 * environment variables set for the session, stderr (the log) and stdout (summaries) captured, both
 * restored by `close()`.
 */
import { vi } from "vitest";
import { main } from "../jobs/cli.js";

export interface CliSession {
  run(...args: string[]): Promise<number>;
  /** Everything written to stderr (log lines) since the session started or `clear()`. */
  readonly stderr: string;
  /** Everything printed with console.log (summaries, tables). */
  readonly stdout: string;
  clear(): void;
  close(): void;
}

export function cliSession(env: Record<string, string> = {}): CliSession {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  let stderr = "";
  let stdout = "";
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    stdout += `${parts.join(" ")}\n`;
  });
  return {
    run: (...args) => main(["node", "actions-warehouse", ...args]),
    get stderr() {
      return stderr;
    },
    get stdout() {
      return stdout;
    },
    clear: () => {
      stderr = "";
      stdout = "";
    },
    close: () => {
      vi.restoreAllMocks();
      process.env = saved;
    },
  };
}
