/** `actions-warehouse generate-docs`: rewrites the generated reference pages under docs/. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../transform/compile.js";
import { configurationMarkdown } from "./configuration.js";
import { generateDataDictionary } from "./data-dictionary.js";

export const generatedDocs = {
  configuration: join(projectRoot, "docs", "configuration.md"),
  dataDictionary: join(projectRoot, "docs", "data-dictionary.md"),
} as const;

export async function writeGeneratedDocs(): Promise<string[]> {
  writeFileSync(generatedDocs.configuration, configurationMarkdown());
  writeFileSync(generatedDocs.dataDictionary, await generateDataDictionary());
  return [generatedDocs.configuration, generatedDocs.dataDictionary];
}
