/**
 * The BigQuery v2 REST resource schemas as JSON Schema, for the stand-in to check request bodies with.
 *
 * Source: `@google-cloud/bigquery/build/src/types.d.ts`, which Google generates with `discovery-tsd` from the
 * official BigQuery v2 discovery document (its header names the discovery revision). It ships with the
 * client we already depend on, so the check works offline and moves with the client version instead of a
 * vendored copy of the 570 kB discovery JSON going stale. Every property, nested type and enum of the
 * discovery schemas is there; `additionalProperties: false` makes a misspelt or invented field fail.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import ts from "typescript";

export type JsonSchema = Record<string, unknown>;

const require = createRequire(import.meta.url);

export function bigQueryTypesPath(): string {
  return require.resolve("@google-cloud/bigquery/build/src/types.d.ts");
}

function typeToSchema(node: ts.TypeNode, names: Set<string>): JsonSchema {
  if (ts.isParenthesizedTypeNode(node)) return typeToSchema(node.type, names);
  switch (node.kind) {
    case ts.SyntaxKind.StringKeyword:
      return { type: "string" };
    case ts.SyntaxKind.NumberKeyword:
      return { type: "number" };
    case ts.SyntaxKind.BooleanKeyword:
      return { type: "boolean" };
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword:
      return {};
  }
  if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) return { type: "string", enum: [node.literal.text] };
  if (ts.isUnionTypeNode(node)) {
    const parts = node.types.map((t) => typeToSchema(t, names));
    if (parts.every((p) => Array.isArray(p.enum))) return { type: "string", enum: parts.flatMap((p) => p.enum as string[]) };
    return { anyOf: parts };
  }
  if (ts.isArrayTypeNode(node)) return { type: "array", items: typeToSchema(node.elementType, names) };
  if (ts.isTypeReferenceNode(node)) {
    const name = node.typeName.getText();
    if (name === "Array" && node.typeArguments?.[0]) return { type: "array", items: typeToSchema(node.typeArguments[0], names) };
    if (names.has(name)) return { $ref: `#/definitions/${name}` };
    throw new Error(`bigquery types.d.ts: unknown type reference ${name}`);
  }
  if (ts.isTypeLiteralNode(node)) return objectSchema(node, names);
  throw new Error(`bigquery types.d.ts: unsupported type node ${ts.SyntaxKind[node.kind]}: ${node.getText()}`);
}

function objectSchema(node: ts.TypeLiteralNode, names: Set<string>): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  let additional: JsonSchema | false = false;
  for (const member of node.members) {
    if (ts.isPropertySignature(member) && member.type) {
      const key = ts.isIdentifier(member.name) || ts.isStringLiteral(member.name) ? member.name.text : member.name.getText();
      properties[key] = typeToSchema(member.type, names);
    } else if (ts.isIndexSignatureDeclaration(member)) {
      additional = typeToSchema(member.type, names);
    }
  }
  return { type: "object", properties, additionalProperties: additional };
}

let cached: { definitions: Record<string, JsonSchema>; revision: string } | undefined;

/** `{ definitions: { IJob: ..., IJobConfigurationLoad: ..., ... }, revision }` */
export function bigQueryApiSchemas(): { definitions: Record<string, JsonSchema>; revision: string } {
  if (cached) return cached;
  const text = readFileSync(bigQueryTypesPath(), "utf8");
  const source = ts.createSourceFile("types.d.ts", text, ts.ScriptTarget.ES2022, true);
  const revision = /Discovery Revision: (\d+)/.exec(text)?.[1] ?? "unknown";
  const aliases: ts.TypeAliasDeclaration[] = [];
  source.forEachChild((statement) => {
    if (ts.isModuleDeclaration(statement) && statement.name.text === "bigquery" && statement.body && ts.isModuleBlock(statement.body)) {
      for (const s of statement.body.statements) if (ts.isTypeAliasDeclaration(s)) aliases.push(s);
    }
  });
  const names = new Set(aliases.map((a) => a.name.text));
  const definitions: Record<string, JsonSchema> = {};
  for (const alias of aliases) definitions[alias.name.text] = typeToSchema(alias.type, names);
  if (!definitions.IJob || !definitions.ITable || !definitions.IDataset) throw new Error("bigquery types.d.ts: IJob, ITable or IDataset missing");
  cached = { definitions, revision };
  return cached;
}
