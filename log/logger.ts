/**
 * Structured logging with secret redaction.
 *
 * On a TTY lines are short and human; otherwise (cron, CI) each line is one JSON object so log
 * processors can parse it. Every secret registered with `registerSecret` is replaced by `***` in every
 * line, whatever field or message it hides in: redaction happens on the rendered line, so no caller can
 * forget it.
 */
export type Level = "debug" | "info" | "warn" | "error";
const LEVELS: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
export const LOG_LEVELS = Object.keys(LEVELS) as Level[];

/**
 * What each level means, so alerts on `error` fire only when something failed:
 * - `error`: the run (or the command) failed; said once, with what to do;
 * - `warn`: something went wrong and was handled (a retried request, with its real cause; packages
 *   skipped), or the data may be incomplete;
 * - `info`: milestones (extract started and finished, loads, models);
 * - `debug`: per-request detail, 304s (a 304 to a conditional request is the good news).
 */

/** LOG_LEVEL holds a value that is not a level. */
export class LogLevelError extends Error {
  override readonly name = "LogLevelError";
  constructor(readonly value: string) {
    super(`invalid configuration:\n  - LOG_LEVEL: must be one of ${LOG_LEVELS.join(", ")} (any case), got ${JSON.stringify(value.slice(0, 40))}`);
  }
}

/** `LOG_LEVEL` read case-insensitively; unset or empty means `info`; anything else throws `LogLevelError`. */
export function parseLogLevel(value: string | undefined): Level {
  const text = (value ?? "").trim().toLowerCase();
  if (text === "") return "info";
  if ((LOG_LEVELS as string[]).includes(text)) return text as Level;
  throw new LogLevelError(value ?? "");
}

/** The level of LOG_LEVEL, or `info` when it is not a level (library use; the CLI refuses such values first). */
function levelFromEnv(): Level {
  try {
    return parseLogLevel(process.env.LOG_LEVEL);
  } catch {
    return "info";
  }
}

const secrets = new Set<string>();

/** Registers a value that must never appear in output (tokens, private keys). Ignores short values. */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 6) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("***");
  return out;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  readonly json: boolean;
}

export interface LoggerOptions {
  level?: Level;
  json?: boolean;
  write?: (line: string) => void;
  fields?: Record<string, unknown>;
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return /\s/.test(value) ? JSON.stringify(value) : value;
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value);
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const json = options.json ?? !process.stderr.isTTY;
  const min = LEVELS[options.level ?? levelFromEnv()] ?? LEVELS.info;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const base = options.fields ?? {};

  const emit = (level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (LEVELS[level] < min) return;
    const all = { ...base, ...fields };
    let line: string;
    if (json) {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...all }, (_k, v: unknown) =>
        v instanceof Error ? { name: v.name, message: v.message } : typeof v === "bigint" ? v.toString() : v,
      );
    } else {
      const extra = Object.entries(all)
        .map(([k, v]) => `${k}=${renderValue(v)}`)
        .join(" ");
      line = `${level === "info" ? "" : `${level.toUpperCase()} `}${msg}${extra ? `  ${extra}` : ""}`;
    }
    write(redact(line));
  };

  return {
    json,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger({ ...options, json, fields: { ...base, ...fields } }),
  };
}

/** A logger that discards everything (library use, tests that assert on results only). */
export const silentLogger: Logger = createLogger({ write: () => {}, json: true });
