/**
 * Settings and clients for the production warehouse (BigQuery, staged through Cloud Storage).
 *
 * Credentials are always Application Default Credentials: on GitHub Actions, google-github-actions/auth
 * (Workload Identity Federation) sets GOOGLE_APPLICATION_CREDENTIALS to a short-lived external-account
 * file; on a laptop, `gcloud auth application-default login`. No key file is ever read by this project.
 */
import { BigQuery } from "@google-cloud/bigquery";
import { Storage } from "@google-cloud/storage";
import { ConfigError } from "../extract/config.js";
import { datasets, defaultProject } from "./datasets.js";
import { checkStagingLocation } from "./locations.js";
import { gcsLocation, GcsStaging, type GcsLocation } from "./gcs-staging.js";

export interface BigQuerySettings {
  projectId: string;
  location: string;
  /** Absent for commands that never touch Cloud Storage (bootstrap, transform, looker-link). */
  staging?: GcsLocation;
}

export interface BigQuerySettingsInput {
  project?: string;
  location?: string;
  bucket?: string;
  prefix?: string;
}

const PROJECT_ID = /^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]$/;

/** Flags win over the environment; the project falls back to dataform.json's defaultDatabase. Errors name every bad setting. */
export function bigQuerySettings(input: BigQuerySettingsInput, env: NodeJS.ProcessEnv = process.env, needs: { bucket: boolean } = { bucket: true }): BigQuerySettings {
  const issues: { field: string; message: string }[] = [];
  const projectId = input.project ?? (env.GOOGLE_CLOUD_PROJECT?.trim() || defaultProject);
  if (!PROJECT_ID.test(projectId)) issues.push({ field: "--project (GOOGLE_CLOUD_PROJECT)", message: `"${projectId}" is not a Google Cloud project id` });
  const location = input.location ?? (env.BIGQUERY_LOCATION?.trim() || "US");
  if (!/^[A-Za-z]+(-[a-z]+[0-9]+)?$/.test(location)) issues.push({ field: "--location (BIGQUERY_LOCATION)", message: `"${location}" is not a BigQuery location (e.g. US, EU, europe-west1)` });
  let staging: GcsLocation | undefined;
  const bucket = input.bucket ?? env.GCS_BUCKET?.trim();
  try {
    if (bucket || needs.bucket) staging = gcsLocation(bucket, input.prefix ?? env.GCS_PREFIX?.trim() ?? "");
  } catch (error) {
    const e = error as { object?: string; message: string };
    issues.push({ field: e.object === "--prefix" ? "--prefix (GCS_PREFIX)" : "--bucket (GCS_BUCKET)", message: e.message.replace(/^--(bucket|prefix): /, "") });
  }
  if (issues.length) throw new ConfigError(issues);
  return { projectId, location, ...(staging ? { staging } : {}) };
}

export function createBigQuery(settings: BigQuerySettings): BigQuery {
  return new BigQuery({ projectId: settings.projectId, location: settings.location });
}

function stagingOf(settings: BigQuerySettings): GcsLocation {
  if (!settings.staging) throw new ConfigError([{ field: "--bucket (GCS_BUCKET)", message: "a Cloud Storage bucket is required to stage batches for BigQuery" }]);
  return settings.staging;
}

export function createGcsStaging(settings: BigQuerySettings): GcsStaging {
  return new GcsStaging(stagingOf(settings), new Storage({ projectId: settings.projectId }));
}

/** The staging bucket can feed the raw dataset (load/locations.ts); stops naming both locations if not. */
export async function checkStaging(settings: BigQuerySettings, bigquery: BigQuery): Promise<{ bucketLocation: string; datasetLocation: string }> {
  return checkStagingLocation(new Storage({ projectId: settings.projectId }), stagingOf(settings).bucket, bigquery, datasets.raw, settings.location);
}
