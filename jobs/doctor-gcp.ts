/**
 * `doctor --warehouse bigquery`: the Google Cloud half of doctor (the `gcp` hook of jobs/doctor.ts).
 * Each check is ok / warn / fail / skip with one line saying what to do:
 * - Application Default Credentials found and usable, and which kind (Workload Identity Federation
 *   `external_account`, user credentials, impersonation, the metadata server); tokens are never printed;
 * - the project answers; each dataset (raw, staging, models, assertions) exists in --location;
 * - the staging bucket exists and a BigQuery load can read it from the datasets' location (the rule of
 *   load/locations.ts, which the pipeline also enforces before extracting);
 * - permissions, asked with testIamPermissions rather than guessed from roles: the bucket's
 *   storage.objects.create/get/list/delete, each raw table's bigquery.tables.getData/updateData, and
 *   bigquery.jobs.create with a dry-run query (free).
 * Everything goes through the official clients, so BIGQUERY_EMULATOR_HOST, STORAGE_EMULATOR_HOST and
 * GOOGLE_APPLICATION_CREDENTIALS apply exactly as they do for load and transform.
 */
import type { BigQuery } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { ConfigError } from "../extract/config.js";
import { bigQuerySettings, createBigQuery, type BigQuerySettings } from "../load/bigquery-client.js";
import { rawTableSpecs } from "../load/bigquery-tables.js";
import { datasets } from "../load/datasets.js";
import { bucketLocationCompatible, locationMismatch } from "../load/locations.js";
import { stateTableSpecs } from "../load/state-tables.js";
import { registerSecret } from "../log/logger.js";
import type { BigQueryFlags } from "./bigquery-commands.js";
import type { CheckResult } from "./doctor.js";

export const BUCKET_PERMISSIONS = ["storage.objects.create", "storage.objects.get", "storage.objects.list", "storage.objects.delete"] as const;
export const TABLE_PERMISSIONS = ["bigquery.tables.getData", "bigquery.tables.updateData"] as const;

export interface GcpCheckOptions {
  /** --project, --location, --bucket, --prefix (each falls back to its environment variable). */
  flags: BigQueryFlags;
  env?: NodeJS.ProcessEnv;
  /** Clients to use (default: the project's, with Application Default Credentials). */
  bigquery?: BigQuery;
  storage?: Storage;
}

// ---------------------------------------------------------------------------------------------------

interface ApiFailure {
  code?: number;
  message: string;
}

function failure(error: unknown): ApiFailure {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === "number" ? e.code : typeof e.code === "string" && /^\d+$/.test(e.code) ? Number(e.code) : undefined;
  const message = (typeof e.message === "string" ? e.message : String(error)).split("\n")[0] ?? "";
  return code === undefined ? { message } : { code, message };
}

const ok = (check: string, detail: string): CheckResult => ({ check, status: "ok", detail });
const warn = (check: string, detail: string): CheckResult => ({ check, status: "warn", detail });
const fail = (check: string, detail: string): CheckResult => ({ check, status: "fail", detail });
const skip = (check: string, detail: string): CheckResult => ({ check, status: "skip", detail });

interface CredentialFile {
  type?: string;
  audience?: string;
  service_account_impersonation_url?: string;
  credential_source?: { file?: string; url?: string; executable?: unknown; environment_id?: string };
}

/** The kind of Application Default Credentials in words; never anything secret. */
function credentialKind(json: CredentialFile | null, fromEnv: string | undefined): { kind: string; status: "ok" | "warn"; hint?: string } {
  const where = fromEnv ? `GOOGLE_APPLICATION_CREDENTIALS=${fromEnv}` : "gcloud's application_default_credentials.json";
  if (!json) return { kind: "the metadata server (the attached service account of this VM, Cloud Run or GKE workload)", status: "ok" };
  const impersonates = /serviceAccounts\/([^/:]+)/.exec(json.service_account_impersonation_url ?? "")?.[1];
  switch (json.type) {
    case "external_account": {
      const source = json.credential_source?.url ? "an OIDC token URL" : json.credential_source?.file ? "an OIDC token file" : json.credential_source?.executable ? "an executable" : json.credential_source?.environment_id ? "AWS" : "a subject token";
      const pool = /workloadIdentityPools\/([^/]+)\/providers\/([^/]+)/.exec(json.audience ?? "");
      return {
        kind: `Workload Identity Federation (external_account from ${where}; ${source}${pool ? `, pool ${pool[1]}, provider ${pool[2]}` : ""}${impersonates ? `, impersonating ${impersonates}` : ""})`,
        status: "ok",
      };
    }
    case "authorized_user":
      return { kind: `user credentials (authorized_user from ${where}: gcloud auth application-default login)`, status: "ok" };
    case "external_account_authorized_user":
      return { kind: `workforce identity federation user (from ${where})`, status: "ok" };
    case "impersonated_service_account":
      return { kind: `an impersonated service account (from ${where}${impersonates ? `: ${impersonates}` : ""})`, status: "ok" };
    case "service_account":
      return {
        kind: `a service-account key (from ${where})`,
        status: "warn",
        hint: "this project is meant to run without keys: use Workload Identity Federation (google-github-actions/auth) or gcloud auth application-default login, and delete the key",
      };
    default:
      return { kind: `credentials of type ${json.type ?? "unknown"} (from ${where})`, status: "ok" };
  }
}

