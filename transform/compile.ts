/**
 * Compiles the Dataform project with the real CLI (`dataform compile --json`) and types the result.
 * Results are cached by a hash of definitions/, includes/, dataform.json, the @dataform/core version and
 * vars, in `.warehouse/cache/` under the current working directory: with the working data (the default
 * warehouse and staging folder live in `.warehouse/` too), never inside the install folder, which may be
 * read-only or shared by several working folders. A cache that cannot be written only costs a recompile.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { z } from "zod";

const execFileAsync = promisify(execFile);

export const projectRoot = fileURLToPath(new URL("..", import.meta.url));

const target = z.object({ database: z.string().optional(), schema: z.string(), name: z.string() });
export type Target = z.infer<typeof target>;

const columnDescriptor = z.object({
  path: z.array(z.string()),
  description: z.string().optional(),
});

const actionDescriptor = z
  .object({ description: z.string().optional(), columns: z.array(columnDescriptor).optional() })
  .optional();

const common = {
  target,
  canonicalTarget: target.optional(),
  fileName: z.string().optional(),
  tags: z.array(z.string()).default([]),
  dependencyTargets: z.array(target).default([]),
  disabled: z.boolean().optional(),
  actionDescriptor,
};

const compiledTable = z.object({
  ...common,
  type: z.string().optional(),
  enumType: z.enum(["TABLE", "VIEW", "INCREMENTAL"]),
  query: z.string(),
  incrementalQuery: z.string().optional(),
  preOps: z.array(z.string()).default([]),
  postOps: z.array(z.string()).default([]),
  incrementalPreOps: z.array(z.string()).default([]),
  incrementalPostOps: z.array(z.string()).default([]),
  uniqueKey: z.array(z.string()).default([]),
  protected: z.boolean().optional(),
  bigquery: z
    .object({ partitionBy: z.string().optional(), clusterBy: z.array(z.string()).optional() })
    .optional(),
});

const compiledAssertion = z.object({ ...common, query: z.string(), parentAction: target.optional() });
const compiledOperation = z.object({ ...common, queries: z.array(z.string()).default([]), hasOutput: z.boolean().optional() });
const compiledDeclaration = z.object({ target, actionDescriptor, fileName: z.string().optional() });

export const compiledGraphSchema = z.object({
  tables: z.array(compiledTable).default([]),
  assertions: z.array(compiledAssertion).default([]),
  operations: z.array(compiledOperation).default([]),
  declarations: z.array(compiledDeclaration).default([]),
  projectConfig: z.object({
    defaultDatabase: z.string().optional(),
    defaultSchema: z.string(),
    assertionSchema: z.string().optional(),
    vars: z.record(z.string(), z.string()).default({}),
  }),
  graphErrors: z
    .object({ compilationErrors: z.array(z.object({ message: z.string().optional(), fileName: z.string().optional() })).optional() })
    .optional(),
});

export type CompiledGraph = z.infer<typeof compiledGraphSchema>;
export type CompiledTable = z.infer<typeof compiledTable>;
export type CompiledAssertion = z.infer<typeof compiledAssertion>;
export type CompiledOperation = z.infer<typeof compiledOperation>;

export class CompilationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CompilationError";
  }
}

export interface CompileOptions {
  vars?: Record<string, string>;
  /** Project directory (default: the repository root). */
  projectDir?: string;
  /** Skip the cache. */
  noCache?: boolean;
  /** Where compile results are cached (default `compileCacheDir()`). */
  cacheDir?: string;
}

/** The compile cache: `.warehouse/cache/` under the working directory (see the file's header). */
export function compileCacheDir(cwd: string = process.cwd()): string {
  return join(cwd, ".warehouse", "cache");
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

function projectHash(projectDir: string, vars: Record<string, string>): string {
  const hash = createHash("sha256");
  const files = [...listFiles(join(projectDir, "definitions")), ...listFiles(join(projectDir, "includes")), join(projectDir, "dataform.json")];
  for (const file of files) {
    hash.update(relative(projectDir, file)).update("\0");
    if (statSync(file).isFile()) hash.update(readFileSync(file)).update("\0");
  }
  const cliPkg = join(projectDir, "node_modules", "@dataform", "core", "package.json");
  if (existsSync(cliPkg)) hash.update(readFileSync(cliPkg));
  hash.update(JSON.stringify(Object.entries(vars).sort()));
  return hash.digest("hex").slice(0, 32);
}

function formatVars(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (/[=,]/.test(k) || /,/.test(v)) throw new CompilationError(`var ${k} must not contain ',' (or '=' in its name)`);
      return `${k}=${v}`;
    })
    .join(",");
}

export function parseCompiledGraph(json: string): CompiledGraph {
  const graph = compiledGraphSchema.parse(JSON.parse(json));
  const errors = graph.graphErrors?.compilationErrors ?? [];
  if (errors.length > 0) {
    throw new CompilationError(
      `Dataform compilation failed:\n${errors.map((e) => `  ${e.fileName ?? "?"}: ${e.message ?? "?"}`).join("\n")}`,
    );
  }
  return graph;
}

/** Runs `dataform compile --json` (or returns the cached result for identical inputs). */
export async function compileProject(options: CompileOptions = {}): Promise<CompiledGraph> {
  const projectDir = options.projectDir ?? projectRoot;
  const vars = options.vars ?? {};
  const cacheDir = options.cacheDir ?? compileCacheDir();
  const cacheFile = join(cacheDir, `compile-${projectHash(projectDir, vars)}.json`);
  if (!options.noCache && existsSync(cacheFile)) return parseCompiledGraph(readFileSync(cacheFile, "utf8"));

  const args = ["compile", "--json"];
  if (Object.keys(vars).length > 0) args.push("--vars", formatVars(vars));
  const cli = join(projectDir, "node_modules", ".bin", "dataform");
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(cli, args, { cwd: projectDir, maxBuffer: 256 * 1024 * 1024 }));
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new CompilationError(`dataform compile failed: ${e.stderr || e.stdout || e.message}`);
  }
  const graph = parseCompiledGraph(stdout);
  try {
    mkdirSync(cacheDir, { recursive: true });
    // Written aside and renamed: a concurrent run never reads half a cache file.
    const temp = `${cacheFile}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(temp, stdout);
    renameSync(temp, cacheFile);
  } catch {
    // A read-only working folder: compile again next time.
  }
  return graph;
}
