/**
 * GitHub's official OpenAPI description (@octokit/openapi, dereferenced) as JSON Schema for ajv, shared
 * by the simulator's conformance tests: every body the simulator answers is checked against the
 * response schema of the same operation and status.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Ajv, type ValidateFunction } from "ajv";
import addFormatsImport from "ajv-formats";

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Obj = { [k: string]: Json };
export const isObj = (x: Json | undefined): x is Obj => typeof x === "object" && x !== null && !Array.isArray(x);

const NOISE = new Set(["example", "examples", "description", "nullable", "discriminator", "readOnly", "writeOnly"]);

/** OpenAPI 3.0 → JSON Schema: `nullable: true` becomes a null-allowing type (or anyOf), drop example noise. */
export function toJsonSchema(s: Json, seen = new Map<object, Json>()): Json {
  if (Array.isArray(s)) return s.map((x) => toJsonSchema(x, seen));
  if (!isObj(s)) return s;
  const cached = seen.get(s);
  if (cached !== undefined) return cached;
  const out: Obj = {};
  seen.set(s, out);
  for (const [k, v] of Object.entries(s)) {
    if (NOISE.has(k)) continue;
    out[k] = k === "properties" && isObj(v) ? Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, toJsonSchema(pv, seen)])) : toJsonSchema(v, seen);
  }
  if (s.nullable === true) {
    if (typeof out.type === "string") {
      out.type = [out.type, "null"];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    } else {
      const inner: Obj = { ...out };
      for (const k of Object.keys(out)) delete out[k];
      out.anyOf = [inner, { type: "null" }];
    }
  }
  return out;
}

/** The dereferenced description of api.github.com. */
export function gitHubSpec(): Obj {
  const require = createRequire(import.meta.url);
  return JSON.parse(readFileSync(require.resolve("@octokit/openapi/generated/api.github.com.deref.json"), "utf8")) as Obj;
}

/** ajv with formats (date-time, uri, ...) enforced. */
export function schemaValidatorFactory(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
  (addFormatsImport as unknown as (a: Ajv) => Ajv)(ajv);
  return ajv;
}

/** A validator for the JSON response of one operation and status, or an error naming what is missing. */
export function responseValidator(spec: Obj, ajv: Ajv, method: string, path: string, status: number): ValidateFunction {
  const paths = spec.paths;
  const op = isObj(paths) && isObj(paths[path]) ? (paths[path] as Obj)[method] : undefined;
  if (!isObj(op) || !isObj(op.responses)) throw new Error(`no ${method.toUpperCase()} ${path} in the OpenAPI description`);
  const resp = op.responses[String(status)];
  const content = isObj(resp) ? resp.content : undefined;
  const json = isObj(content) ? content["application/json"] : undefined;
  const schema = isObj(json) ? json.schema : undefined;
  if (!isObj(schema)) throw new Error(`${method.toUpperCase()} ${path} has no JSON schema for status ${status}`);
  return ajv.compile(toJsonSchema(schema) as Obj);
}
