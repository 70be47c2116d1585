/**
 * Staging bucket and dataset locations: BigQuery loads only from a bucket in the dataset's region or
 * inside its multi-region (any location for the US multi-region). The pipeline checks before it spends
 * any API budget, with the real clients against the stand-ins (bucket locations configured there).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketLocationCompatible } from "../load/locations.js";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";
import { cliSession, type CliSession } from "./cli-session.js";

describe("bucket and dataset locations", () => {
  it.each([
    ["US", "US", true],
    ["US", "EUROPE-WEST1", true],
    ["US", "ASIA-NORTHEAST1", true],
    ["EU", "EU", true],
    ["EU", "EUROPE-WEST1", true],
    ["EU", "EUROPE-WEST2", false],
    ["EU", "EUR4", true],
    ["EU", "EUR5", false],
    ["EU", "US", false],
    ["europe-west1", "EUROPE-WEST1", true],
    ["europe-west1", "EU", false],
    ["asia-northeast1", "US", false],
  ])("a dataset in %s loads from a bucket in %s: %s", (dataset, bucket, ok) => {
    expect(bucketLocationCompatible(dataset, bucket)).toBe(ok);
  });

  describe("pipeline --warehouse bigquery", () => {
    let google: GoogleStandIns;
    let simulator: Simulator;
    let dir: string;
    let session: CliSession;
    const cli = (...args: string[]) => session.run(...args);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "aw-locations-"));
      simulator = await startSimulator({ dataset: generateDataset({ seed: "loc", days: 1, runsPerRepoPerDay: 1, busyDayRuns: 0, bigRunJobs: 4, bigPackageVersions: 4 }) });
      google = await startGoogleStandIns({ projectId: "loc-project", gcs: { bucketLocations: { "us-bucket": "US", "eu-bucket": "EUROPE-WEST1" } } });
      session = cliSession({ GITHUB_API_URL: simulator.url });
      expect(await cli("bootstrap", "--project", "loc-project", "--location", "EU")).toBe(0);
    });
    afterAll(async () => {
      session?.close();
      await google?.close();
      await simulator?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const pipeline = (bucket: string, location: string) =>
      cli("pipeline", "--warehouse", "bigquery", "--no-transform", "--project", "loc-project", "--location", location, "--bucket", bucket, "--repo", "acme/api", "--since", "2026-10-14", "--staging-dir", join(dir, bucket));

    it("stops before extracting when the bucket is outside the datasets' multi-region, naming both locations", async () => {
      simulator.resetStats();
      expect(await pipeline("us-bucket", "EU")).toBe(3);
      expect(session.stderr).toMatch(/bucket us-bucket is in US but the datasets are in EU/);
      expect(session.stderr).toContain("--bucket (GCS_BUCKET)");
      expect(simulator.stats().requests).toBe(0);
    });

    it("stops when --location is not where the datasets are, saying which location to give", async () => {
      session.clear();
      expect(await pipeline("eu-bucket", "US")).toBe(3);
      expect(session.stderr).toMatch(/is in EU, not US; give --location EU/);
      expect(simulator.stats().requests).toBe(0);
    });

    it("runs when the bucket is a region inside the datasets' multi-region", async () => {
      session.clear();
      expect(await pipeline("eu-bucket", "EU"), session.stderr.slice(-2000)).toBe(0);
      expect(simulator.stats().requests).toBeGreaterThan(0);
    });
  });
});