async function credentialsCheck(bigquery: BigQuery, env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const check = "Google credentials";
  const auth = bigquery.authClient;
  const fromEnv = env.GOOGLE_APPLICATION_CREDENTIALS?.trim() || undefined;
  try {
    const token = await auth.getAccessToken();
    if (!token) return fail(check, "Application Default Credentials gave no access token: run `gcloud auth application-default login`, or google-github-actions/auth on GitHub Actions");
    // Not printed anywhere; registered so no error message quoting it could leak it either.
    registerSecret(token);
  } catch (error) {
    const f = failure(error);
    return fail(
      check,
      `Application Default Credentials not usable${fromEnv ? ` (GOOGLE_APPLICATION_CREDENTIALS=${fromEnv})` : ""}: ${f.message}. On GitHub Actions run google-github-actions/auth first; locally run \`gcloud auth application-default login\``,
    );
  }
  const kind = credentialKind(auth.jsonContent as CredentialFile | null, fromEnv);
  const detail = `${kind.kind}; an access token was obtained`;
  return kind.status === "warn" ? warn(check, `${detail}; ${kind.hint ?? ""}`) : ok(check, detail);
}

async function projectCheck(bigquery: BigQuery, settings: BigQuerySettings): Promise<CheckResult> {
  const check = "BigQuery project";
  try {
    await bigquery.getDatasets({ maxResults: 1, autoPaginate: false });
    return ok(check, `${settings.projectId} answers (BigQuery API enabled)`);
  } catch (error) {
    const f = failure(error);
    if (f.code === 404) return fail(check, `project ${settings.projectId} not found: check --project (GOOGLE_CLOUD_PROJECT)`);
    if (f.code === 403) return fail(check, `${settings.projectId}: ${f.message} (enable the BigQuery API, or grant this identity BigQuery access on the project)`);
    return fail(check, `${settings.projectId}: ${f.message}`);
  }
}

async function datasetChecks(bigquery: BigQuery, settings: BigQuerySettings): Promise<{ results: CheckResult[]; rawExists: boolean }> {
  const bootstrap = `actions-warehouse bootstrap --project ${settings.projectId} --location ${settings.location}`;
  const results: CheckResult[] = [];
  let rawExists = false;
  for (const id of [datasets.raw, datasets.staging, datasets.models, datasets.assertions]) {
    const check = `dataset ${id}`;
    try {
      const [meta] = (await bigquery.dataset(id).getMetadata()) as [{ location?: string }, unknown];
      const location = meta.location ?? "?";
      if (location.toLowerCase() !== settings.location.toLowerCase()) {
        results.push(fail(check, `${settings.projectId}:${id} is in ${location}, but --location is ${settings.location}: run with --location ${location} (BIGQUERY_LOCATION), or recreate the dataset in ${settings.location}`));
      } else {
        results.push(ok(check, `${settings.projectId}:${id} in ${location}`));
      }
      if (id === datasets.raw) rawExists = true;
    } catch (error) {
      const f = failure(error);
      results.push(f.code === 404 ? fail(check, `${settings.projectId}:${id} does not exist: run \`${bootstrap}\``) : fail(check, `${settings.projectId}:${id}: ${f.message}`));
    }
  }
  return { results, rawExists };
}

async function bucketChecks(storage: Storage, settings: BigQuerySettings): Promise<CheckResult[]> {
  const check = "staging bucket";
  const permCheck = "bucket permissions";
  if (!settings.staging) {
    return [fail(check, "no bucket: set --bucket (GCS_BUCKET); load and pipeline stage batches in Cloud Storage"), skip(permCheck, "no bucket")];
  }
  const name = settings.staging.bucket;
  const bucket = storage.bucket(name);
  const results: CheckResult[] = [];
  try {
    const [meta] = await bucket.getMetadata();
    const location = String(meta.location ?? "?").toUpperCase();
    // The rule the pipeline enforces before extracting (load/locations.ts), so doctor and pipeline agree.
    if (bucketLocationCompatible(settings.location, location)) results.push(ok(check, `gs://${name} in ${location}: BigQuery in ${settings.location} can load from it`));
    else results.push(fail(check, locationMismatch(settings.location, `gs://${name}`, location)));
  } catch (error) {
    const f = failure(error);
    if (f.code === 404) return [fail(check, `gs://${name} does not exist: create it in ${settings.location} (gcloud storage buckets create gs://${name} --location=${settings.location})`), skip(permCheck, "no bucket")];
    results.push(fail(check, `gs://${name}: ${f.message}`));
  }
  try {
    const [granted] = await bucket.iam.testPermissions([...BUCKET_PERMISSIONS]);
    const missing = BUCKET_PERMISSIONS.filter((p) => granted[p] !== true);
    results.push(
      missing.length
        ? fail(permCheck, `missing ${missing.join(", ")} on gs://${name}: grant this identity Storage Object Admin (roles/storage.objectAdmin) on the bucket`)
        : ok(permCheck, `${BUCKET_PERMISSIONS.join(", ")} on gs://${name}`),
    );
  } catch (error) {
    results.push(fail(permCheck, `gs://${name}: cannot test permissions: ${failure(error).message}`));
  }
  return results;
}

