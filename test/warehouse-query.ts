/** Reads a DuckDB warehouse file in a test: opens it, runs `sql`, closes it (the rows as JS values). */
import { openDuckDb } from "../load/duckdb-connection.js";

export async function queryWarehouse(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const w = await openDuckDb(path);
  try {
    return (await w.connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    w.close();
  }
}
