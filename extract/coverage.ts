/**
 * Coverage XML, read as a stream: Cobertura (`coverage` root, coverage.py and most JS tools write it)
 * and JaCoCo (`report` root). Only the totals are kept: Cobertura's root attributes, JaCoCo's top-level
 * `counter` elements (the per-package and per-class counters below them are ignored).
 */
import { intAttr, numberAttr, streamXml, type XmlHandler } from "./xml-stream.js";

export type CoverageFormat = "cobertura" | "jacoco";

export interface CoverageTotals {
  format: CoverageFormat;
  lines_covered: number | null;
  lines_valid: number | null;
  branches_covered: number | null;
  branches_valid: number | null;
  line_rate: number | null;
  branch_rate: number | null;
  payload: { root: string; attributes: Record<string, string>; counters: Record<string, { missed: number | null; covered: number | null }> };
}

export const COVERAGE_ROOTS: Record<string, CoverageFormat> = { coverage: "cobertura", report: "jacoco" };

const rate = (covered: number | null, valid: number | null): number | null => (covered !== null && valid !== null && valid > 0 ? covered / valid : null);
/** Rates are fractions 0..1 (PRODUCT.md); a writer's out-of-range value is dropped, not clamped. */
const fraction = (n: number | null): number | null => (n !== null && n >= 0 && n <= 1 ? n : null);

export function coverageHandler(): { handler: XmlHandler; totals: () => CoverageTotals | null } {
  let root: string | null = null;
  let attributes: Record<string, string> = {};
  const counters: Record<string, { missed: number | null; covered: number | null }> = {};
  const handler: XmlHandler = {
    open(tag, depth) {
      if (depth === 1) {
        root = tag.name;
        attributes = { ...tag.attributes };
      } else if (depth === 2 && root === "report" && tag.name === "counter" && tag.attributes.type) {
        counters[tag.attributes.type] = { missed: intAttr(tag.attributes.missed), covered: intAttr(tag.attributes.covered) };
      }
    },
    close() {},
    text() {},
  };
  const totals = (): CoverageTotals | null => {
    if (root === "coverage") {
      const linesCovered = intAttr(attributes["lines-covered"]);
      const linesValid = intAttr(attributes["lines-valid"]);
      const branchesCovered = intAttr(attributes["branches-covered"]);
      const branchesValid = intAttr(attributes["branches-valid"]);
      return {
        format: "cobertura",
        lines_covered: linesCovered,
        lines_valid: linesValid,
        branches_covered: branchesCovered,
        branches_valid: branchesValid,
        line_rate: fraction(numberAttr(attributes["line-rate"])) ?? rate(linesCovered, linesValid),
        branch_rate: fraction(numberAttr(attributes["branch-rate"])) ?? rate(branchesCovered, branchesValid),
        payload: { root, attributes, counters },
      };
    }
    if (root === "report") {
      const line = counters.LINE;
      const branch = counters.BRANCH;
      const valid = (c: { missed: number | null; covered: number | null } | undefined) => (c && c.missed !== null && c.covered !== null ? c.missed + c.covered : null);
      return {
        format: "jacoco",
        lines_covered: line?.covered ?? null,
        lines_valid: valid(line),
        branches_covered: branch?.covered ?? null,
        branches_valid: valid(branch),
        line_rate: rate(line?.covered ?? null, valid(line)),
        branch_rate: rate(branch?.covered ?? null, valid(branch)),
        payload: { root, attributes, counters },
      };
    }
    return null;
  };
  return { handler, totals };
}

/** Parses a coverage document; null when its root is neither `coverage` nor `report`. */
export async function parseCoverage(source: AsyncIterable<Buffer | string>): Promise<CoverageTotals | null> {
  const { handler, totals } = coverageHandler();
  await streamXml(source, handler);
  return totals();
}
