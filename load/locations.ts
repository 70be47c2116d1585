/**
 * Where staging may live relative to the datasets. BigQuery's rule for loads from Cloud Storage
 * (https://cloud.google.com/bigquery/docs/batch-loading-data#data-locations, and each format's
 * "Limitations", e.g. https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-json):
 * - a dataset in the US multi-region loads from a bucket in any location;
 * - any other dataset needs the bucket in the same region, or contained in the same multi-region
 *   (an EU dataset loads from EU or from a region inside the EU, such as europe-west1).
 * A load that breaks it fails only when the job runs, after the extract has spent its API budget, so
 * the pipeline checks before extracting, and doctor reports it.
 */
import type { BigQuery } from "@google-cloud/bigquery";
import type { Storage } from "@google-cloud/storage";
import { ConfigError } from "../extract/config.js";

/**
 * Regions inside the EU multi-region (Cloud Storage and BigQuery: data centres in EU member states).
 * https://cloud.google.com/storage/docs/locations#location-mr, https://cloud.google.com/bigquery/docs/locations#multi-regions
 * London (europe-west2) and Zurich (europe-west6) are in Europe but not in the EU.
 */
const NOT_IN_EU = new Set(["EUROPE-WEST2", "EUROPE-WEST6"]);
/**
 * Predefined dual-regions and the multi-region that contains them
 * (https://cloud.google.com/storage/docs/locations#location-dr): ASIA1 (Tokyo, Osaka), EUR4 (Finland,
 * Netherlands), NAM4 (Iowa, South Carolina). EUR5 includes London and EUR7/EUR8 Zurich, outside the EU.
 */
const DUAL_REGIONS: Record<string, string> = { ASIA1: "ASIA", EUR4: "EU", NAM4: "US" };
const inMultiRegion = (location: string, multi: string): boolean => {
  if (DUAL_REGIONS[location] === multi) return true;
  if (multi === "EU") return location.startsWith("EUROPE-") && !NOT_IN_EU.has(location);
  if (multi === "US") return location.startsWith("US-");
  if (multi === "ASIA") return location.startsWith("ASIA-");
  return false;
};

export function bucketLocationCompatible(datasetLocation: string, bucketLocation: string): boolean {
  const dataset = datasetLocation.toUpperCase();
  const bucket = bucketLocation.toUpperCase();
  if (dataset === "US") return true;
  if (dataset === bucket) return true;
  return inMultiRegion(bucket, dataset);
}

export function locationMismatch(datasetLocation: string, bucket: string, bucketLocation: string): string {
  return (
    `bucket ${bucket} is in ${bucketLocation.toUpperCase()} but the datasets are in ${datasetLocation}: BigQuery loads only from a bucket in the dataset's region or inside its multi-region (any location for the US multi-region). ` +
    `Use a bucket in ${datasetLocation} (--bucket), or datasets in the bucket's location (--location)`
  );
}

/** Stops before any work when the staging bucket cannot feed the datasets; names both locations. */
export async function checkStagingLocation(storage: Storage, bucket: string, bigquery: BigQuery, datasetId: string, location: string): Promise<{ bucketLocation: string; datasetLocation: string }> {
  const [bucketMeta] = await storage.bucket(bucket).getMetadata();
  const bucketLocation = String(bucketMeta.location ?? "US");
  let datasetLocation = location;
  try {
    const [meta] = (await bigquery.dataset(datasetId).getMetadata()) as [{ location?: string }, unknown];
    datasetLocation = meta.location ?? location;
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
  }
  if (datasetLocation.toUpperCase() !== location.toUpperCase()) {
    throw new ConfigError([{ field: "--location (BIGQUERY_LOCATION)", message: `dataset ${datasetId} is in ${datasetLocation}, not ${location}; give --location ${datasetLocation}` }]);
  }
  if (!bucketLocationCompatible(datasetLocation, bucketLocation)) throw new ConfigError([{ field: "--bucket (GCS_BUCKET)", message: locationMismatch(datasetLocation, bucket, bucketLocation) }]);
  return { bucketLocation, datasetLocation };
}
