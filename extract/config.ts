/**
 * Extract configuration: flags and environment, validated once, with errors that name the field and
 * the accepted values. The token never appears in an error or a log line.
 *
 * GitHub credentials, one of:
 * - `token` (GITHUB_TOKEN): a classic or fine-grained token, or an installation token minted elsewhere;
 * - a GitHub App (`appId` + `appPrivateKey` or `appPrivateKeyFile`): the extractor finds the App's
 *   installation on each owner of the scope and mints (and refreshes) installation tokens itself;
 * - neither: unauthenticated (public data, 60 requests/h).
 * Giving both a token and an App is refused: which one a run used would otherwise depend on which
 * secret happened to be set. `packagesToken` (GITHUB_PACKAGES_TOKEN), when set, is used for the
 * packages endpoints only; GitHub Apps cannot call those at all.
 */
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const REPO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
export const PACKAGE_TYPES = ["npm", "maven", "rubygems", "docker", "nuget", "container"] as const;

const utcDate = (field: string) =>
  z
    .string({ error: `${field} is required (YYYY-MM-DD, UTC)` })
    .regex(DATE, { error: `${field} must be a date YYYY-MM-DD (UTC)` })
    // Strict: JavaScript reads 2026-02-30 as 2026-03-02; a real calendar date survives the round trip.
    .refine((s) => {
      const t = Date.parse(`${s}T00:00:00Z`);
      return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
    }, { error: `${field} is not a real calendar date` });

/** Re-runs can happen for 30 days after a run was created, so incremental extracts re-list that far back. */
export const DEFAULT_LOOKBACK_DAYS = 30;

/** Rate limit (requests) an extract keeps for others and the next extract when reading workflow files. */
export const DEFAULT_WORKFLOW_DEFINITIONS_RESERVE = 500;

/** Wall-clock limit on retrying one request after 5xx answers and transport failures. */
export const DEFAULT_MAX_RETRY_SECONDS = 60;
const MAX_RETRY_SECONDS_HELP = "--max-retry-seconds must be a whole number of seconds between 0 and 3600";

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
    /** First day for a scope the warehouse has never extracted; ignored once a watermark exists. */
    initialSince: utcDate("--initial-since").optional(),
    lookbackDays: z.number({ error: "--lookback-days must be a whole number of days (0-400)" }).int({ error: "--lookback-days must be a whole number of days (0-400)" }).min(0, { error: "--lookback-days must be between 0 and 400" }).max(400, { error: "--lookback-days must be between 0 and 400" }).default(DEFAULT_LOOKBACK_DAYS),
    /** Ignore the warehouse's ETags and known runs: fetch everything in the window again. */
    refetch: z.boolean().default(false),
    maxQuarantined: quarantineLimit.default({ kind: "fraction", value: 0.01 }),
    maxRecordBytes: z.number().int().min(1024, { error: "--max-record-bytes must be at least 1024" }).default(1024 * 1024),
    until: utcDate("--until").optional(),
    packageTypes: z.array(z.enum(PACKAGE_TYPES, { error: `--package-type must be one of ${PACKAGE_TYPES.join(", ")}` })).default([...PACKAGE_TYPES]),
    packages: z.boolean().default(true),
    /** Deployments, their statuses and compare commits (extract/deployments.ts); --no-deployments turns them off. */
    deployments: z.boolean().default(true),
    /** Workflow files of the runs, per (path, commit), parsed into job graphs (extract/workflow-definitions.ts); --no-workflow-definitions turns them off. */
    workflowDefinitions: z.boolean().default(true),
    /** Workflow files are read only while the primary rate limit left stays above this many requests; the rest wait for a later extract. */
    workflowDefinitionsReserve: z
      .number({ error: "--workflow-definitions-reserve must be a whole number of requests (0 or more)" })
      .int({ error: "--workflow-definitions-reserve must be a whole number of requests (0 or more)" })
      .min(0, { error: "--workflow-definitions-reserve must be a whole number of requests (0 or more)" })
      .default(DEFAULT_WORKFLOW_DEFINITIONS_RESERVE),
    /** Artifact name globs whose JUnit and coverage XML is read (--test-artifacts); empty = off, no artifact request at all. */
    testArtifacts: z
      .array(z.string().trim().min(1, { error: "--test-artifacts takes artifact name globs separated by commas, e.g. 'junit*,coverage*'; an empty glob is not allowed" }))
      .max(20, { error: "--test-artifacts takes at most 20 globs" })
      .default([]),
    apiUrl: z.url({ error: "GITHUB_API_URL must be an http(s) URL, e.g. https://api.github.com or https://ghes.example.com/api/v3" }).default("https://api.github.com"),
    token: z.string().optional(),
    /** GitHub App ID (GITHUB_APP_ID): the numeric ID on the App's settings page. */
    appId: z.union([z.string(), z.number()]).optional(),
    /** The App's private key, PEM text (GITHUB_APP_PRIVATE_KEY). */
    appPrivateKey: z.string().optional(),
    /** Path of the App's private key file (GITHUB_APP_PRIVATE_KEY_FILE). */
    appPrivateKeyFile: z.string().optional(),
    /** Classic PAT with `read:packages` for the packages endpoints (GITHUB_PACKAGES_TOKEN). */
    packagesToken: z.string().optional(),
    concurrency: z.number().int().min(1, { error: "--concurrency must be between 1 and 50" }).max(50, { error: "--concurrency must be between 1 and 50" }).default(8),
    stagingDir: z.string().min(1),
    /** The warehouse this extract is for, recorded in the manifest (load/targets.ts `targetId`). */
    target: z.string().optional(),
    /** Requests slower than this are aborted and retried. */
    requestTimeoutMs: z.number({ error: "request timeout must be a number of milliseconds" }).int().positive({ error: "request timeout must be a positive number of milliseconds" }).default(30_000),
    /** Retries per request (rate limits; 5xx and transport failures), then the extract fails. */
    maxRetries: z.number().int().min(0).max(20, { error: "retries must be between 0 and 20" }).default(5),
    /**
     * Seconds, from its first attempt, within which one request is retried after 5xx answers and
     * transport failures (rate-limit waits not counted); a refused connection or unknown host gives up
     * after 3 attempts over about 3 s whatever this says.
     */
    maxRetrySeconds: z
      .number({ error: MAX_RETRY_SECONDS_HELP })
      .int({ error: MAX_RETRY_SECONDS_HELP })
      .min(0, { error: MAX_RETRY_SECONDS_HELP })
      .max(3600, { error: MAX_RETRY_SECONDS_HELP })
      .default(DEFAULT_MAX_RETRY_SECONDS),
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
  .refine((c) => !c.until || !c.since || c.until >= c.since, { error: "--until must be on or after --since", path: ["until"] })
  // A window in the future would extract nothing and record a watermark of "now", so later runs would
  // silently skip the days in between: refuse it. Today (UTC) is allowed.
  .superRefine((c, ctx) => {
    const today = (c.now ?? new Date()).toISOString().slice(0, 10);
    for (const [key, flag] of [["since", "--since"], ["until", "--until"], ["initialSince", "--initial-since"]] as const) {
      const day = c[key];
      if (day && day > today) ctx.addIssue({ code: "custom", path: [key], message: `${flag} ${day} is in the future (today is ${today} UTC); give a day up to today` });
    }
  });

