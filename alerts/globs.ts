/**
 * Scope globs of alert rules (repository, workflow, branch and runner-label patterns) and their SQL.
 *
 * The glob language is picomatch's with `bash: true` (so `*` also crosses `/`: `acme/*` matches every
 * repository of acme, `release/*` matches `release/1.2/hotfix`), restricted to what translates exactly
 * into a LIKE pattern that BigQuery and DuckDB read the same way:
 *   - `*` (and `**`): any run of characters, `/` included; `?`: exactly one character;
 *   - `{a,b}`: alternatives (nested braces too), expanded into one LIKE per alternative;
 *   - everything else is literal, `_` and `%` included.
 * Rejected with a "bad glob" message: character classes `[...]`, extglobs `!(..)`/`@(..)`/`*(..)`,
 * negation `!x`, backslash escapes, parentheses (picomatch reads them as groups, LIKE as literals),
 * numeric ranges `{1..3}` and unbalanced braces.
 *
 * Why no `LIKE ... ESCAPE`: GoogleSQL has no ESCAPE clause (BigQuery always escapes with `\`), DuckDB has
 * no default escape character, so one pattern cannot mean the same on both. Instead the literal `_` and
 * `%` of both the value and the pattern are mapped to two private-use characters (U+E000, U+E001) with
 * REPLACE, which leaves only the wildcards `%` and `_` we write ourselves. Patterns are query parameters.
 */
import picomatch from "picomatch";

/** Stand-ins for a literal `_` and `%` on both sides of the LIKE (Unicode private use, never in names). */
export const LITERAL_UNDERSCORE = "\uE000";
export const LITERAL_PERCENT = "\uE001";

const MAX_ALTERNATIVES = 64;

export class GlobError extends Error {
  constructor(
    readonly glob: string,
    readonly reason: string,
  ) {
    super(`bad glob ${JSON.stringify(glob)}: ${reason}`);
    this.name = "GlobError";
  }
}

/** `a{b,c{d,e}}f` → `abf`, `acdf`, `acef`. Throws on unbalanced braces. */
export function expandBraces(glob: string): string[] {
  let depth = 0;
  let open = -1;
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "{") {
      if (depth === 0) open = i;
      depth++;
    } else if (ch === "}") {
      depth--;
      if (depth < 0) throw new GlobError(glob, "a `}` without its `{`: balance the braces");
      if (depth === 0) {
        const inner = glob.slice(open + 1, i);
        const options = splitTopLevel(inner);
        const rest = expandBraces(glob.slice(i + 1));
        const prefix = glob.slice(0, open);
        const out: string[] = [];
        for (const option of options) for (const expanded of expandBraces(option)) for (const tail of rest) out.push(prefix + expanded + tail);
        if (out.length > MAX_ALTERNATIVES) throw new GlobError(glob, `expands to more than ${MAX_ALTERNATIVES} alternatives: write fewer braces`);
        return out;
      }
    }
  }
  if (depth !== 0) throw new GlobError(glob, "a `{` without its `}`: balance the braces");
  return [glob];
}

/** Splits `a,b{c,d},e` at the commas outside nested braces. */
function splitTopLevel(inner: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const ch = inner[i];
    if (ch === "{") depth++;
    else if (ch === "}") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(inner.slice(start));
  return parts;
}

/** Throws a GlobError saying what to write instead when `glob` is outside the supported language. */
export function validateGlob(glob: string): void {
  if (glob.length === 0) throw new GlobError(glob, "empty: write `*` for everything, or drop the list");
  const scan = picomatch.scan(glob);
  if (scan.negated || glob.startsWith("!")) throw new GlobError(glob, "negation (`!`) is not supported: list the names to include instead");
  if (scan.isExtglob) throw new GlobError(glob, "extglobs like `!(..)`, `@(..)`, `*(..)` are not supported: use `{a,b}` alternatives and `*`");
  if (scan.isBracket || /[[\]]/.test(glob)) throw new GlobError(glob, "character classes `[...]` are not supported: use `?` for one character or `{a,b}` alternatives");
  if (glob.includes("\\")) throw new GlobError(glob, "backslash escapes are not supported: every character but `*`, `?`, `{`, `,` and `}` is already literal");
  if (/[()]/.test(glob)) throw new GlobError(glob, "parentheses are not supported (picomatch reads them as groups): write `?` in their place");
  if (/[\uE000\uE001]/.test(glob)) throw new GlobError(glob, "contains a private-use character U+E000/U+E001 reserved for escaping");
  if (/\{[^{}]*\.\.[^{}]*\}/.test(glob)) throw new GlobError(glob, "ranges like `{1..3}` are not supported: list them, `{1,2,3}`");
  expandBraces(glob);
  // picomatch must compile it too: what we accept is a subset of its language.
  try {
    picomatch.makeRe(glob, { bash: true, dot: true });
  } catch (error) {
    throw new GlobError(glob, error instanceof Error ? error.message : String(error));
  }
}

/** One brace-free alternative → a LIKE pattern over the REPLACE-mapped value (see the header). */
export function likePattern(alternative: string): string {
  let out = "";
  for (const ch of alternative) {
    if (ch === "*") out += out.endsWith("%") ? "" : "%";
    else if (ch === "?") out += "_";
    else if (ch === "_") out += LITERAL_UNDERSCORE;
    else if (ch === "%") out += LITERAL_PERCENT;
    else out += ch;
  }
  return out;
}

/** True when every name matches (`*`, `**`, or a list containing one): no SQL condition is needed. */
export function matchesEverything(globs: readonly string[]): boolean {
  return globs.some((g) => expandBraces(g).some((alt) => /^\*+$/.test(alt)));
}

export interface SqlCondition {
  sql: string;
  params: Record<string, string>;
}

/**
 * `column` matches any of `globs`, as SQL both engines read alike, with the patterns as parameters named
 * `<prefix>_0`, `<prefix>_1`, ... A NULL column is matched as the empty string. No globs, or a match-all
 * glob, gives `TRUE`.
 */
export function globCondition(column: string, globs: readonly string[], prefix: string): SqlCondition {
  for (const g of globs) validateGlob(g);
  if (globs.length === 0 || matchesEverything(globs)) return { sql: "TRUE", params: {} };
  const patterns = [...new Set(globs.flatMap((g) => expandBraces(g).map(likePattern)))];
  const mapped = `REPLACE(REPLACE(COALESCE(${column}, ''), '_', '${LITERAL_UNDERSCORE}'), '%', '${LITERAL_PERCENT}')`;
  const params: Record<string, string> = {};
  const ors = patterns.map((p, i) => {
    params[`${prefix}_${i}`] = p;
    return `${mapped} LIKE @${prefix}_${i}`;
  });
  return { sql: `(${ors.join(" OR ")})`, params };
}

/** The same match in TypeScript (picomatch, bash semantics), for messages and tests. */
export function globMatcher(globs: readonly string[]): (name: string | null) => boolean {
  if (globs.length === 0) return () => true;
  const matchers = globs.map((g) => picomatch(g, { bash: true, dot: true }));
  return (name) => matchers.some((m) => m(name ?? ""));
}
