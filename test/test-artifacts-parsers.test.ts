import { describe, expect, it } from "vitest";
import { parseJUnit, type JUnitCase } from "../extract/junit.js";
import { parseCoverage } from "../extract/coverage.js";
import { XmlParseError } from "../extract/xml-stream.js";
import { attemptOf, removeStaleDownloads } from "../extract/artifacts.js";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unsafeEntryPath } from "../extract/unzip.js";

/** Feeds the document in tiny chunks, so element and text boundaries fall inside chunks. */
async function* chunks(text: string, size = 7): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text, "utf8");
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function cases(xml: string): Promise<JUnitCase[]> {
  const out: JUnitCase[] = [];
  await parseJUnit(chunks(xml), (c) => {
    out.push(c);
  });
  return out;
}

describe("JUnit parser", () => {
  it("reads a testsuites root with nested suites, statuses, time/classname/file/line, in document order", async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all">
  <testsuite name="outer" file="tests/outer.py">
    <testcase classname="a.B" name="passes" time="0.25" line="12"/>
    <testsuite name="inner">
      <testcase classname="a.C" name="fails" time="1,234.5" file="tests/c.py"><failure message="assert 1 == 2">trace</failure></testcase>
      <testcase classname="a.C" name="errors"><error type="E">boom &amp; bust</error></testcase>
    </testsuite>
    <testcase classname="a.B" name="skips" time=""><skipped message="not on windows"/></testcase>
  </testsuite>
</testsuites>`;
    const got = await cases(xml);
    expect(got.map((c) => [c.suite, c.classname, c.name, c.status, c.file, c.line, c.duration_seconds, c.message])).toEqual([
      ["outer", "a.B", "passes", "passed", "tests/outer.py", 12, 0.25, null],
      ["outer > inner", "a.C", "fails", "failed", "tests/c.py", null, 1234.5, "assert 1 == 2"],
      ["outer > inner", "a.C", "errors", "error", "tests/outer.py", null, null, "boom & bust"],
      ["outer", "a.B", "skips", "skipped", "tests/outer.py", null, null, "not on windows"],
    ]);
  });

  it("reads a lone testsuite root (pytest's default)", async () => {
    const got = await cases(`<testsuite name="pytest" tests="1"><testcase classname="t" name="x" time="0.001"/></testsuite>`);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ suite: "pytest", name: "x", status: "passed", duration_seconds: 0.001 });
  });

  it("counts Surefire flakyFailure/flakyError and rerunFailure/rerunError without changing the final status", async () => {
    const xml = `<testsuite name="s">
  <testcase name="flaky" classname="k"><flakyFailure message="1st"><stackTrace>x</stackTrace><system-out>inner out</system-out></flakyFailure><flakyError message="2nd"/></testcase>
  <testcase name="broken" classname="k"><failure message="final"/><rerunFailure message="r1"/><rerunError message="r2"/></testcase>
</testsuite>`;
    const got = await cases(xml);
    expect(got.map((c) => [c.name, c.status, c.flaky_failures, c.rerun_failures, c.system_out])).toEqual([
      ["flaky", "passed", 2, 0, null],
      ["broken", "failed", 0, 2, null],
    ]);
  });

  it("keeps system-out (and CDATA) truncated to 2,000 characters and says it was cut", async () => {
    const long = "y".repeat(5000);
    const got = await cases(`<testsuite><testcase name="t"><system-out><![CDATA[${long}]]></system-out></testcase><testcase name="u"><system-out>short</system-out></testcase></testsuite>`);
    expect(got[0]!.system_out).toHaveLength(2000);
    expect(got[0]!.payload.system_out_truncated).toBe(true);
    expect(got[1]!.system_out).toBe("short");
    expect(got[1]!.payload.system_out_truncated).toBe(false);
  });

  it("truncates a long failure text to 2,000 characters", async () => {
    const got = await cases(`<testsuite><testcase name="t"><failure>${"z".repeat(3000)}</failure></testcase></testsuite>`);
    expect(got[0]!.message).toHaveLength(2000);
  });

  it("rejects a document cut in the middle with the position", async () => {
    await expect(cases(`<testsuite><testcase name="t"><failure>oops</testsuite>`)).rejects.toThrow(XmlParseError);
    await expect(cases(`this is not xml`)).rejects.toThrow(/not well-formed XML|no root/);
  });

  it("leaves the name undefined when the testcase has none (the row then fails its schema)", async () => {
    const got = await cases(`<testsuite><testcase classname="k"/></testsuite>`);
    expect(got[0]!.name).toBeUndefined();
  });
});

describe("coverage parser", () => {
  it("reads Cobertura root attributes", async () => {
    const t = await parseCoverage(chunks(`<?xml version="1.0" ?><!DOCTYPE coverage SYSTEM "x.dtd"><coverage line-rate="0.8125" branch-rate="0.5" lines-covered="13" lines-valid="16" branches-covered="2" branches-valid="4" version="7.4"><packages/></coverage>`));
    expect(t).toMatchObject({ format: "cobertura", lines_covered: 13, lines_valid: 16, branches_covered: 2, branches_valid: 4, line_rate: 0.8125, branch_rate: 0.5 });
  });

  it("derives a Cobertura rate from the counts when the rate attribute is missing or out of range", async () => {
    const t = await parseCoverage(chunks(`<coverage line-rate="81" lines-covered="3" lines-valid="4"/>`));
    expect(t?.line_rate).toBe(0.75);
    expect(t?.branch_rate).toBeNull();
  });

  it("reads JaCoCo top-level counters only, not package or class counters", async () => {
    const xml = `<report name="app"><sessioninfo id="s"/><package name="p"><class name="C"><counter type="LINE" missed="1000" covered="1"/></class><counter type="LINE" missed="999" covered="2"/></package>
<counter type="INSTRUCTION" missed="10" covered="90"/><counter type="BRANCH" missed="3" covered="1"/><counter type="LINE" missed="5" covered="15"/></report>`;
    const t = await parseCoverage(chunks(xml));
    expect(t).toMatchObject({ format: "jacoco", lines_covered: 15, lines_valid: 20, branches_covered: 1, branches_valid: 4, line_rate: 0.75, branch_rate: 0.25 });
  });

  it("returns null for an XML file that is not a coverage report", async () => {
    expect(await parseCoverage(chunks(`<project/>`))).toBeNull();
  });
});

describe("artifact helpers", () => {
  it("attributes an artifact to the latest attempt started before it was created", () => {
    const attempts = [
      { attempt: 2, startedAt: Date.parse("2026-01-01T11:00:00Z") },
      { attempt: 1, startedAt: Date.parse("2026-01-01T10:00:00Z") },
    ];
    expect(attemptOf("2026-01-01T10:30:00Z", attempts)).toBe(1);
    expect(attemptOf("2026-01-01T11:00:05Z", attempts)).toBe(2);
    expect(attemptOf("2026-01-01T09:00:00Z", attempts)).toBeNull();
  });

  it("removes downloaded zips a crashed extract left behind, once older than the grace period", () => {
    const dir = mkdtempSync(join(tmpdir(), "aw-stale-zips-"));
    try {
      mkdirSync(join(dir, "tmp"));
      for (const name of ["old.zip.partial", "new.zip.partial", "other.txt"]) writeFileSync(join(dir, "tmp", name), "x");
      const hourAgo = new Date(Date.now() - 3600_000);
      utimesSync(join(dir, "tmp", "old.zip.partial"), hourAgo, hourAgo);
      utimesSync(join(dir, "tmp", "other.txt"), hourAgo, hourAgo);
      expect(removeStaleDownloads(dir, 600_000)).toBe(1);
      expect(readdirSync(join(dir, "tmp")).sort()).toEqual(["new.zip.partial", "other.txt"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses absolute, drive-letter, backslash and .. entry paths", () => {
    expect(unsafeEntryPath("reports/junit.xml")).toBeNull();
    expect(unsafeEntryPath("../evil.xml")).toMatch(/path traversal/);
    expect(unsafeEntryPath("a\\..\\..\\evil.xml")).toMatch(/path traversal/);
    expect(unsafeEntryPath("/etc/passwd")).toMatch(/absolute/);
    expect(unsafeEntryPath("C:/x.xml")).toMatch(/absolute/);
  });
});
