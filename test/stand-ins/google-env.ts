/**
 * Starts the Cloud Storage and BigQuery stand-ins and points the real Google clients at them through
 * the same environment the production path reads, so no test-only code path exists in the project:
 * - STORAGE_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST (both honoured by the official clients);
 * - GOOGLE_APPLICATION_CREDENTIALS naming an `external_account` (Workload Identity Federation) file,
 *   the kind google-github-actions/auth writes, whose token exchange goes to the stand-in's STS endpoint.
 * So Application Default Credentials run for real, and every auth call stays on 127.0.0.1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBigQueryStandIn, type BigQueryStandIn, type BigQueryStandInOptions } from "./bigquery.js";
import { startGcsStandIn, type GcsStandIn, type GcsStandInOptions } from "./gcs.js";

export interface GoogleStandIns {
  gcs: GcsStandIn;
  bigquery: BigQueryStandIn;
  env: Record<string, string>;
  credentialsFile: string;
  /** The OIDC token the credentials file presents: a secret that must never reach logs. */
  subjectToken: string;
  close(): Promise<void>;
}

const KEYS = ["STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT"] as const;

export type GoogleStandInsOptions = Omit<BigQueryStandInOptions, "gcsUrl"> & {
  projectId?: string;
  /** Cloud Storage stand-in options: bucket locations, rule switches (see test/stand-ins/gcs.ts). */
  gcs?: GcsStandInOptions;
};

export async function startGoogleStandIns(options: GoogleStandInsOptions = {}): Promise<GoogleStandIns> {
  const projectId = options.projectId ?? "stand-in-project";
  const gcs = await startGcsStandIn(projectId, options.gcs);
  const bigquery = await startBigQueryStandIn({ ...options, gcsUrl: gcs.url });
  const dir = mkdtempSync(join(tmpdir(), "aw-google-"));
  const subjectToken = `oidc-subject-token-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, "oidc-token"), subjectToken);
  const credentialsFile = join(dir, "wif-credentials.json");
  writeFileSync(
    credentialsFile,
    JSON.stringify({
      type: "external_account",
      audience: "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/github/providers/actions",
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_url: bigquery.tokenUrl,
      credential_source: { file: join(dir, "oidc-token") },
    }),
  );
  const env: Record<string, string> = {
    STORAGE_EMULATOR_HOST: gcs.url,
    BIGQUERY_EMULATOR_HOST: bigquery.apiRoot,
    GOOGLE_APPLICATION_CREDENTIALS: credentialsFile,
    GOOGLE_CLOUD_PROJECT: projectId,
  };
  const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return {
    gcs,
    bigquery,
    env,
    credentialsFile,
    subjectToken,
    close: async () => {
      for (const k of KEYS) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      await bigquery.close();
      await gcs.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
