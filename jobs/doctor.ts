/**
 * `actions-warehouse doctor`: checks what a run needs before the cron finds out the hard way — the API
 * answers, the token is accepted and has the scopes the extract needs, rate limit is left, the staging
 * folder is writable and the warehouse file opens. Each check reports ok / warn / fail / skip with one
 * line of detail; any fail makes the command exit 1.
 *
 * Plain `fetch` rather than the extract's Octokit client: doctor must see raw statuses and headers
 * (`x-oauth-scopes`, 401 vs 403) without retries or throttling hiding them, and it makes three requests.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { datasets } from "../load/datasets.js";
import { redact, registerSecret } from "../log/logger.js";

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorOptions {
  apiUrl: string;
  token?: string;
  duckdbPath: string;
  stagingDir: string;
  /** The warehouse the pipeline targets; `bigquery` asks for the GCP checks. */
  warehouse?: string;
  /**
   * Google Cloud checks (BigQuery datasets and job permission, bucket access). The hook for the
   * BigQuery path: until it is given, doctor reports GCP as "not configured" instead of guessing.
   */
  gcp?: () => Promise<CheckResult[]>;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Scopes of a classic token, from GitHub's `x-oauth-scopes` header (absent for fine-grained and App tokens). */
export function scopeCheck(header: string | null): CheckResult {
  const check = "token scopes";
  if (header === null) {
    return { check, status: "ok", detail: "not reported (fine-grained or GitHub App token): it needs Actions: read, Metadata: read and, for package history, Packages: read" };
  }
  const scopes = new Set(header.split(",").map((s) => s.trim()).filter(Boolean));
  const missing: string[] = [];
  if (!scopes.has("repo") && !scopes.has("public_repo")) missing.push("repo (or public_repo for public repositories only)");
  if (!scopes.has("read:packages") && !scopes.has("write:packages")) missing.push("read:packages (package history; or run with --no-packages)");
  const list = scopes.size ? [...scopes].sort().join(", ") : "none";
  if (missing.length) return { check, status: scopes.has("repo") || scopes.has("public_repo") ? "warn" : "fail", detail: `has ${list}; missing ${missing.join("; ")}` };
  return { check, status: scopes.has("repo") ? "ok" : "warn", detail: scopes.has("repo") ? `has ${list}` : `has ${list}: private repositories are not visible` };
}

interface RateLimitBody {
  resources?: { core?: { limit?: number; remaining?: number; reset?: number } };
}

async function githubChecks(options: DoctorOptions): Promise<CheckResult[]> {
  const doFetch = options.fetch ?? fetch;
  const base = options.apiUrl.replace(/\/+$/, "");
  const headers: Record<string, string> = { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "actions-warehouse-doctor" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const get = (path: string) => doFetch(`${base}${path}`, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });

  let response: Response;
  try {
    response = await get("/rate_limit");
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    return [
      { check: "GitHub API reachable", status: "fail", detail: `${base}: ${why} (check GITHUB_API_URL, proxy and firewall)` },
      { check: "token", status: "skip", detail: "API not reachable" },
      { check: "rate limit", status: "skip", detail: "API not reachable" },
    ];
  }
  const results: CheckResult[] = [];
  if (response.status === 401) {
    return [
      { check: "GitHub API reachable", status: "ok", detail: `${base} answers` },
      { check: "token", status: "fail", detail: "rejected (401 Bad credentials): expired, revoked or mistyped GITHUB_TOKEN" },
      { check: "rate limit", status: "skip", detail: "token rejected" },
    ];
  }
  const body = (await response.json().catch(() => undefined)) as RateLimitBody | undefined;
  const core = body?.resources?.core;
  if (!response.ok || core?.remaining === undefined) {
    return [{ check: "GitHub API reachable", status: "fail", detail: `${base}/rate_limit answered ${response.status} without a rate limit: is this the REST API root (GHES: https://HOST/api/v3)?` }];
  }
  results.push({ check: "GitHub API reachable", status: "ok", detail: `${base} answers (API version ${response.headers.get("x-github-api-version-selected") ?? "2022-11-28"})` });

  if (!options.token) {
    results.push({ check: "token", status: "warn", detail: "GITHUB_TOKEN not set: unauthenticated, 60 requests/h and public data only" });
  } else {
    const user = await get("/user").catch(() => undefined);
    const login = user?.ok ? ((await user.json().catch(() => ({}))) as { login?: string }).login : undefined;
    results.push({
      check: "token",
      status: "ok",
      detail: login ? `accepted, authenticated as ${login}` : `accepted (${user?.status === 403 ? "an installation token: no user" : "no user identity"})`,
    });
    results.push(scopeCheck(response.headers.get("x-oauth-scopes")));
  }

  const limit = core.limit ?? 0;
  const remaining = core.remaining;
  const reset = core.reset ? new Date(core.reset * 1000).toISOString().replace(".000Z", "Z") : "?";
  const status: CheckStatus = remaining === 0 ? "fail" : remaining < limit * 0.1 ? "warn" : "ok";
  results.push({ check: "rate limit", status, detail: `${remaining} of ${limit} requests left until ${reset}` });
  return results;
}