export type ExtractConfigInput = z.input<typeof extractConfigSchema>;
/** The App credentials, checked: a numeric ID and a parsed RSA private key (PEM). */
export interface AppCredentials {
  appId: number;
  privateKey: string;
}
export type ExtractConfig = Omit<z.output<typeof extractConfigSchema>, "appId" | "appPrivateKey" | "appPrivateKeyFile"> & {
  /** Set when the run authenticates as a GitHub App (then `token` is unset). */
  app: AppCredentials | undefined;
};

const KEY_HELP = "the contents of the .pem file GitHub generated for the App, starting with -----BEGIN RSA PRIVATE KEY-----";

/** PEM text as it arrives from a secret store: `\\n` escapes (one-line .env files) and CRLFs become newlines. */
function normalisePem(text: string): string {
  return text.replace(/\\n/g, "\n").replace(/\r\n?/g, "\n").trim();
}

function checkPem(field: string, pem: string): string | undefined {
  if (/^-----BEGIN [A-Z ]*PRIVATE KEY-----$/.test(pem)) {
    return `${field} holds only the first line of the key: multi-line values need quoting, or put the key in a file and give GITHUB_APP_PRIVATE_KEY_FILE`;
  }
  if (!/^-----BEGIN (?:RSA )?PRIVATE KEY-----\n[\s\S]+\n-----END (?:RSA )?PRIVATE KEY-----$/.test(pem)) {
    return `${field} is not a PEM private key: expected ${KEY_HELP}`;
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "rsa") return `${field} is a ${key.asymmetricKeyType ?? "non-RSA"} key; GitHub App keys are RSA (${KEY_HELP})`;
  } catch {
    // The parser's message may quote the key: never repeat it.
    return `${field} is not a readable PEM private key (corrupted, truncated or encrypted): expected ${KEY_HELP}`;
  }
  return undefined;
}

/**
 * Checks the GitHub credentials of a configuration and reads the App's key file. Errors name the field
 * and the environment variable, never the value of a secret.
 */
