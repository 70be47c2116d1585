/**
 * `doctor --warehouse bigquery`: the Google Cloud checks against the Cloud Storage and BigQuery stand-ins,
 * through the real clients and Application Default Credentials (a Workload Identity Federation file).
 * A good setup passes every check; a bucket BigQuery cannot load from, a missing dataset and a missing
 * permission each fail with the one line that says what to do.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../jobs/cli.js";
import { gcpChecks } from "../jobs/doctor-gcp.js";
import type { CheckResult } from "../jobs/doctor.js";
import { datasets } from "../load/datasets.js";
import { generateDataset, startSimulator, type Simulator } from "../simulator/index.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";

const PROJECT = "acme-analytics";
const BUCKET = "acme-actions-staging";
const GITHUB_TOKEN = "ghp_doctorGcpToken0123456789abcdef";
const byCheck = (results: CheckResult[]) => Object.fromEntries(results.map((r) => [r.check, r]));
const cli = (...args: string[]) => main(["node", "actions-warehouse", ...args]);

/** Captures what the command line prints (stdout) and logs (stderr) while `fn` runs. */
async function captured(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    out += `${parts.join(" ")}\n`;
  });
  const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    return { code: await fn(), out, err };
  } finally {
    log.mockRestore();
    write.mockRestore();
  }
}

describe("doctor --warehouse bigquery, datasets in US", () => {
  let dir: string;
  let google: GoogleStandIns;
  let simulator: Simulator;
  const saved = { ...process.env };
  const flags = { project: PROJECT, location: "US", bucket: BUCKET };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-doctor-gcp-"));
    const dataset = generateDataset({ seed: 3, anchor: "2026-10-15T12:00:00Z", days: 1, runsPerRepoPerDay: 1, busyDayRuns: 0, bigRunJobs: 2, bigPackageVersions: 1 });
    simulator = await startSimulator({ dataset, token: GITHUB_TOKEN, rateLimit: 1000 });
    google = await startGoogleStandIns({ projectId: PROJECT, gcs: { bucketLocations: { [BUCKET]: "US" } } });
    process.env.GITHUB_API_URL = simulator.url;
    process.env.GITHUB_TOKEN = GITHUB_TOKEN;
    const boot = await captured(() => cli("bootstrap", "--project", PROJECT, "--location", "US"));
    expect(boot.code, boot.err).toBe(0);
  }, 120_000);

  afterAll(async () => {
    process.env = saved;
    await google?.close();
    await simulator?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("passes every check on a good setup, through the command line", async () => {
    const run = await captured(() => cli("doctor", "--warehouse", "bigquery", "--project", PROJECT, "--location", "US", "--bucket", BUCKET, "--staging-dir", join(dir, "staging")));
    expect(run.code, run.out + run.err).toBe(0);
    for (const line of [
      /^OK\s+Google credentials\s+Workload Identity Federation \(external_account from GOOGLE_APPLICATION_CREDENTIALS=.*pool github, provider actions\); an access token was obtained$/m,
      /^OK\s+BigQuery project\s+acme-analytics answers/m,
      new RegExp(`^OK\\s+dataset ${datasets.raw}\\s+acme-analytics:${datasets.raw} in US$`, "m"),
      new RegExp(`^OK\\s+dataset ${datasets.staging}\\s`, "m"),
      new RegExp(`^OK\\s+dataset ${datasets.models}\\s`, "m"),
      new RegExp(`^OK\\s+dataset ${datasets.assertions}\\s`, "m"),
      /^OK\s+staging bucket\s+gs:\/\/acme-actions-staging in US: BigQuery in US can load from it$/m,
      /^OK\s+bucket permissions\s+storage\.objects\.create, storage\.objects\.get, storage\.objects\.list, storage\.objects\.delete on gs:\/\/acme-actions-staging$/m,
      /^OK\s+raw table permissions\s+bigquery\.tables\.getData, bigquery\.tables\.updateData on all \d+ tables of github_raw$/m,
      /^OK\s+BigQuery jobs\s+bigquery\.jobs\.create allowed in acme-analytics/m,
    ]) {
      expect(run.out).toMatch(line);
    }
    expect(run.out).not.toMatch(/^FAIL/m);
    // Tokens never printed: not the identity token the credentials file presents, not the access token.
    for (const secret of [google.subjectToken, "stand-in-access-token", GITHUB_TOKEN]) {
      expect(run.out).not.toContain(secret);
      expect(run.err).not.toContain(secret);
    }
    // Permissions were asked, not guessed: testIamPermissions on the bucket and each raw table, a dry-run job.
    expect(google.bigquery.requests.some((r) => /\/tables\/workflow_runs:testIamPermissions$/.test(r.path) && r.status === 200)).toBe(true);
    expect(google.gcs.requests.some((r) => r.path.endsWith(`/b/${BUCKET}/iam/testPermissions`) && r.status === 200)).toBe(true);
    expect(google.bigquery.queries.at(-1)).toEqual({ sql: "SELECT 1", dryRun: true });
  });

  it("a missing dataset fails and says to run bootstrap", async () => {
    const id = datasets.assertions;
    const kept = google.bigquery.datasets.get(id);
    google.bigquery.datasets.delete(id);
    try {
      const r = byCheck(await gcpChecks({ flags }));
      expect(r[`dataset ${id}`]).toEqual({
        check: `dataset ${id}`,
        status: "fail",
        detail: `${PROJECT}:${id} does not exist: run \`actions-warehouse bootstrap --project ${PROJECT} --location US\``,
      });
      expect(r[`dataset ${datasets.raw}`]?.status).toBe("ok");
    } finally {
      if (kept) google.bigquery.datasets.set(id, kept);
    }
  });

  it("datasets in another location than --location fail naming both", async () => {
    const r = byCheck(await gcpChecks({ flags: { ...flags, location: "EU" } }));
    expect(r[`dataset ${datasets.raw}`]?.status).toBe("fail");
    expect(r[`dataset ${datasets.raw}`]?.detail).toMatch(/github_raw is in US, but --location is EU: run with --location US/);
  });

  it("each missing permission fails, naming it and the role that grants it", async () => {
    google.gcs.deniedPermissions.add("storage.objects.delete");
    google.bigquery.deniedPermissions.add("bigquery.tables.updateData");
    google.bigquery.deniedPermissions.add("bigquery.jobs.create");
    try {
      const r = byCheck(await gcpChecks({ flags }));
      expect(r["bucket permissions"]?.status).toBe("fail");
      expect(r["bucket permissions"]?.detail).toBe(`missing storage.objects.delete on gs://${BUCKET}: grant this identity Storage Object Admin (roles/storage.objectAdmin) on the bucket`);
      expect(r["raw table permissions"]?.status).toBe("fail");
      expect(r["raw table permissions"]?.detail).toMatch(/^missing bigquery\.tables\.updateData on all \d+ tables in acme-analytics:github_raw: grant this identity BigQuery Data Editor \(roles\/bigquery\.dataEditor\) on the dataset$/);
      expect(r["raw table permissions"]?.detail).not.toContain("getData");
      expect(r["BigQuery jobs"]?.status).toBe("fail");
      expect(r["BigQuery jobs"]?.detail).toMatch(/^missing bigquery\.jobs\.create in acme-analytics: grant this identity BigQuery Job User \(roles\/bigquery\.jobUser\)/);
      expect(r["Google credentials"]?.status).toBe("ok");
    } finally {
      google.gcs.deniedPermissions.clear();
      google.bigquery.deniedPermissions.clear();
    }
    // The command exits 1 when a check fails.
    google.bigquery.deniedPermissions.add("bigquery.tables.getData");
    try {
      const run = await captured(() => cli("doctor", "--warehouse", "bigquery", "--project", PROJECT, "--bucket", BUCKET, "--staging-dir", join(dir, "staging")));
      expect(run.code).toBe(1);
      expect(run.out).toMatch(/^FAIL\s+raw table permissions\s+missing bigquery\.tables\.getData on all \d+ tables in /m);
    } finally {
      google.bigquery.deniedPermissions.clear();
    }
  });

  it("credentials that cannot give a token fail, and the checks that need them are skipped", async () => {
    const file = process.env.GOOGLE_APPLICATION_CREDENTIALS;
    process.env.GOOGLE_APPLICATION_CREDENTIALS = join(dir, "missing-credentials.json");
    try {
      const results = await gcpChecks({ flags });
      const r = byCheck(results);
      expect(r["Google credentials"]?.status).toBe("fail");
      expect(r["Google credentials"]?.detail).toMatch(/Application Default Credentials not usable \(GOOGLE_APPLICATION_CREDENTIALS=.*missing-credentials\.json\).*gcloud auth application-default login/);
      expect(results.filter((x) => x.check !== "Google credentials").every((x) => x.status === "skip")).toBe(true);
    } finally {
      process.env.GOOGLE_APPLICATION_CREDENTIALS = file;
    }
  });

  it("no bucket is a failure that names the flag", async () => {
    const r = byCheck(await gcpChecks({ flags: { project: PROJECT, location: "US" }, env: {} }));
    expect(r["staging bucket"]).toMatchObject({ status: "fail", detail: expect.stringMatching(/--bucket \(GCS_BUCKET\)/) as unknown as string });
  });
});