function stagingCheck(dir: string): CheckResult {
  const check = "staging folder";
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.doctor-${process.pid}`);
    writeFileSync(probe, "ok");
    rmSync(probe);
    return { check, status: "ok", detail: `${dir} is writable` };
  } catch (error) {
    return { check, status: "fail", detail: `${dir}: ${(error as Error).message}` };
  }
}

async function warehouseCheck(path: string): Promise<CheckResult> {
  const check = "warehouse file";
  if (!existsSync(path)) return { check, status: "warn", detail: `${path} does not exist yet (the first load creates it)` };
  let instance: DuckDBInstance | undefined;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: "READ_ONLY" });
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(
        `SELECT table_schema AS s, COUNT(*) AS n FROM information_schema.tables WHERE table_schema IN ('${datasets.raw}', '${datasets.models}') GROUP BY 1`,
      );
      const counts = Object.fromEntries(reader.getRowObjectsJS().map((r) => [String(r.s), Number(r.n)]));
      let lastLoad = "never";
      if ((counts[datasets.raw] ?? 0) > 0) {
        const loads = await connection
          .runAndReadAll(`SELECT CAST(MAX(loaded_at) AS VARCHAR) AS t, COUNT(*) AS n FROM "${datasets.raw}"."_loads"`)
          .catch(() => undefined);
        const row = loads?.getRowObjectsJS()[0];
        if (row?.t) lastLoad = `${String(row.t)} (${String(row.n)} batches)`;
      }
      const models = counts[datasets.models] ?? 0;
      return {
        check,
        status: models > 0 ? "ok" : "warn",
        detail: `${path} opens; ${counts[datasets.raw] ?? 0} raw tables, ${models} models${models ? "" : " (run transform)"}; last load ${lastLoad}`,
      };
    } finally {
      connection.closeSync();
    }
  } catch (error) {
    return { check, status: "fail", detail: `${path}: ${(error as Error).message.split("\n")[0]}` };
  } finally {
    instance?.closeSync();
  }
}

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  registerSecret(options.token);
  const results = [...(await githubChecks(options)), stagingCheck(options.stagingDir)];
  if (options.warehouse === undefined || options.warehouse === "duckdb") results.push(await warehouseCheck(options.duckdbPath));
  if (options.gcp) results.push(...(await options.gcp()));
  else {
    results.push({
      check: "Google Cloud",
      status: "skip",
      detail: options.warehouse === "bigquery" ? "BigQuery and Cloud Storage permission checks are not wired into doctor yet (DoctorOptions.gcp)" : "not configured (DuckDB warehouse)",
    });
  }
  // The token never reaches the output, whatever an error message quoted.
  return results.map((r) => ({ ...r, detail: redact(r.detail) }));
}

export function doctorReport(results: CheckResult[]): string {
  const failed = results.filter((r) => r.status === "fail").length;
  const warned = results.filter((r) => r.status === "warn").length;
  const width = Math.max(...results.map((r) => r.check.length));
  const lines = results.map((r) => `${r.status.toUpperCase().padEnd(4)}  ${r.check.padEnd(width)}  ${r.detail}`);
  return `${lines.join("\n")}\n\n${failed ? `${failed} check(s) failed` : "all checks passed"}${warned ? `, ${warned} warning(s)` : ""}`;
}
