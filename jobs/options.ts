/** Defaults and environment shared by every command. */
import { join } from "node:path";

export const defaults = {
  warehouseDir: ".warehouse",
  duckdbPath: join(".warehouse", "warehouse.duckdb"),
  apiUrl: "https://api.github.com",
  concurrency: 8,
} as const;

export const WAREHOUSES = ["duckdb", "bigquery"] as const;
export type WarehouseKind = (typeof WAREHOUSES)[number];

/** GitHub settings come from the environment only, so tokens never sit in shell history or cron files. */
export function githubEnv(env: NodeJS.ProcessEnv = process.env): { apiUrl: string; token: string | undefined } {
  return {
    apiUrl: env.GITHUB_API_URL?.trim() || defaults.apiUrl,
    token: env.GITHUB_TOKEN?.trim() || undefined,
  };
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
