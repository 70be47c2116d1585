/**
 * Which warehouse a staging folder belongs to. An extract records its target in the manifest
 * (`duckdb:<absolute file path>` or `bigquery:<project>`), and every loader refuses manifests of another
 * target, naming both: two warehouses in one working folder must never take in each other's rows.
 *
 * By default a warehouse's staging folder is derived from the warehouse itself, so two warehouses
 * never share one unless told to: `<dir>/<name>.staging/` beside a DuckDB file `<dir>/<name>.duckdb`, and
 * `.warehouse/bigquery-<project>.staging/` for a BigQuery project (the bucket prefix is the shared side).
 * Manifests written before targets were recorded carry none and are accepted by any loader.
 */
import { basename, dirname, extname, join, resolve } from "node:path";
import type { StagedManifest } from "./staging.js";

export type Target = { kind: "duckdb"; path: string } | { kind: "bigquery"; project: string };

export function targetId(target: Target): string {
  return target.kind === "duckdb" ? `duckdb:${resolve(target.path)}` : `bigquery:${target.project}`;
}

export function defaultStagingDir(target: Target): string {
  if (target.kind === "bigquery") return join(".warehouse", `bigquery-${target.project}.staging`);
  const file = target.path;
  return join(dirname(file), `${basename(file, extname(file))}.staging`);
}

/** Manifests of another warehouse were found where this one loads from. */
export class TargetMismatchError extends Error {
  override readonly name = "TargetMismatchError";
  constructor(
    readonly target: string,
    readonly foreign: { path: string; target: string }[],
  ) {
    const list = foreign.slice(0, 5).map((f) => `  ${f.path}: extracted for ${f.target}`);
    const more = foreign.length > 5 ? [`  ... and ${foreign.length - 5} more`] : [];
    super(
      [
        `staging holds ${foreign.length} extract(s) of another warehouse; this load is for ${target} and loads nothing:`,
        ...list,
        ...more,
        `Load them into their own warehouse (the matching --duckdb-path or --project), or give this warehouse a staging folder of its own (--staging-dir; by default each warehouse has one beside it).`,
      ].join("\n"),
    );
  }
}

/** Throws before anything is loaded when any manifest names another target. */
export function checkTargets(manifests: Pick<StagedManifest, "path" | "manifest">[], target: Target): void {
  const id = targetId(target);
  const foreign = manifests.filter((m) => m.manifest.target !== undefined && m.manifest.target !== id).map((m) => ({ path: m.path, target: m.manifest.target ?? "" }));
  if (foreign.length > 0) throw new TargetMismatchError(id, foreign);
}

/** `doctor`: whether the staging folder holds only this warehouse's extracts (pending manifests are read). */
export function stagingTargetCheck(manifests: Pick<StagedManifest, "path" | "manifest">[], target: Target): { status: "ok" | "fail"; detail: string } {
  try {
    checkTargets(manifests, target);
    return { status: "ok", detail: `${manifests.length} pending extract(s), none of another warehouse (${targetId(target)})` };
  } catch (error) {
    return { status: "fail", detail: (error as Error).message.replace(/\n\s*/g, " ") };
  }
}