export function resolveGitHubAuth(input: { token?: string | undefined; appId?: string | number | undefined; appPrivateKey?: string | undefined; appPrivateKeyFile?: string | undefined }): {
  app: AppCredentials | undefined;
  issues: { field: string; message: string }[];
} {
  const issues: { field: string; message: string }[] = [];
  const rawId = typeof input.appId === "string" ? input.appId.trim() : input.appId;
  const hasId = rawId !== undefined && rawId !== "";
  const keyText = input.appPrivateKey !== undefined && input.appPrivateKey.trim() !== "" ? input.appPrivateKey : undefined;
  const keyFile = input.appPrivateKeyFile !== undefined && input.appPrivateKeyFile.trim() !== "" ? input.appPrivateKeyFile.trim() : undefined;
  if (!hasId && keyText === undefined && keyFile === undefined) return { app: undefined, issues };

  let appId: number | undefined;
  if (!hasId) {
    issues.push({ field: "appId", message: "GITHUB_APP_ID is required with GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE: the App's numeric ID from its settings page" });
  } else if (typeof rawId === "number" ? Number.isSafeInteger(rawId) && rawId > 0 : /^\d{1,15}$/.test(rawId) && Number(rawId) > 0) {
    appId = Number(rawId);
  } else {
    const shown = String(rawId).slice(0, 40);
    issues.push({
      field: "appId",
      message: `GITHUB_APP_ID must be the App's numeric ID (the "App ID" on the App's settings page, e.g. 123456), got ${JSON.stringify(shown)}${/^Iv\d/.test(shown) ? " (a Client ID: use the App ID)" : ""}`,
    });
  }

  let privateKey: string | undefined;
  if (keyText !== undefined && keyFile !== undefined) {
    issues.push({ field: "appPrivateKeyFile", message: "give the App's private key once: GITHUB_APP_PRIVATE_KEY (PEM text) or GITHUB_APP_PRIVATE_KEY_FILE (path of the .pem file), not both" });
  } else if (keyText !== undefined) {
    const pem = normalisePem(keyText);
    const problem = checkPem("GITHUB_APP_PRIVATE_KEY", pem);
    if (problem) issues.push({ field: "appPrivateKey", message: problem });
    else privateKey = pem;
  } else if (keyFile !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(keyFile, "utf8");
    } catch (error) {
      issues.push({ field: "appPrivateKeyFile", message: `GITHUB_APP_PRIVATE_KEY_FILE cannot be read: ${keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
    }
    if (text !== undefined) {
      const pem = normalisePem(text);
      const problem = checkPem(`GITHUB_APP_PRIVATE_KEY_FILE (${keyFile})`, pem);
      if (problem) issues.push({ field: "appPrivateKeyFile", message: problem });
      else privateKey = pem;
    }
  } else {
    issues.push({ field: "appPrivateKey", message: "GITHUB_APP_ID is set but the App's private key is not: give GITHUB_APP_PRIVATE_KEY (PEM text) or GITHUB_APP_PRIVATE_KEY_FILE (path of the .pem file)" });
  }

  if (input.token !== undefined && input.token !== "") {
    issues.push({
      field: "token",
      message: "both GITHUB_TOKEN and a GitHub App (GITHUB_APP_ID) are set: give one. With the App the extractor mints and refreshes its own installation tokens; unset GITHUB_TOKEN (or unset the GITHUB_APP_* variables to use the token)",
    });
  }
  return issues.length === 0 && appId !== undefined && privateKey !== undefined ? { app: { appId, privateKey }, issues } : { app: undefined, issues };
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly issues: { field: string; message: string }[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i.field}: ${i.message}`).join("\n")}`);
  }
}

export function parseExtractConfig(input: ExtractConfigInput): ExtractConfig {
  const result = extractConfigSchema.safeParse(input);
  const issues = result.success ? [] : result.error.issues.map((i) => ({ field: i.path.length ? i.path.join(".") : "config", message: i.message }));
  const auth = resolveGitHubAuth(input);
  issues.push(...auth.issues);
  if (!result.success || issues.length > 0) throw new ConfigError(issues);
  const { appId: _appId, appPrivateKey: _key, appPrivateKeyFile: _file, ...config } = result.data;
  return { ...config, app: auth.app };
}

/** The extract window as instants: since 00:00 UTC up to the end of --until (or now), capped at now. */
export function extractWindow(config: ExtractConfig, sinceDay: string | undefined = config.since): { since: Date; until: Date } {
  if (!sinceDay) throw new ConfigError([{ field: "since", message: "--since is required (YYYY-MM-DD, UTC)" }]);
  const now = config.now ?? new Date();
  const since = new Date(`${sinceDay}T00:00:00Z`);
  const endOfUntil = config.until ? new Date(Date.parse(`${config.until}T00:00:00Z`) + 86_400_000 - 1000) : now;
  return { since, until: endOfUntil < now ? endOfUntil : now };
}
