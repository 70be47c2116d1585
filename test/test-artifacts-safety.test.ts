/**
 * Safety of reading artifacts (issue 14): hostile zips are rejected with a clear quarantine reason,
 * nothing lands outside the staging folder, and the GitHub token never reaches the download host.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import yazl from "yazl";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactTruth, generateDataset, startSimulator, type ArtifactTruth, type Dataset, type Simulator } from "../simulator/index.js";
import { runExtract, type ExtractResult } from "../extract/run.js";
import { DEFAULT_UNZIP_LIMITS, readZip, ZipRejected, type UnzipLimits } from "../extract/unzip.js";
import { silentLogger } from "../log/logger.js";

const ANCHOR = "2026-10-15T12:00:00Z";
const TOKEN = "ghp_ArtifactSafetyToken0123456789abcdef";
const GLOBS = ["junit*", "test-results*", "coverage*"];

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) visit(p);
      else out.push(p);
    }
  };
  visit(root);
  return out;
}

interface QuarantineLine {
  resource: string;
  reason: string;
  record: { artifact?: { id: number; name: string }; entry?: string };
}

describe("test artifacts: hostile zips and the download host", () => {
  let dir: string;
  let stagingDir: string;
  let ds: Dataset;
  let sim: Simulator;
  let truth: ArtifactTruth;
  let result: ExtractResult;
  let since: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "aw-artifacts-safety-"));
    stagingDir = join(dir, "a", "b", "staging");
    ds = generateDataset({ seed: 11, anchor: ANCHOR, days: 3, busyDayRuns: 0 });
    truth = artifactTruth(ds);
    const bad = truth.artifacts.find((a) => a.kind === "bomb")!;
    since = bad.run.created_at.slice(0, 10);
    sim = await startSimulator({ dataset: ds, token: TOKEN, rateLimit: 100_000 });
    result = await runExtract({ repos: ["acme/ml-platform"], since, apiUrl: sim.url, token: TOKEN, stagingDir, testArtifacts: GLOBS, maxQuarantined: 10 }, { log: silentLogger });
  }, 120_000);

  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const quarantine = (): QuarantineLine[] => {
    const path = join(stagingDir, result.manifest.quarantine_path ?? "missing");
    return gunzipSync(readFileSync(path))
      .toString("utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as QuarantineLine);
  };

  it("rejects the zip bomb, the path traversal and the corrupt zip, each with a reason naming the artifact and the entry", () => {
    const lines = quarantine().filter((l) => l.resource === "workflow_artifacts");
    expect(lines).toHaveLength(3);
    for (const r of truth.rejected) {
      const line = lines.find((l) => l.record.artifact?.id === r.id);
      expect(line, r.name).toBeDefined();
      expect(line?.resource).toBe("workflow_artifacts");
      expect(line?.reason).toContain(`artifact "${r.name}" (id ${r.id})`);
      expect(line?.reason).toMatch(r.reason);
    }
    const reason = (kind: string) => lines.find((l) => l.record.artifact?.id === truth.rejected.find((r) => r.kind === kind)?.id)?.reason ?? "";
    expect(reason("bomb")).toMatch(/entry "reports\/huge\.xml" inflates \d+ bytes to 52428800 \(ratio \d+:1\), above the limit of 200:1/);
    expect(reason("traversal")).toContain(`entry "../../evil-coverage.xml" contains a '..' segment`);
    expect(reason("corrupt")).toMatch(/not a readable zip: .*central directory/);
    // The good artifacts of the same run were still read.
    expect(result.artifacts?.parsed).toBeGreaterThan(0);
  });

  it("quarantines a malformed report file alone, naming artifact and file, and reads the good report beside it", () => {
    const [bad] = truth.malformed;
    const lines = quarantine().filter((l) => l.resource === "test_cases");
    expect(lines).toHaveLength(1);
    expect(lines[0]?.reason).toContain(`artifact "${bad?.name}" (id ${bad?.artifactId})`);
    expect(lines[0]?.reason).toMatch(/file "reports\/junit-cut\.xml" is not well-formed XML: .*\d+:\d+/);
    expect(result.manifest.quarantined).toBe(4);
    const good = truth.cases.filter((c) => c.artifactId === bad?.artifactId);
    expect(good).toHaveLength(2);
  });

  it("writes nothing outside the staging folder, and leaves no downloaded zip behind", () => {
    for (const file of filesUnder(dir)) expect(relative(stagingDir, file).startsWith(".."), file).toBe(false);
    expect(filesUnder(stagingDir).some((f) => f.includes("evil"))).toBe(false);
    for (const base of [stagingDir, join(stagingDir, "tmp"), process.cwd()]) expect(existsSync(resolve(base, "../../evil-coverage.xml"))).toBe(false);
    expect(readdirSync(join(stagingDir, "tmp"))).toEqual([]);
    // Only the staging layout's folders.
    expect(readdirSync(stagingDir).sort()).toEqual(expect.arrayContaining(["manifests", "quarantine", "raw", "tmp"]));
  });

  it("never sends the token to the redirect host (the API required it for every request)", () => {
    const downloads = sim.artifactDownloads();
    expect(downloads.length).toBe(result.artifacts?.redirectFetches);
    expect(downloads.length).toBeGreaterThan(3);
    expect(downloads.filter((d) => d.authorization)).toEqual([]);
    expect(downloads.every((d) => d.status === 200)).toBe(true);
  });

  it("a signed URL that has expired is asked for again once, then the extract stops naming the artifact", async () => {
    const expiring = await startSimulator({ dataset: ds, token: TOKEN, rateLimit: 100_000, artifacts: { urlTtlMs: -1 } });
    try {
      await expect(
        runExtract({ repos: ["acme/ml-platform"], since, apiUrl: expiring.url, token: TOKEN, stagingDir: join(dir, "expiring"), testArtifacts: ["junit-ubuntu"], concurrency: 1 }, { log: silentLogger }),
      ).rejects.toThrow(/signed download URL of artifact "junit-ubuntu" \(id \d+\) of run \d+ in acme\/ml-platform answered 403/);
      const downloads = expiring.artifactDownloads();
      // Each artifact tried: a URL, refused, a fresh URL, refused again (a run already started may try its own).
      expect(downloads.length).toBeGreaterThanOrEqual(2);
      expect(downloads.length % 2).toBe(0);
      expect(downloads.every((d) => d.status === 403 && d.artifactId === null && !d.authorization)).toBe(true);
      expect(expiring.stats().byRoute["GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}"]).toBe(downloads.length);
    } finally {
      await expiring.close();
    }
  }, 60_000);
});

describe("zip limits", () => {
  const zipFile = async (dir: string, entries: [string, Buffer][]): Promise<string> => {
    const zip = new yazl.ZipFile();
    for (const [name, data] of entries) zip.addBuffer(data, name, { mtime: new Date("2026-01-01T00:00:00Z") });
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    const path = join(dir, `z${Math.random().toString(36).slice(2)}.zip`);
    writeFileSync(path, Buffer.concat(chunks));
    return path;
  };
  const readAll = (path: string, limits: UnzipLimits) =>
    readZip(path, limits, async (_e, open) => {
      for await (const _chunk of await open());
    });
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "aw-zip-limits-"));
    mkdirSync(dir, { recursive: true });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses more entries than the limit before reading any", async () => {
    const path = await zipFile(dir, [["a.xml", Buffer.from("<a/>")], ["b.xml", Buffer.from("<b/>")], ["c.xml", Buffer.from("<c/>")]]);
    await expect(readAll(path, { ...DEFAULT_UNZIP_LIMITS, maxEntries: 2 })).rejects.toThrow(/holds 3 entries, above the limit of 2/);
    await expect(readAll(path, { ...DEFAULT_UNZIP_LIMITS, maxEntries: 3 })).resolves.toEqual({ entries: 3 });
  });

  it("refuses entries whose total uncompressed size is above the limit, naming the entry", async () => {
    const path = await zipFile(dir, [["one.xml", Buffer.alloc(600, 0x61)], ["two.xml", Buffer.alloc(600, 0x62)]]);
    const error = await readAll(path, { ...DEFAULT_UNZIP_LIMITS, maxUncompressedBytes: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZipRejected);
    expect((error as ZipRejected).entry).toBe("two.xml");
  });

  it("stops an entry whose inflated bytes exceed what its header declared (a lying zip bomb)", async () => {
    const path = await zipFile(dir, [["bomb.xml", Buffer.alloc(4 * 1024 * 1024, 0x20)]]);
    const bytes = readFileSync(path);
    // Declare 1,000 uncompressed bytes in the central directory (offset 24 of its file header).
    const cd = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt32LE(1000, cd + 24);
    writeFileSync(path, bytes);
    await expect(readAll(path, DEFAULT_UNZIP_LIMITS)).rejects.toThrow(ZipRejected);
  });
});
