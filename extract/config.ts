/**
 * Extract configuration: flags and environment, validated once, with errors that name the field and
 * the accepted values. The token never appears in an error or a log line.
 */
import { z } from "zod";

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
export const PACKAGE_TYPES = ["npm", "maven", "rubygems", "docker", "nuget", "container"] as const;

const utcDate = (field: string) =>
  z
    .string({ error: `${field} is required (YYYY-MM-DD, UTC)` })
    .regex(DATE, { error: `${field} must be a date YYYY-MM-DD (UTC)` })
    .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)), { error: `${field} is not a valid calendar date` });

/** Re-runs can happen for 30 days after a run was created, so incremental extracts re-list that far back. */
export const DEFAULT_LOOKBACK_DAYS = 30;

export type QuarantineLimit = { kind: "count"; value: number } | { kind: "fraction"; value: number };

const MAX_QUARANTINED_HELP = "--max-quarantined must be a whole number of records (e.g. 100) or a share of the records (e.g. 1% or 0.01)";
/** `100` (records), `1%` or `0.01` (share of all records). */
export const quarantineLimit = z
  .union([z.number(), z.string()], { error: MAX_QUARANTINED_HELP })
  .transform((v, ctx): QuarantineLimit => {
    const text = String(v).trim();
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
    if (pct) {
      const value = Number(pct[1]) / 100;
      if (value <= 1) return { kind: "fraction", value };
    } else if (/^\d+$/.test(text)) {
      return { kind: "count", value: Number(text) };
    } else if (/^0?\.\d+$/.test(text)) {
      return { kind: "fraction", value: Number(text) };
    }
    ctx.addIssue({ code: "custom", message: `${MAX_QUARANTINED_HELP}; got ${JSON.stringify(text)}` });
    return z.NEVER;
  });

export const extractConfigSchema = z
  .object({
    repos: z.array(z.string().regex(REPO, { error: "--repo must be OWNER/NAME" })).default([]),
    orgs: z.array(z.string().regex(LOGIN, { error: "--org must be an organisation login" })).default([]),
    users: z.array(z.string().regex(LOGIN, { error: "--user must be a user login" })).default([]),
    /** Without it, the window starts at the warehouse's watermark minus `lookbackDays`. */
    since: utcDate("--since").optional(),
    lookbackDays: z.number({ error: "--lookback-days must be a whole number of days (0-400)" }).int({ error: "--lookback-days must be a whole number of days (0-400)" }).min(0, { error: "--lookback-days must be between 0 and 400" }).max(400, { error: "--lookback-days must be between 0 and 400" }).default(DEFAULT_LOOKBACK_DAYS),
    /** Ignore the warehouse's ETags and known runs: fetch everything in the window again. */
    refetch: z.boolean().default(false),
    maxQuarantined: quarantineLimit.default({ kind: "fraction", value: 0.01 }),
    maxRecordBytes: z.number().int().min(1024, { error: "--max-record-bytes must be at least 1024" }).default(1024 * 1024),
    until: utcDate("--until").optional(),
    packageTypes: z.array(z.enum(PACKAGE_TYPES, { error: `--package-type must be one of ${PACKAGE_TYPES.join(", ")}` })).default([...PACKAGE_TYPES]),
    packages: z.boolean().default(true),
    apiUrl: z.url({ error: "GITHUB_API_URL must be an http(s) URL, e.g. https://api.github.com or https://ghes.example.com/api/v3" }).default("https://api.github.com"),
    token: z.string().optional(),
    concurrency: z.number().int().min(1, { error: "--concurrency must be between 1 and 50" }).max(50, { error: "--concurrency must be between 1 and 50" }).default(8),
    stagingDir: z.string().min(1),
    /** Requests slower than this are aborted and retried. */
    requestTimeoutMs: z.number({ error: "request timeout must be a number of milliseconds" }).int().positive({ error: "request timeout must be a positive number of milliseconds" }).default(30_000),
    /** Retries per request (rate limits; 5xx and transport failures), then the extract fails. */
    maxRetries: z.number().int().min(0).max(20, { error: "retries must be between 0 and 20" }).default(5),
    /** Milliseconds per second of back-off (1000; tests shrink it). */
    retryTimeScaleMs: z.number().int().nonnegative().default(1000),
    /** Leftovers of crashed extracts younger than this are kept (they may belong to a running extract). */
    orphanGraceMs: z.number().int().nonnegative().default(6 * 3600_000),
    /** Fixed "now" for reproducible windows in tests; defaults to the wall clock. */
    now: z.date().optional(),
  })
  .refine((c) => c.repos.length + c.orgs.length + c.users.length > 0, {
    error: "nothing to extract: give at least one --repo OWNER/NAME, --org ORG or --user USER",
    path: ["repos"],
  })
  .refine((c) => !c.until || !c.since || c.until >= c.since, { error: "--until must be on or after --since", path: ["until"] });

export type ExtractConfigInput = z.input<typeof extractConfigSchema>;
export type ExtractConfig = z.output<typeof extractConfigSchema>;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join("\n")}`);
  }
}

export function parseExtractConfig(input: ExtractConfigInput): ExtractConfig {
  const result = extractConfigSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((i) => ({ field: i.path.length ? i.path.join(".") : "config", message: i.message })),
  );
}

/** The extract window as instants: since 00:00 UTC up to the end of --until (or now), capped at now. */
export function extractWindow(config: ExtractConfig, sinceDay: string | undefined = config.since): { since: Date; until: Date } {
  if (!sinceDay) throw new ConfigError([{ field: "since", message: "--since is required (YYYY-MM-DD, UTC)" }]);
  const now = config.now ?? new Date();
  const since = new Date(`${sinceDay}T00:00:00Z`);
  const endOfUntil = config.until ? new Date(Date.parse(`${config.until}T00:00:00Z`) + 86_400_000 - 1000) : now;
  return { since, until: endOfUntil < now ? endOfUntil : now };
}
