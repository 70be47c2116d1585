/**
 * The ZetaSQL reference engine (npm @fivetrandevelopers/zetasql): starts its gRPC server binary on
 * 127.0.0.1 and calls Analyze, EvaluateQuery and GetLanguageOptions.
 *
 * The package ships a client, but it is a process-wide singleton bound to `localhost`, exposes no
 * EvaluateQuery and its `runServer` promise never resolves; so the process and client are owned here, with
 * the package's own protos and its own grpc-js (resolved from the package, so the versions match).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import type { SimpleCatalog, TableContent, ZType } from "./zetasql-types.js";

const require = createRequire(import.meta.url);
const packageDir = dirname(require.resolve("@fivetrandevelopers/zetasql/package.json"));
const packageRequire = createRequire(join(packageDir, "package.json"));

interface GrpcError extends Error {
  code?: number;
  details?: string;
}
type Callback = (error: GrpcError | null, value: unknown) => void;
type ServiceClient = Record<string, (request: unknown, callback: Callback) => void> & { close(): void };
interface GrpcModule {
  credentials: { createInsecure(): unknown };
  loadPackageDefinition(def: unknown): Record<string, unknown>;
}
interface ProtoLoader {
  loadSync(file: string, options: Record<string, unknown>): unknown;
}

/** An error the analyzer or evaluator reported for a statement (message ends with `[at line:col]`). */
export class ZetaSqlError extends Error {
  constructor(
    message: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message);
    this.name = "ZetaSqlError";
  }
}

export interface AnalyzerOptions {
  languageOptions: Record<string, unknown>;
  errorMessageMode: string;
  defaultTimezone: string;
}

export interface ResolvedOutputColumn {
  name: string;
  type: ZType;
}

export interface AnalyzeResult {
  /** The resolved statement tree as JSON (proto3-JSON-like field names). */
  resolved: unknown;
  /** Output columns of a query statement; empty for other statements. */
  columns: ResolvedOutputColumn[];
}

export interface ValueProto {
  int64Value?: string;
  doubleValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  dateValue?: number;
  timestampValue?: { seconds?: string; nanos?: number };
  arrayValue?: { element?: ValueProto[] };
  structValue?: { field?: ValueProto[] };
  numericValue?: Buffer;
  jsonValue?: string;
  value?: string;
}

export interface EvaluateResult {
  columns: ResolvedOutputColumn[];
  rows: ValueProto[][];
}

