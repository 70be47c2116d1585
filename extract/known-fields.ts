/**
 * Top-level fields GitHub documents for each object the extractor reads, from GitHub's OpenAPI
 * description (`@octokit/openapi`, a dev dependency: the list is generated into known-fields.json so the
 * extractor does not parse 13 MB at run time). test/bad-data.test.ts checks the file is current.
 *
 * An API object with other fields is kept whole (its `payload` holds everything): GitHub adds fields
 * without notice, and refusing such records would lose real data. The unknown names are counted in the
 * manifest so a schema update can be planned.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { RawTableName } from "../schemas/raw-tables.js";

/**
 * The OpenAPI component behind each raw table built from an API object (steps are items of `job.steps`).
 * Test cases and coverage reports are parsed from artifact files, not API objects: no component.
 */
export const OPENAPI_COMPONENTS: Partial<Record<RawTableName, string>> = {
  workflows: "workflow",
  workflow_runs: "workflow-run",
  workflow_jobs: "job",
  job_steps: "job.steps",
  packages: "package",
  package_versions: "package-version",
  workflow_artifacts: "artifact",
  deployments: "deployment",
  deployment_statuses: "deployment-status",
};

const file = fileURLToPath(new URL("./known-fields.json", import.meta.url));
export const KNOWN_FIELDS = JSON.parse(readFileSync(file, "utf8")) as Partial<Record<RawTableName, string[]>>;
const known = Object.fromEntries(Object.entries(KNOWN_FIELDS).map(([t, fs]) => [t, new Set(fs)])) as Partial<Record<RawTableName, Set<string>>>;

/** Fields of `object` GitHub does not document for `table`. */
export function unknownFields(table: RawTableName, object: unknown): string[] {
  if (object === null || typeof object !== "object" || Array.isArray(object)) return [];
  const names = known[table];
  if (!names) return [];
  return Object.keys(object).filter((k) => !names.has(k));
}

interface OpenApiSchema {
  properties?: Record<string, OpenApiSchema>;
  items?: OpenApiSchema;
}

/** Builds the list from an OpenAPI description (api.github.com.json). */
export function knownFieldsFrom(openapi: { components: { schemas: Record<string, OpenApiSchema> } }): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [table, component = ""] of Object.entries(OPENAPI_COMPONENTS)) {
    const [name = "", sub] = component.split(".");
    let schema = openapi.components.schemas[name];
    if (sub) schema = schema?.properties?.[sub]?.items;
    out[table] = Object.keys(schema?.properties ?? {}).sort();
  }
  return out;
}
