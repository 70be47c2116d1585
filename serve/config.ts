/**
 * `serve` configuration: flags and the environment, checked with zod. Every error names the flag or the
 * environment variable, and `serve` refuses to start without a webhook secret (an unsigned endpoint would
 * let anyone write into the warehouse).
 */
import { z } from "zod";
import { ConfigError } from "../extract/config.js";
import { defaultStagingDir } from "../load/targets.js";

export interface ServeFlags {
  port?: string | number;
  duckdbPath: string;
  stagingDir?: string;
  flushSeconds?: string | number;
  transformSeconds?: string | number;
  metricsPrefix?: string;
  host?: string;
  refreshSeconds?: string | number;
}

export interface ServeConfig {
  port: number;
  host: string;
  /** Every accepted secret, newest first: signatures are checked against each in turn (rotation). */
  webhookSecrets: string[];
  /** Bearer token of `POST /api/ci-events`; the endpoint is off (404) without it. */
  ingestToken?: string | undefined;
  /** Bearer token of `GET /metrics`; open without it. */
  metricsToken?: string | undefined;
  duckdbPath: string;
  stagingDir: string;
  flushSeconds: number;
  transformSeconds: number;
  metricsPrefix: string;
  /** How often the status wall (`GET /`) refreshes itself from the /api endpoints. */
  refreshSeconds: number;
}

const wholeNumber = (min: number, max: number) =>
  z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const s = String(v).trim();
      if (!/^\d+$/.test(s)) {
        ctx.addIssue({ code: "custom", message: `must be a whole number, got ${JSON.stringify(String(v))}` });
        return z.NEVER;
      }
      return Number(s);
    })
    .pipe(z.number().int().min(min).max(max));

const schema = z.object({
  port: wholeNumber(0, 65535),
  host: z.string().min(1),
  webhookSecrets: z
    .array(z.string())
    .min(1, "is required: a comma-separated list of webhook secrets (serve refuses to accept unsigned deliveries)"),
  ingestToken: z.string().min(1).optional(),
  metricsToken: z.string().min(1).optional(),
  duckdbPath: z.string().min(1),
  stagingDir: z.string().min(1),
  flushSeconds: wholeNumber(1, 3600),
  transformSeconds: wholeNumber(1, 86_400),
  refreshSeconds: wholeNumber(1, 3600),
  metricsPrefix: z.string().regex(/^([a-zA-Z_][a-zA-Z0-9_]*)?$/, "must be a Prometheus name prefix ([a-zA-Z_][a-zA-Z0-9_]*)"),
});

/** Field names as the operator types them. */
const fieldNames: Record<string, string> = {
  port: "--port / PORT",
  host: "--host",
  webhookSecrets: "GITHUB_WEBHOOK_SECRET",
  ingestToken: "INGEST_TOKEN",
  metricsToken: "METRICS_TOKEN",
  duckdbPath: "--duckdb-path",
  stagingDir: "--staging-dir",
  flushSeconds: "--flush-seconds",
  transformSeconds: "--transform-seconds",
  refreshSeconds: "--refresh-seconds",
  metricsPrefix: "--metrics-prefix",
};

const blankToUndefined = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());

export function parseServeConfig(flags: ServeFlags, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const secrets = (env.GITHUB_WEBHOOK_SECRET ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const input = {
    port: flags.port ?? blankToUndefined(env.PORT) ?? 8080,
    host: flags.host ?? "0.0.0.0",
    webhookSecrets: secrets,
    ingestToken: blankToUndefined(env.INGEST_TOKEN),
    metricsToken: blankToUndefined(env.METRICS_TOKEN),
    duckdbPath: flags.duckdbPath,
    stagingDir: flags.stagingDir ?? defaultStagingDir({ kind: "duckdb", path: flags.duckdbPath }),
    flushSeconds: flags.flushSeconds ?? 5,
    transformSeconds: flags.transformSeconds ?? 60,
    refreshSeconds: flags.refreshSeconds ?? 15,
    metricsPrefix: flags.metricsPrefix ?? "github_actions_",
  };
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const key = String(i.path[0] ?? "config");
        return { field: fieldNames[key] ?? key, message: i.message };
      }),
    );
  }
  return parsed.data;
}