function binaryPath(): string {
  const arm = process.arch.startsWith("arm") ? "_arm" : "";
  const ext = process.platform === "darwin" ? "" : ".so";
  const file = join(packageDir, "lib", "zetasql", `remote_server${arm}${ext}`);
  if (!existsSync(file)) throw new Error(`ZetaSQL server binary not found at ${file} (is @fivetrandevelopers/zetasql installed?)`);
  return file;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const POSITION = /\[at (\d+):(\d+)\]\s*$/;

function toError(error: GrpcError): ZetaSqlError {
  const message = error.details ?? error.message;
  const m = POSITION.exec(message);
  return new ZetaSqlError(message, m ? Number(m[1]) : undefined, m ? Number(m[2]) : undefined);
}

export class ZetaSql {
  private options?: AnalyzerOptions;

  private constructor(
    private readonly child: ChildProcess,
    private readonly client: ServiceClient,
  ) {}

  /** Starts a server on a free 127.0.0.1 port and waits until it answers. Call stop() when done. */
  static async start(): Promise<ZetaSql> {
    const grpc = packageRequire("@grpc/grpc-js") as GrpcModule;
    const loader = packageRequire("@grpc/proto-loader") as ProtoLoader;
    const definition = loader.loadSync("local_service.proto", {
      oneofs: true,
      longs: String,
      enums: String,
      includeDirs: [join(packageDir, "lib", "zetasql", "protos")],
    });
    const port = await freePort();
    const child = spawn(binaryPath(), ["127.0.0.1", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`ZetaSQL server exited (${code}): ${output.trim()}`))),
    );
    exited.catch(() => undefined);
    const proto = grpc.loadPackageDefinition(definition) as {
      zetasql: { local_service: { ZetaSqlLocalService: new (address: string, creds: unknown, options: Record<string, number>) => ServiceClient } };
    };
    const Service = proto.zetasql.local_service.ZetaSqlLocalService;
    const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      "grpc.max_send_message_length": 256 * 1024 * 1024,
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
    });
    const engine = new ZetaSql(child, client);
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        await Promise.race([engine.call("formatSql", { sql: "SELECT 1" }), exited]);
        break;
      } catch (error) {
        if (child.exitCode !== null || Date.now() > deadline) {
          engine.stop();
          throw error instanceof Error ? error : new Error(String(error));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    return engine;
  }

  stop(): void {
    this.client.close();
    if (this.child.exitCode === null) this.child.kill("SIGKILL");
  }

  private call<T>(method: string, request: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = this.client[method];
      if (!fn) return reject(new Error(`no gRPC method ${method}`));
      fn.call(this.client, request, (error, value) => (error ? reject(toError(error)) : resolve(value as T)));
    });
  }

  /**
   * BigQuery's dialect: every released language feature (QUALIFY, PIVOT, ...) in external product mode
   * (no proto/enum types, INT64/FLOAT64 only), UTC as the default time zone like BigQuery.
   */
  async analyzerOptions(): Promise<AnalyzerOptions> {
    if (!this.options) {
      const language = await this.call<Record<string, unknown>>("getLanguageOptions", { maximumFeatures: true });
      this.options = {
        languageOptions: { ...language, productMode: "PRODUCT_EXTERNAL" },
        errorMessageMode: "ERROR_MESSAGE_ONE_LINE",
        defaultTimezone: "UTC",
      };
    }
    return this.options;
  }

  private async withBuiltins(catalog: SimpleCatalog): Promise<SimpleCatalog> {
    const options = await this.analyzerOptions();
    return { ...catalog, builtinFunctionOptions: { languageOptions: options.languageOptions } };
  }

  /** Type-checks one statement against the catalog. Rejects with ZetaSqlError (with position). */
  async analyze(sql: string, catalog: SimpleCatalog): Promise<AnalyzeResult> {
    const response = await this.call<{ resolvedStatement?: Record<string, unknown> }>("analyze", {
      options: await this.analyzerOptions(),
      simpleCatalog: await this.withBuiltins(catalog),
      sqlStatement: sql,
    });
    const resolved = response.resolvedStatement ?? {};
    const query = resolved.resolvedQueryStmtNode as { outputColumnList?: { name: string; column: { type: ZType } }[] } | undefined;
    const columns = (query?.outputColumnList ?? []).map((c) => ({ name: c.name, type: c.column.type }));
    return { resolved, columns };
  }

  /** Runs a query on the reference evaluator with the given table contents (keyed by catalog table name). */
  async evaluate(sql: string, catalog: SimpleCatalog, content: Record<string, TableContent> = {}): Promise<EvaluateResult> {
    const response = await this.call<{
      content?: { tableData?: { row?: { cell?: ValueProto[] }[] } };
      prepared?: { columns?: { name: string; type: ZType }[] };
    }>("evaluateQuery", {
      options: await this.analyzerOptions(),
      simpleCatalog: await this.withBuiltins(catalog),
      sql,
      tableContent: content,
    });
    return {
      columns: (response.prepared?.columns ?? []).map((c) => ({ name: c.name, type: c.type })),
      rows: (response.content?.tableData?.row ?? []).map((r) => r.cell ?? []),
    };
  }
}

/** Runs `fn` with a started engine and always stops it. */
export async function withZetaSql<T>(fn: (engine: ZetaSql) => Promise<T>): Promise<T> {
  const engine = await ZetaSql.start();
  try {
    return await fn(engine);
  } finally {
    engine.stop();
  }
}
