/** The few ZetaSQL proto shapes this project builds (as proto-loader JSON: camelCase fields, enum names). */

export interface ZType {
  typeKind: string;
  arrayType?: { elementType: ZType };
  structType?: { field: { fieldName: string; fieldType: ZType }[] };
}

export interface SimpleColumn {
  name: string;
  type: ZType;
}

export interface SimpleTable {
  name: string;
  column: SimpleColumn[];
}

export interface SimpleCatalog {
  name: string;
  table: SimpleTable[];
  builtinFunctionOptions?: unknown;
}

export interface TableContent {
  tableData: { row: { cell: unknown[] }[] };
}

const SCALARS: Record<string, string> = {
  STRING: "TYPE_STRING",
  INT64: "TYPE_INT64",
  INTEGER: "TYPE_INT64",
  BOOL: "TYPE_BOOL",
  BOOLEAN: "TYPE_BOOL",
  FLOAT64: "TYPE_DOUBLE",
  FLOAT: "TYPE_DOUBLE",
  TIMESTAMP: "TYPE_TIMESTAMP",
  DATE: "TYPE_DATE",
  DATETIME: "TYPE_DATETIME",
  TIME: "TYPE_TIME",
  JSON: "TYPE_JSON",
  NUMERIC: "TYPE_NUMERIC",
  BYTES: "TYPE_BYTES",
};

/** BigQuery type name (`INT64`, `ARRAY<STRING>`) → ZetaSQL TypeProto. */
export function zType(bigqueryType: string): ZType {
  const t = bigqueryType.trim().toUpperCase();
  const array = /^ARRAY<(.+)>$/.exec(t);
  if (array?.[1]) return { typeKind: "TYPE_ARRAY", arrayType: { elementType: zType(array[1]) } };
  const kind = SCALARS[t];
  if (!kind) throw new Error(`no ZetaSQL type for BigQuery type ${bigqueryType}`);
  return { typeKind: kind };
}

/** ZetaSQL TypeProto → BigQuery type name, for messages and type parity. */
export function typeName(type: ZType): string {
  if (type.typeKind === "TYPE_ARRAY" && type.arrayType) return `ARRAY<${typeName(type.arrayType.elementType)}>`;
  if (type.typeKind === "TYPE_STRUCT" && type.structType) {
    return `STRUCT<${type.structType.field.map((f) => `${f.fieldName} ${typeName(f.fieldType)}`).join(", ")}>`;
  }
  const name = type.typeKind.replace(/^TYPE_/, "");
  return name === "DOUBLE" ? "FLOAT64" : name;
}
