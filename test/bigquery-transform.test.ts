/**
 * `transform --warehouse bigquery`: the exact `dataform run` command line and credentials file, and the
 * real Dataform CLI running a dry run against the BigQuery stand-in with Application Default Credentials.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../log/logger.js";
import { projectRoot } from "../transform/compile.js";
import { dataformCli, dataformRunArgs, DataformRunError, runDataformOnBigQuery, writeDataformCredentials } from "../transform/dataform-bigquery.js";
import { reportingViews } from "../jobs/looker-link.js";
import { startGoogleStandIns, type GoogleStandIns } from "./stand-ins/google-env.js";

const PROJECT = "acme-analytics";

describe("dataform run on BigQuery", () => {
  let dir: string;
  let google: GoogleStandIns;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-df-"));
    google = await startGoogleStandIns({ projectId: PROJECT });
  });
  afterAll(async () => {
    await google?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("builds the exact command line: project folder, credentials, project, location, vars, tags, full refresh", () => {
    const args = dataformRunArgs({ projectId: PROJECT, location: "EU", vars: { kpi_reference_time: "2026-10-15T12:00:00Z", raw_dataset: "gh_raw" }, tags: ["staging", "reporting"], fullRefresh: true }, "/tmp/creds.json");
    expect(args).toEqual([
      dataformCli(),
      "run",
      projectRoot,
      "--credentials=/tmp/creds.json",
      `--default-database=${PROJECT}`,
      "--default-location=EU",
      "--vars=kpi_reference_time=2026-10-15T12:00:00Z,raw_dataset=gh_raw",
      "--tags=staging,reporting",
      "--full-refresh",
    ]);
    expect(dataformRunArgs({ projectId: PROJECT, location: "US" }, "/c.json")).toEqual([dataformCli(), "run", projectRoot, "--credentials=/c.json", `--default-database=${PROJECT}`, "--default-location=US"]);
  });

  it("refuses a var the CLI would cut at a comma or equals sign, naming it", () => {
    expect(() => dataformRunArgs({ projectId: PROJECT, location: "US", vars: { repos: "a,b" } }, "/c.json")).toThrow(DataformRunError);
    expect(() => dataformRunArgs({ projectId: PROJECT, location: "US", vars: { repos: "a,b" } }, "/c.json")).toThrow(/--var repos/);
  });

  it("writes a credentials file with no key in it (so the CLI uses ADC), readable by the owner only", () => {
    const path = writeDataformCredentials({ projectId: PROJECT, location: "US", workDir: dir });
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ projectId: PROJECT, location: "US" });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    rmSync(path);
  });

  it("the real CLI dry-runs every reporting view on BigQuery with ADC, our vars and tags, and leaves no credentials behind", async () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l: string) => lines.push(l), json: true });
    const result = await runDataformOnBigQuery({ projectId: PROJECT, location: "US", tags: ["reporting"], vars: { kpi_reference_time: "2026-10-15T12:00:00Z" }, dryRun: true, workDir: dir }, log);
    expect(result.exitCode).toBe(0);

    const views = google.bigquery.queries.filter((q) => q.dryRun).map((q) => /create or replace (?:view|table) `([^`]+)`/.exec(q.sql)?.[1]).sort();
    expect(views.filter((v) => v?.startsWith(`${PROJECT}.actions_warehouse.`))).toEqual(reportingViews().map((v) => `${PROJECT}.actions_warehouse.${v}`));
    // The assertions beside a reporting model (uniqueKey, and nonNull with rowConditions as one check) carry
    // its tag and run with it; nothing upstream does.
    const asserted = reportingViews().filter((v) => /\bassertions:\s*\{[^}]*uniqueKey/s.test(readFileSync(join(projectRoot, "definitions", "reporting", `${v}.sqlx`), "utf8")));
    expect(asserted).toContain("rpt_alerts");
    expect(views.filter((v) => !v?.startsWith(`${PROJECT}.actions_warehouse.`))).toEqual(
      asserted.flatMap((v) => [`${PROJECT}.actions_assertions.actions_warehouse_${v}_assertions_rowConditions`, `${PROJECT}.actions_assertions.actions_warehouse_${v}_assertions_uniqueKey_0`]).sort(),
    );
    const kpi = google.bigquery.queries.find((q) => q.sql.includes("rpt_kpi_summary"));
    expect(kpi?.sql).toContain("2026-10-15T12:00:00Z");
    // It authenticated through the external-account file (STS on the stand-in); nothing was rejected.
    expect(google.bigquery.issuedTokens).toBeGreaterThan(0);
    expect(google.bigquery.requests.filter((r) => r.status === 401)).toEqual([]);

    expect(readdirSync(dir).filter((f) => f.startsWith("df-credentials"))).toEqual([]);
    expect(existsSync(join(projectRoot, ".df-credentials.json"))).toBe(false);
    const logged = lines.join("\n");
    expect(logged).toContain("Table dry run success");
    expect(logged).not.toContain(google.subjectToken);
    expect(logged).not.toContain("stand-in-access-token");
  });
});
