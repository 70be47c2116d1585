/**
 * Dataset (BigQuery) / schema (DuckDB) names. dataform.json is their single source: the models read the
 * same vars, so the loader and Dataform can never disagree on where raw data lives.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const projectConfig = z.object({
  defaultDatabase: z.string(),
  defaultSchema: z.string(),
  assertionSchema: z.string(),
  vars: z.object({ raw_dataset: z.string(), staging_dataset: z.string() }),
});

const dataformJson = fileURLToPath(new URL("../dataform.json", import.meta.url));
const config = projectConfig.parse(JSON.parse(readFileSync(dataformJson, "utf8")));

export const datasets = {
  raw: config.vars.raw_dataset,
  staging: config.vars.staging_dataset,
  models: config.defaultSchema,
  assertions: config.assertionSchema,
} as const;

export const defaultProject = config.defaultDatabase;