describe("doctor --warehouse bigquery, datasets in EU", () => {
  let google: GoogleStandIns;
  const saved = { ...process.env };

  beforeAll(async () => {
    google = await startGoogleStandIns({ projectId: PROJECT, gcs: { bucketLocations: { [BUCKET]: "US", "acme-eu-staging": "EUROPE-WEST1", "acme-london-staging": "EUROPE-WEST2" } } });
    const boot = await captured(() => cli("bootstrap", "--project", PROJECT, "--location", "EU"));
    expect(boot.code, boot.err).toBe(0);
  }, 120_000);

  afterAll(async () => {
    process.env = saved;
    await google?.close();
  });

  it("a bucket in another location fails naming both locations", async () => {
    const r = byCheck(await gcpChecks({ flags: { project: PROJECT, location: "EU", bucket: BUCKET } }));
    expect(r[`dataset ${datasets.raw}`]?.status).toBe("ok");
    expect(r["staging bucket"]?.status).toBe("fail");
    expect(r["staging bucket"]?.detail).toMatch(new RegExp(`gs://${BUCKET} is in US but the datasets are in EU`));
    const london = byCheck(await gcpChecks({ flags: { project: PROJECT, location: "EU", bucket: "acme-london-staging" } }));
    expect(london["staging bucket"]?.detail).toMatch(/is in EUROPE-WEST2 but the datasets are in EU/);
  });

  it("a bucket in a region inside the EU multi-region passes", async () => {
    const r = byCheck(await gcpChecks({ flags: { project: PROJECT, location: "EU", bucket: "acme-eu-staging" } }));
    expect(r["staging bucket"]).toMatchObject({ status: "ok", detail: "gs://acme-eu-staging in EUROPE-WEST1: BigQuery in EU can load from it" });
  });
});
