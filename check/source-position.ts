/**
 * Maps a position in a compiled query back to the SQLX file it came from. Dataform substitutes `${...}`
 * and drops the config block, so lines shift; the compiled line is matched against SQLX lines with each
 * `${...}` as a wildcard, preferring the candidate nearest the expected shift.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface SourcePosition {
  file: string;
  line: number;
  column: number;
  /** False when no SQLX line matched and the position is the compiled one. */
  exact: boolean;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A regex for one SQLX line: literal text, `${...}` as a lazy wildcard. */
function linePattern(line: string): RegExp {
  const parts = line.trim().split(/\$\{[^}]*\}/);
  return new RegExp(`^${parts.map(escapeRegExp).join(".*?")}$`);
}

export function sqlxPosition(projectDir: string, file: string, compiledSql: string, line: number, column: number): SourcePosition {
  const path = join(projectDir, file);
  const compiledLine = compiledSql.split("\n")[line - 1];
  if (!existsSync(path) || compiledLine === undefined) return { file, line, column, exact: false };
  const sqlxLines = readFileSync(path, "utf8").split("\n");
  const target = compiledLine.trim();
  if (target === "") return { file, line, column, exact: false };
  const candidates: number[] = [];
  sqlxLines.forEach((text, i) => {
    if (text.trim() === target || (text.includes("${") && linePattern(text).test(target))) candidates.push(i + 1);
  });
  if (candidates.length === 0) {
    // Lines built by nested JS (`${when(incremental(), `...${self()}`)}`): match on a literal fragment.
    sqlxLines.forEach((text, i) => {
      const fragments = text.split(/\$\{|\}|`/).map((f) => f.trim()).filter((f) => f.length >= 12);
      if (fragments.some((f) => target.includes(f))) candidates.push(i + 1);
    });
  }
  if (candidates.length === 0) return { file, line, column, exact: false };
  // The body starts after the config block, so the SQLX line is usually later than the compiled one.
  const configEnd = sqlxLines.findIndex((l) => /^}\s*$/.test(l)) + 1;
  const best = candidates.reduce((a, b) => (Math.abs(a - (line + configEnd)) <= Math.abs(b - (line + configEnd)) ? a : b));
  const sqlxLine = sqlxLines[best - 1] ?? "";
  const shift = sqlxLine.length - sqlxLine.trimStart().length - (compiledLine.length - compiledLine.trimStart().length);
  const sameText = sqlxLine.trim() === target;
  if (sameText) return { file, line: best, column: column + shift, exact: true };
  // Otherwise point at the same token in the SQLX line when it occurs there once.
  const token = /^[\w$]+/.exec(compiledLine.slice(column - 1))?.[0];
  const at = token ? sqlxLine.indexOf(token) : -1;
  const unique = token !== undefined && at >= 0 && sqlxLine.indexOf(token, at + 1) < 0;
  return { file, line: best, column: unique ? at + 1 : column, exact: false };
}
