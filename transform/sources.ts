/**
 * The Dataform source declarations (definitions/sources/*.sqlx) are generated from the zod raw table
 * schemas, the single source of truth, so every raw column is described and never drifts.
 * Regenerate with `npx tsx transform/sources.ts`; test/dataform-compile.test.ts checks they are current.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { columnsOf, rawTableNames, rawTables, type RawTableName } from "../schemas/raw-tables.js";

function js(value: string): string {
  return JSON.stringify(value);
}

export function sourceDeclaration(table: RawTableName): string {
  const cols = columnsOf(table)
    .map((c) => `    ${c.name}: ${js(c.description)},`)
    .join("\n");
  return `-- Generated from schemas/raw-tables.ts by transform/sources.ts: do not edit by hand.
config {
  type: "declaration",
  schema: dataform.projectConfig.vars.raw_dataset,
  name: ${js(table)},
  description: ${js(`${rawTables[table].description} Append-only; key ${rawTables[table].key.join(", ")} may repeat across batches.`)},
  columns: {
${cols}
  },
}
`;
}

export function sourceFiles(): Record<string, string> {
  return Object.fromEntries(rawTableNames.map((t) => [`definitions/sources/${t}.sqlx`, sourceDeclaration(t)]));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL("..", import.meta.url));
  for (const [path, text] of Object.entries(sourceFiles())) writeFileSync(`${root}${path}`, text);
}
