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

export const extractConfigSchema = z
  .object({
    repos: z.array(z.string().regex(REPO, { error: "--repo must be OWNER/NAME" })).default([]),
    orgs: z.array(z.string().regex(LOGIN, { error: "--org must be an organisation login" })).default([]),
    users: z.array(z.string().regex(LOGIN, { error: "--user must be a user login" })).default([]),
    since: utcDate("--since"),
    until: utcDate("--until").optional(),
    packageTypes: z.array(z.enum(PACKAGE_TYPES, { error: `--package-type must be one of ${PACKAGE_TYPES.join(", ")}` })).default([...PACKAGE_TYPES]),
    packages: z.boolean().default(true),
    apiUrl: z.url({ error: "GITHUB_API_URL must be an http(s) URL, e.g. https://api.github.com or https://ghes.example.com/api/v3" }).default("https://api.github.com"),
    token: z.string().optional(),
    concurrency: z.number().int().min(1, { error: "--concurrency must be between 1 and 50" }).max(50, { error: "--concurrency must be between 1 and 50" }).default(8),
    stagingDir: z.string().min(1),
    /** Requests slower than this are aborted and retried. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    /** Fixed "now" for reproducible windows in tests; defaults to the wall clock. */
    now: z.date().optional(),
  })
  .refine((c) => c.repos.length + c.orgs.length + c.users.length > 0, {
    error: "nothing to extract: give at least one --repo OWNER/NAME, --org ORG or --user USER",
    path: ["repos"],
  })
  .refine((c) => !c.until || c.until >= c.since, { error: "--until must be on or after --since", path: ["until"] });

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
export function extractWindow(config: ExtractConfig): { since: Date; until: Date } {
  const now = config.now ?? new Date();
  const since = new Date(`${config.since}T00:00:00Z`);
  const endOfUntil = config.until ? new Date(Date.parse(`${config.until}T00:00:00Z`) + 86_400_000 - 1000) : now;
  return { since, until: endOfUntil < now ? endOfUntil : now };
}
