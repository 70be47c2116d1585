/**
 * Certified functions: each documented case of check/certified-functions.ts on the ZetaSQL reference
 * evaluator and on DuckDB (through transform/translate.ts). Expected values come from the BigQuery docs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDuckDb, type Warehouse } from "../load/duckdb-connection.js";
import { certifiedFunctions } from "../check/certified-functions.js";
import { referenceRelation, translatedRelation } from "../check/relations.js";
import { plainEqual, type Relation } from "../check/values.js";
import { ZetaSql } from "../check/zetasql.js";

let engine: ZetaSql;
let duck: Warehouse;
beforeAll(async () => {
  engine = await ZetaSql.start();
  duck = await openDuckDb(":memory:");
});
afterAll(() => {
  engine?.stop();
  duck?.close();
});

function single(r: Relation): { value: unknown; type: string | undefined } {
  expect(r.rows).toHaveLength(1);
  return { value: r.rows[0]?.[0], type: r.columns[0]?.type };
}

describe.each(Object.entries(certifiedFunctions))("%s", (_name, fn) => {
  it.each(fn.cases.map((c) => [c.sql, c] as const))("%s", async (_sql, c) => {
    const reference = single(await referenceRelation(engine, c.sql));
    expect({ engine: "zetasql", ok: plainEqual(reference.value as never, c.expected), got: reference.value }).toMatchObject({ ok: true });
    expect(reference.type).toBe(c.type);
    const duckdb = single(await translatedRelation(duck.connection, c.sql));
    expect({ engine: "duckdb", ok: plainEqual(duckdb.value as never, c.expected), got: duckdb.value }).toMatchObject({ ok: true });
    expect(duckdb.type).toBe(c.type);
  });
});

it("certifies at least every function the models use today", () => {
  expect(Object.keys(certifiedFunctions).length).toBeGreaterThanOrEqual(40);
});
