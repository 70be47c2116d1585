/**
 * `actions-warehouse doctor`: checks what a run needs before the cron finds out the hard way — the API
 * answers, the token is accepted and has the scopes the extract needs, rate limit is left, the staging
 * folder is writable and holds only this warehouse's extracts, and the DuckDB warehouse is usable: no
 * other run holds its lock, it opens read-write, every block reads back with a valid checksum, and its
 * raw and bookkeeping tables are all there (not half-built). Each check reports ok / warn / fail / skip
 * with one line of detail; any fail makes the command exit 1.
 *
 * Plain `fetch` rather than the extract's Octokit client: doctor must see raw statuses and headers
 * (`x-oauth-scopes`, 401 vs 403) without retries or throttling hiding them, and it makes three requests.
 *
 * With GitHub App credentials it checks instead that GitHub accepts the App's JWT, finds the App's
 * installation on each owner of the scope, mints an installation token for each and lists which
 * endpoints the extract needs that token can reach: repositories, workflows, runs list, jobs and
 * packages (never reachable for an App: the check names the credential that works).
 */
import { LocalStaging } from "../load/staging.js";
import { stagingTargetCheck, type Target } from "../load/targets.js";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { createAppAuth } from "@octokit/auth-app";
import { datasets } from "../load/datasets.js";
import { rawTableNames } from "../schemas/raw-tables.js";
import { acquireWarehouseLock, lockFileOf, readWarehouseLock, WarehouseInUseError, WarehouseLockedError, type WarehouseLock } from "../load/warehouse-lock.js";
import { redact, registerSecret } from "../log/logger.js";
import { registerPrivateKey } from "../extract/app-auth.js";
import { resolveGitHubAuth } from "../extract/config.js";

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
  /** The warehouse the staging folder must belong to (load/targets.ts); checked when given. */
  target?: Target;
  /**
   * Google Cloud checks (BigQuery datasets and job permission, bucket access). The hook for the
   * BigQuery path: until it is given, doctor reports GCP as "not configured" instead of guessing.
   */
  gcp?: () => Promise<CheckResult[]>;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** GitHub App credentials (GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_FILE), checked like the extract's. */
  app?: { appId?: string | number; privateKey?: string; privateKeyFile?: string };
  /** GITHUB_PACKAGES_TOKEN: with an App, the credential the packages endpoints need. */
  packagesToken?: string;
  /** The extract's scope: with an App, doctor checks the installation on each owner. */
  scope?: { repos?: string[]; orgs?: string[]; users?: string[] };
  /** --test-artifacts globs: doctor says whether test artifacts are read and whether the token can list them. */
  testArtifacts?: string[];
}

/**
 * Whether test reports are read from artifacts, and whether the credential can list a repository's
 * artifacts (the same permission as runs: Actions read; downloads then go to a signed URL without it).
 */
async function artifactsCheck(options: DoctorOptions): Promise<CheckResult> {
  const check = "test artifacts";
  const globs = options.testArtifacts ?? [];
  if (globs.length === 0) return { check, status: "skip", detail: "off: no --test-artifacts globs, no artifact is listed or downloaded" };
  const on = `on for ${globs.join(", ")}`;
  if (usesApp(options)) return { check, status: "ok", detail: `${on}; a GitHub App needs the Actions: read permission, checked with the installation above` };
  const repo = options.scope?.repos?.[0];
  if (!repo) return { check, status: "warn", detail: `${on}; give --repo OWNER/NAME to check that the token can list its artifacts` };
  const doFetch = options.fetch ?? fetch;
  const headers: Record<string, string> = { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "actions-warehouse-doctor" };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const url = `${options.apiUrl.replace(/\/+$/, "")}/repos/${repo}/actions/artifacts?per_page=1`;
  const response = await doFetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) }).catch(() => undefined);
  if (!response) return { check, status: "fail", detail: `${on}; GET /repos/${repo}/actions/artifacts got no answer` };
  if (response.ok) {
    const total = ((await response.json().catch(() => ({}))) as { total_count?: number }).total_count;
    return { check, status: "ok", detail: `${on}; the token can list the artifacts of ${repo} (${total ?? "?"} kept)` };
  }
  await response.body?.cancel();
  return {
    check,
    status: "fail",
    detail: `${on}; GET /repos/${repo}/actions/artifacts answered ${response.status}: the token needs Actions: read (fine-grained) or the repo scope (classic) on ${repo}, or drop --test-artifacts`,
  };
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