async function tableChecks(bigquery: BigQuery, settings: BigQuerySettings): Promise<CheckResult> {
  const check = "raw table permissions";
  const tables = [...rawTableSpecs(), ...stateTableSpecs()].map((s) => s.table);
  const missingTables: string[] = [];
  const lacking = new Map<string, string[]>(TABLE_PERMISSIONS.map((p) => [p, []]));
  const errors: string[] = [];
  for (const table of tables) {
    try {
      const [response] = await bigquery.dataset(datasets.raw).table(table).testIamPermissions([...TABLE_PERMISSIONS]);
      const granted = new Set(response.permissions ?? []);
      for (const p of TABLE_PERMISSIONS) if (!granted.has(p)) lacking.get(p)?.push(table);
    } catch (error) {
      const f = failure(error);
      if (f.code === 404) missingTables.push(table);
      else errors.push(`${table}: ${f.message}`);
    }
  }
  if (missingTables.length) return fail(check, `${datasets.raw}: tables ${missingTables.join(", ")} do not exist: run \`actions-warehouse bootstrap --project ${settings.projectId} --location ${settings.location}\``);
  const missing = [...lacking.entries()].filter(([, on]) => on.length).map(([p, on]) => `${p} on ${on.length === tables.length ? `all ${on.length} tables` : on.join(", ")}`);
  if (missing.length) return fail(check, `missing ${missing.join("; ")} in ${settings.projectId}:${datasets.raw}: grant this identity BigQuery Data Editor (roles/bigquery.dataEditor) on the dataset`);
  if (errors.length) return fail(check, `cannot test permissions: ${errors.join("; ")}`);
  return ok(check, `${TABLE_PERMISSIONS.join(", ")} on all ${tables.length} tables of ${datasets.raw}`);
}

async function jobCheck(bigquery: BigQuery, settings: BigQuerySettings): Promise<CheckResult> {
  const check = "BigQuery jobs";
  try {
    await bigquery.createQueryJob({ query: "SELECT 1", useLegacySql: false, dryRun: true, location: settings.location, jobPrefix: "aw_doctor_" });
    return ok(check, `bigquery.jobs.create allowed in ${settings.projectId} (${settings.location}; a dry-run query, nothing billed)`);
  } catch (error) {
    const f = failure(error);
    if (f.code === 403) return fail(check, `missing bigquery.jobs.create in ${settings.projectId}: grant this identity BigQuery Job User (roles/bigquery.jobUser) on the project (${f.message})`);
    return fail(check, `a dry-run query failed in ${settings.projectId} (${settings.location}): ${f.message}`);
  }
}

export async function gcpChecks(options: GcpCheckOptions): Promise<CheckResult[]> {
  const env = options.env ?? process.env;
  const { flags } = options;
  let settings: BigQuerySettings;
  try {
    settings = bigQuerySettings(
      {
        ...(flags.project ? { project: flags.project } : {}),
        ...(flags.location ? { location: flags.location } : {}),
        ...(flags.bucket ? { bucket: flags.bucket } : {}),
        ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
      },
      env,
      { bucket: false },
    );
  } catch (error) {
    if (error instanceof ConfigError) return [fail("Google Cloud settings", error.message.replace(/\s*\n\s*/g, "; "))];
    throw error;
  }
  const bigquery = options.bigquery ?? createBigQuery(settings);
  const storage = options.storage ?? new Storage({ projectId: settings.projectId });

  const credentials = await credentialsCheck(bigquery, env);
  if (credentials.status === "fail") {
    return [credentials, ...["BigQuery project", "datasets", "staging bucket", "permissions"].map((c) => skip(c, "no usable Google credentials"))];
  }
  const project = await projectCheck(bigquery, settings);
  const { results: datasetResults, rawExists } = await datasetChecks(bigquery, settings);
  const bucket = await bucketChecks(storage, settings);
  const tables = rawExists ? await tableChecks(bigquery, settings) : skip("raw table permissions", `dataset ${datasets.raw} does not exist yet`);
  const jobs = await jobCheck(bigquery, settings);
  return [credentials, project, ...datasetResults, ...bucket, tables, jobs];
}
