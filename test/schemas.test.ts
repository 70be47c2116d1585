import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bigQuerySchemaDir, renderBigQuerySchema } from "../schemas/bigquery-schema.js";
import { columnsOf, rawTableNames, rawTables } from "../schemas/raw-tables.js";

describe("raw table schemas", () => {
  it.each(rawTableNames)("schemas/bigquery/%s.json matches the zod source (run `npm run schemas:generate`)", (table) => {
    const file = join(bigQuerySchemaDir, `${table}.json`);
    expect(existsSync(file), `${file} is missing`).toBe(true);
    expect(readFileSync(file, "utf8")).toBe(renderBigQuerySchema(table));
  });

  it.each(rawTableNames)("%s declares its key, lineage and payload columns", (table) => {
    const names = columnsOf(table).map((c) => c.name);
    for (const key of rawTables[table].key) expect(names).toContain(key);
    expect(names).toEqual(expect.arrayContaining(["payload", "_batch_id", "_extracted_at"]));
    for (const c of columnsOf(table)) expect(c.description.length, `${table}.${c.name}`).toBeGreaterThan(5);
  });

  it("maps zod types to BigQuery and DuckDB types consistently", () => {
    const byName = Object.fromEntries(columnsOf("workflow_jobs").map((c) => [c.name, c]));
    expect(byName.job_id).toMatchObject({ duckdbType: "BIGINT", bigquery: { type: "INT64", mode: "REQUIRED" } });
    expect(byName.started_at).toMatchObject({ duckdbType: "TIMESTAMPTZ", bigquery: { type: "TIMESTAMP", mode: "NULLABLE" } });
    expect(byName.labels).toMatchObject({ duckdbType: "VARCHAR[]", bigquery: { type: "STRING", mode: "REPEATED" } });
    expect(byName.payload).toMatchObject({ duckdbType: "JSON", bigquery: { type: "JSON" } });
  });

  it("rejects a record with a wrong type, naming the field", () => {
    const result = rawTables.workflow_runs.schema.safeParse({ run_id: "12" });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join("."))).toContain("run_id");
  });
});