const PACKAGES_FOR_APPS =
  "GitHub Apps cannot use the packages API: set GITHUB_PACKAGES_TOKEN to a classic personal access token with read:packages, or run with --no-packages";

async function bodyOf(response: Response): Promise<Record<string, unknown>> {
  const body: unknown = await response.json().catch(() => ({}));
  return typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : { items: body };
}

/** GitHub App checks: JWT accepted, one installation per owner of the scope, endpoints its token reaches. */
async function appChecks(options: DoctorOptions): Promise<CheckResult[]> {
  const input = options.app ?? {};
  const resolved = resolveGitHubAuth({ token: options.token, appId: input.appId, appPrivateKey: input.privateKey, appPrivateKeyFile: input.privateKeyFile });
  if (!resolved.app) {
    return [{ check: "GitHub App", status: "fail", detail: resolved.issues.map((i) => `${i.field}: ${i.message}`).join("; ") }];
  }
  const app = resolved.app;
  registerPrivateKey(app.privateKey);
  registerSecret(options.packagesToken);
  const doFetch = options.fetch ?? fetch;
  const base = options.apiUrl.replace(/\/+$/, "");
  const call = (path: string, credential: string, method = "GET") =>
    doFetch(`${base}${path}`, {
      method,
      headers: { accept: "application/vnd.github+json", "x-github-api-version": "2022-11-28", "user-agent": "actions-warehouse-doctor", authorization: `Bearer ${credential}` },
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  // auth-app signs the JWT (no request is made for it).
  const jwt = (await createAppAuth({ appId: app.appId, privateKey: app.privateKey })({ type: "app" })).token;
  registerSecret(jwt);

  const results: CheckResult[] = [];
  let appResponse: Response;
  try {
    appResponse = await call("/app", jwt);
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return [
      { check: "GitHub API reachable", status: "fail", detail: `${base}: ${cause?.code ?? cause?.message ?? (error as Error).message} (check GITHUB_API_URL, proxy and firewall)` },
      { check: "App JWT", status: "skip", detail: "API not reachable" },
    ];
  }
  results.push({ check: "GitHub API reachable", status: "ok", detail: `${base} answers` });
  const appBody = await bodyOf(appResponse);
  if (appResponse.status !== 200) {
    results.push({
      check: "App JWT",
      status: "fail",
      detail: `rejected (${appResponse.status} ${String(appBody.message ?? "")}): GITHUB_APP_ID ${app.appId} and the private key must belong to the same App, and this machine's clock must be right`,
    });
    return results;
  }
  results.push({ check: "App JWT", status: "ok", detail: `accepted: App ${String(appBody.slug ?? appBody.name ?? "?")} (ID ${app.appId})` });

  const scope = { repos: options.scope?.repos ?? [], orgs: options.scope?.orgs ?? [], users: options.scope?.users ?? [] };
  const owners: { login: string; kind: "orgs" | "users" | "repo"; repo?: string }[] = [
    ...scope.orgs.map((login) => ({ login, kind: "orgs" as const })),
    ...scope.users.map((login) => ({ login, kind: "users" as const })),
  ];
  for (const repo of scope.repos) {
    const login = repo.split("/")[0] ?? repo;
    if (!owners.some((o) => o.login.toLowerCase() === login.toLowerCase())) owners.push({ login, kind: "repo", repo });
  }
  if (owners.length === 0) {
    results.push({ check: "App installations", status: "warn", detail: "no scope given: pass the extract's --repo, --org or --user to check the App's installation on each owner" });
    return results;
  }

  let rateToken: string | undefined;
  for (const owner of owners) {
    const lookup = owner.kind === "repo" ? `/repos/${owner.repo}/installation` : `/${owner.kind}/${owner.login}/installation`;
    const found = await call(lookup, jwt);
    const installation = await bodyOf(found);
    if (found.status !== 200 || typeof installation.id !== "number") {
      results.push({
        check: `installation on ${owner.login}`,
        status: "fail",
        detail: found.status === 404 ? `the App is not installed on ${owner.login} (GET ${lookup} answered 404): install it, or remove ${owner.login} from the scope` : `GET ${lookup} answered ${found.status} ${String(installation.message ?? "")}`,
      });
      continue;
    }
    const minted = await call(`/app/installations/${installation.id}/access_tokens`, jwt, "POST");
    const tokenBody = await bodyOf(minted);
    if (minted.status !== 201 || typeof tokenBody.token !== "string") {
      results.push({ check: `installation on ${owner.login}`, status: "fail", detail: `installation ${installation.id} found, but minting a token answered ${minted.status} ${String(tokenBody.message ?? "")}` });
      continue;
    }
    const token = tokenBody.token;
    registerSecret(token);
    rateToken ??= token;
    results.push({
      check: `installation on ${owner.login}`,
      status: "ok",
      detail: `installation ${installation.id} (${String(installation.repository_selection ?? "?")} repositories); token minted, expires ${String(tokenBody.expires_at ?? "?")}`,
    });
    results.push(await endpointCheck(owner, token, call, options.packagesToken));
  }

  if (rateToken) {
    const limit = await call("/rate_limit", rateToken).catch(() => undefined);
    const core = limit?.ok ? ((await limit.json().catch(() => undefined)) as RateLimitBody | undefined)?.resources?.core : undefined;
    if (core?.remaining !== undefined) {
      const reset = core.reset ? new Date(core.reset * 1000).toISOString().replace(".000Z", "Z") : "?";
      results.push({ check: "rate limit", status: core.remaining === 0 ? "fail" : core.remaining < (core.limit ?? 0) * 0.1 ? "warn" : "ok", detail: `${core.remaining} of ${core.limit ?? "?"} requests left until ${reset} (per installation)` });
    }
  }
  return results;
}

/** Which endpoints of the extract an installation token reaches, on one owner. */
async function endpointCheck(
  owner: { login: string; kind: "orgs" | "users" | "repo"; repo?: string },
  token: string,
  call: (path: string, credential: string) => Promise<Response>,
  packagesToken: string | undefined,
): Promise<CheckResult> {
  const reachable: string[] = [];
  const unreachable: string[] = [];
  const probe = async (name: string, path: string, credential = token): Promise<Record<string, unknown> | undefined> => {
    const response = await call(path, credential).catch((error: unknown) => error as Error);
    if (response instanceof Error) {
      unreachable.push(`${name} (${response.message})`);
      return undefined;
    }
    const body = await bodyOf(response);
    if (response.ok) {
      reachable.push(name);
      return body;
    }
    unreachable.push(`${name} (${response.status} ${String(body.message ?? "")})`);
    return undefined;
  };
  let repo = owner.repo;
  if (!repo) {
    const listed = await probe("repositories", `/${owner.kind}/${owner.login}/repos?per_page=1`);
    const first = Array.isArray(listed?.items) ? (listed.items[0] as { full_name?: string } | undefined) : undefined;
    repo = first?.full_name;
  }
  if (repo) {
    await probe("workflows", `/repos/${repo}/actions/workflows?per_page=1`);
    const runs = await probe("runs list", `/repos/${repo}/actions/runs?per_page=1`);
    const run = Array.isArray(runs?.workflow_runs) ? (runs.workflow_runs[0] as { id?: number } | undefined) : undefined;
    if (run?.id !== undefined) await probe("jobs", `/repos/${repo}/actions/runs/${run.id}/jobs?per_page=1`);
    else unreachable.push("jobs (not checked: no runs listed)");
  }
  const actionsFailed = unreachable.length > 0 || !repo;
  let packages = "";
  let packagesOk = true;
  if (owner.kind !== "repo") {
    const path = `/${owner.kind}/${owner.login}/packages?package_type=container&per_page=1`;
    const withApp = await call(path, token).catch(() => undefined);
    const appAnswer = withApp ? `${withApp.status} ${String((await bodyOf(withApp)).message ?? "")}`.trim() : "no answer";
    if (withApp?.ok) {
      reachable.push("packages");
    } else if (packagesToken) {
      const withPat = await call(path, packagesToken).catch(() => undefined);
      packagesOk = withPat?.ok === true;
      packages = packagesOk
        ? `; packages: not with the App (${appAnswer}), reachable with GITHUB_PACKAGES_TOKEN`
        : `; packages: not with the App (${appAnswer}), nor with GITHUB_PACKAGES_TOKEN (${withPat ? withPat.status : "no answer"}): it must be a classic personal access token with read:packages`;
    } else {
      packagesOk = false;
      packages = `; packages: unreachable (${appAnswer}): ${PACKAGES_FOR_APPS}`;
    }
  }
  const where = repo ? ` (${repo})` : "";
  return {
    check: `endpoints for ${owner.login}`,
    status: actionsFailed ? "fail" : packagesOk ? "ok" : "warn",
    detail: `installation token reaches: ${reachable.length ? reachable.join(", ") : "nothing"}${where}${unreachable.length ? `; does not reach: ${unreachable.join(", ")}` : ""}${!repo ? "; no repository to check" : ""}${packages}`,
  };
}

/** The staging folder holds no extract of another warehouse (a `load` would refuse them). */
async function stagingOwnerCheck(dir: string, target: Target): Promise<CheckResult> {
  const check = "staging belongs to this warehouse";
  try {
    return { check, ...stagingTargetCheck(await new LocalStaging(dir).listManifests(), target) };
  } catch (error) {
    return { check, status: "fail", detail: `${(error as Error).message}: fix or remove the manifest` };
  }
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

/** Bookkeeping tables every load keeps beside the raw tables (load/duckdb-load.ts ensureBookkeeping). */
const BOOKKEEPING_TABLES = ["_loads", "_quarantine", "_extracts", "_http_cache"];

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";

/** What an error opening or reading the warehouse means for the user, or undefined for any other error. */
function explainWarehouseError(path: string, error: unknown): { check: string; detail: string } | undefined {
  const message = firstLine(error);
  if (/Could not set lock on file/.test(message)) return { check: "warehouse lock", detail: new WarehouseInUseError(path, message).message };
  if (/Permission denied|Read-only file system|read-only/i.test(message)) {
    return {
      check: "warehouse file",
      detail: `${path} cannot be opened for writing (${message}): pipeline, load and transform write to it. Give this user write access to the file and its folder (e.g. chmod u+w ${path}), or point --duckdb-path at a writable copy.`,
    };
  }
  if (/Corrupt database file|not a valid DuckDB database file|Could not read enough bytes|checksum|corrupt/i.test(message)) {
    return {
      check: "warehouse integrity",
      detail: `${path} is corrupt (${message}). Restore it from a backup, or move it aside and rebuild it with \`pipeline --since YYYY-MM-DD\` (raw history is extracted again from GitHub).`,
    };
  }
  return undefined;
}

/**
 * The DuckDB warehouse as `pipeline` will meet it: no other run holds its lock, it opens read-write,
 * every block of every table reads back with a valid checksum, and the raw and bookkeeping tables a load
 * keeps are all there (or none yet). The file is opened read-write, holding the warehouse's lock for the
 * few seconds of the check, exactly as a run would.
 */
async function warehouseChecks(path: string): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const lock = readWarehouseLock(path);
  if (lock && !lock.stale) {
    results.push({ check: "warehouse lock", status: "fail", detail: new WarehouseLockedError(path, lock.lockFile, lock.holder).message });
    results.push({ check: "warehouse file", status: "skip", detail: `${path} is in use: not opened` });
    return results;
  }
  if (lock?.stale && lock.holder) {
    const h = lock.holder;
    results.push({ check: "warehouse lock", status: "warn", detail: `stale lock ${lock.lockFile} left by ${h.command} (PID ${h.pid} on ${h.host}, started ${h.started}; ${lock.stale}): the next run takes it over` });
  } else {
    results.push({ check: "warehouse lock", status: "ok", detail: `no run holds ${lockFileOf(path)}` });
  }
  if (!existsSync(path)) {
    results.push({ check: "warehouse file", status: "warn", detail: `${path} does not exist yet (the first load creates it)` });
    return results;
  }
  let held: WarehouseLock;
  try {
    held = acquireWarehouseLock(path, "doctor");
  } catch (error) {
    if (error instanceof WarehouseLockedError) results.push({ check: "warehouse lock", status: "fail", detail: error.message });
    else results.push({ check: "warehouse file", status: "fail", detail: `${firstLine(error)}: DuckDB writes ${path}.wal and the lock beside the file` });
    return results;
  }
  let instance: DuckDBInstance | undefined;
  try {
    try {
      instance = await DuckDBInstance.create(path);
    } catch (error) {
      // Opening reads the catalog: a corrupt file usually fails here already.
      const explained = explainWarehouseError(path, error);
      results.push({ check: explained?.check === "warehouse lock" ? "warehouse lock" : "warehouse file", status: "fail", detail: explained?.detail ?? `${path}: ${firstLine(error)}` });
      return results;
    }
    const connection = await instance.connect();
    try {
      const tables = (await connection.runAndReadAll("SELECT schema_name AS s, table_name AS t FROM duckdb_tables() ORDER BY 1, 2")).getRowObjectsJS().map((r) => ({ schema: String(r.s), name: String(r.t) }));
      const views = (await connection.runAndReadAll(`SELECT COUNT(*) AS n FROM duckdb_views() WHERE schema_name = '${datasets.models}'`)).getRowObjectsJS()[0];
      const raw = new Set(tables.filter((t) => t.schema === datasets.raw).map((t) => t.name));
      const models = tables.filter((t) => t.schema === datasets.models).length + Number(views?.n ?? 0);
      let lastLoad = "never";
      if (raw.has("_loads")) {
        const row = (await connection.runAndReadAll(`SELECT CAST(MAX(loaded_at) AS VARCHAR) AS t, COUNT(*) AS n FROM "${datasets.raw}"."_loads"`)).getRowObjectsJS()[0];
        if (row?.t) lastLoad = `${String(row.t)} (${String(row.n)} batches)`;
      }
      const rawCount = rawTableNames.filter((t) => raw.has(t)).length;
      results.push({
        check: "warehouse file",
        status: models > 0 ? "ok" : "warn",
        detail: `${path} opens read-write; ${rawCount} raw tables, ${models} models${models ? "" : " (run transform)"}; last load ${lastLoad}`,
      });

      // Integrity: DuckDB verifies a block's checksum when it reads it, so read every column of every table.
      let size = "";
      try {
        const db = (await connection.runAndReadAll("PRAGMA database_size")).getRowObjectsJS()[0];
        size = String(db?.database_size ?? "");
        for (const t of tables) {
          await connection.runAndReadAll(`SELECT COUNT(*), bit_xor(hash(x)) FROM "${t.schema.replaceAll('"', '""')}"."${t.name.replaceAll('"', '""')}" AS x`);
        }
        await connection.run("CHECKPOINT");
        results.push({ check: "warehouse integrity", status: "ok", detail: `${tables.length} tables read in full (${size}), every block's checksum verified; checkpoint written` });
      } catch (error) {
        const explained = explainWarehouseError(path, error);
        results.push({ check: explained?.check ?? "warehouse integrity", status: "fail", detail: explained?.detail ?? `${path}: ${firstLine(error)}` });
      }

      // Half-built: some of the tables a load creates are there, others are not.
      const expected = [...rawTableNames, ...BOOKKEEPING_TABLES];
      const missing = expected.filter((t) => !raw.has(t));
      if (missing.length === 0) {
        results.push({ check: "raw tables", status: "ok", detail: `all ${rawTableNames.length} raw tables and ${BOOKKEEPING_TABLES.join(", ")} are there` });
      } else if (missing.length === expected.length) {
        results.push({ check: "raw tables", status: "warn", detail: `none yet: run \`pipeline\` (or \`extract\` then \`load\`) with --duckdb-path ${path} before \`transform\`` });
      } else {
        results.push({
          check: "raw tables",
          status: "fail",
          detail: `${path} is half-built: ${datasets.raw} lacks ${missing.join(", ")}. Run \`load --duckdb-path ${path}\` (it creates the missing tables, then loads what is staged) or \`pipeline\`, then \`transform\`.`,
        });
      }
    } finally {
      connection.closeSync();
    }
  } finally {
    instance?.closeSync();
    held.release();
  }
  return results;
}

const usesApp = (options: DoctorOptions): boolean => [options.app?.appId, options.app?.privateKey, options.app?.privateKeyFile].some((v) => v !== undefined && v !== "");

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  registerSecret(options.token);
  const github = usesApp(options) ? await appChecks(options) : await githubChecks(options);
  const results = [...github, await artifactsCheck(options), stagingCheck(options.stagingDir)];
  if (options.target) results.push(await stagingOwnerCheck(options.stagingDir, options.target));
  if (options.warehouse === undefined || options.warehouse === "duckdb") results.push(...(await warehouseChecks(options.duckdbPath)));
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
