/**
 * Which built-in functions a statement calls, read from ZetaSQL's resolved statement (not from the SQL
 * text, so operators, implicit functions and calls produced by macros all count).
 * ZetaSQL names operators with a `$` ($add, $equal, $case_no_value, ...).
 */

function walk(node: unknown, found: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, found);
    return;
  }
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node)) {
    if (key === "function" && value && typeof value === "object" && typeof (value as { name?: unknown }).name === "string") {
      found.add(normalizeFunctionName((value as { name: string }).name));
    } else {
      walk(value, found);
    }
  }
}

/** `ZetaSQL:timestamp_diff` → `timestamp_diff`. */
export function normalizeFunctionName(name: string): string {
  return name.replace(/^ZetaSQL:/, "").toLowerCase();
}

/** Sorted distinct function names called anywhere in a resolved statement. */
export function functionsUsed(resolved: unknown): string[] {
  const found = new Set<string>();
  walk(resolved, found);
  return [...found].sort();
}
