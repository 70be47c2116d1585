/**
 * The dashboard in a real browser: headless Chromium from Debian (/usr/bin/chromium, installed by
 * .ci/run) driven by playwright-core. Every panel renders with data, nothing logs an error, nothing is
 * fetched from the network, a filter redraws the charts, and a screenshot is kept in test-artifacts/.
 *
 * Without a Chromium the test is skipped locally with a message, but fails when REQUIRE_BROWSER=1
 * (set by .ci/run), so CI can never pass without having run it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestAttempt, type Dataset } from "../simulator/index.js";
import { buildReportHtml, writeReport } from "../report/build.js";
import { PANELS } from "../report/model.js";
import { NO_FILTER } from "../report/aggregate.js";
import { dagLayout, LAYER_WIDTH } from "../report/dag-panel.js";
import { buildReportWarehouse, REPORT_ANCHOR } from "./report-fixture.js";

const ARTIFACTS = resolve(import.meta.dirname, "..", "test-artifacts");
const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
const executablePath = CANDIDATES.find((p): p is string => typeof p === "string" && p !== "" && existsSync(p));
const required = process.env.REQUIRE_BROWSER === "1";

// The launch flags the project standardises on: no sandbox (CI runs as root), no GPU, and none of
// Chromium's own background traffic, so "no network request" below means the page made none.
const ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

if (!executablePath && !required) console.warn("report-browser.test: no Chromium found (apt-get install chromium, or set CHROMIUM_PATH); skipping");

describe.skipIf(!executablePath && !required)("dashboard in headless Chromium", () => {
  let dir: string;
  let userDataDir: string;
  let dataset: Dataset;
  let reportPath: string;
  let duckdbPath: string;
  let context: BrowserContext;
  let page: Page;
  const problems: string[] = [];
  const requests: string[] = [];

  beforeAll(async () => {
    if (!executablePath) throw new Error("REQUIRE_BROWSER=1 but no Chromium: install it with apt-get install chromium or set CHROMIUM_PATH");
    dir = mkdtempSync(join(tmpdir(), "aw-report-browser-"));
    userDataDir = mkdtempSync(join(tmpdir(), "aw-chromium-profile-"));
    const built = await buildReportWarehouse(dir);
    dataset = built.dataset;
    duckdbPath = built.duckdbPath;
    mkdirSync(ARTIFACTS, { recursive: true });
    reportPath = (await writeReport({ duckdbPath: built.duckdbPath, out: join(ARTIFACTS, "report.html"), now: new Date(REPORT_ANCHOR) })).path;
    context = await chromium.launchPersistentContext(userDataDir, { executablePath, headless: true, args: ARGS, viewport: { width: 1400, height: 1000 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await page.route("**/*", async (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(reportPath).href);
    await page.waitForSelector("html[data-ready=true]", { timeout: 30_000 });
  }, 300_000);

  afterAll(async () => {
    await context?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  });

  const points = (id: string) => page.$eval(`#panel-${id}`, (el) => Number((el as HTMLElement).dataset.points));
  const svgShapes = (id: string) => page.$$eval(`#panel-${id} svg path, #panel-${id} svg rect, #panel-${id} svg circle`, (els) => els.length);
  const legend = (chartId: string) => page.$$eval(`#${chartId} svg text`, (els) => els.map((e) => e.textContent ?? ""));

  it("renders every panel with data, without console errors or network requests", async () => {
    for (const panel of PANELS) {
      expect(await points(panel.id), panel.id).toBeGreaterThan(0);
      expect(await svgShapes(panel.id), panel.id).toBeGreaterThan(3);
      expect(await page.$eval(`#panel-${panel.id}`, (el) => el.classList.contains("empty")), panel.id).toBe(false);
    }
    expect(await page.$$eval(".kpi", (els) => els.length)).toBe(4);
    expect(await page.$$eval(".kpi-spark svg path", (els) => els.length)).toBeGreaterThanOrEqual(4);
    expect(await page.$$eval("#running-table tr", (els) => els.length)).toBeGreaterThan(1);
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("shows the KPI numbers of the warehouse", async () => {
    const ref = Date.parse(REPORT_ANCHOR);
    const week = dataset.runs.filter((r) => latestAttempt(r).status === "completed" && Date.parse(r.created_at) >= ref - 7 * 86_400_000 && Date.parse(r.created_at) < ref);
    expect(await page.textContent("#kpi-total-runs .kpi-value")).toBe(week.length.toLocaleString("en-US"));
    expect(await page.textContent("#kpi-total-runs .kpi-change")).toMatch(/^[+−±]\d+\.\d% vs previous \([\d,]+\)$/);
    expect(await page.textContent("#kpi-success-rate .kpi-change")).toMatch(/ pp vs previous/);
  });

  it("redraws the charts when a filter changes", async () => {
    const repository = dataset.repos[0]?.full_name as string;
    const before = {
      pass: await points("pass-rate"),
      passLegend: await legend("chart-pass-rate"),
      topology: await points("topology"),
      costRepo: await points("cost-repo"),
      duration: await points("duration"),
    };
    await page.selectOption("#filter-repository", repository);
    expect(await page.textContent("#scope")).toContain(repository);
    const passLegend = await legend("chart-pass-rate");
    expect(passLegend).not.toEqual(before.passLegend);
    expect(passLegend.some((t) => t.includes(" · "))).toBe(false); // one repository: series named by workflow only
    expect(await points("topology")).toBeLessThan(before.topology);
    expect(await points("cost-repo")).toBe(1);
    expect(await page.$$eval("#filter-workflow option", (els) => els.length)).toBeGreaterThan(1);

    // A one-day range leaves one point per series.
    await page.fill("#filter-from", "2026-10-12");
    await page.dispatchEvent("#filter-from", "change");
    await page.fill("#filter-to", "2026-10-12");
    await page.dispatchEvent("#filter-to", "change");
    expect(await points("duration")).toBe(1);
    expect(await points("duration")).toBeLessThan(before.duration);

    await page.selectOption("#topology-weight", "runtime");
    await page.click("#filter-reset");
    expect(await points("pass-rate")).toBe(before.pass);
    expect(await points("cost-repo")).toBe(before.costRepo);
    expect(problems).toEqual([]);
  });

  it("draws the real workflow DAG, layered by needs, with critical paths, and falls back to names without definitions", async () => {
    const built = await writeReport({ duckdbPath, out: join(dir, "dag.html"), now: new Date(REPORT_ANCHOR) });
    const data = built.data;
    expect(data.dagNodes.filter((n) => n.type === "job").length).toBeGreaterThan(5);
    expect(await page.getAttribute("#panel-topology", "data-view")).toBe("dag");
    expect(Number(await page.getAttribute("#panel-topology", "data-workflows"))).toBeGreaterThan(1);
    expect(Number(await page.getAttribute("#panel-topology", "data-critical"))).toBeGreaterThan(1);
    // acme/api CI: build needs lint, so build is laid out one layer right of lint; the critical path edges are red.
    const layout = dagLayout(data, NO_FILTER, "failures", 50);
    const apiCi = (job: string) => layout.nodes.find((n) => n.kind === "job" && n.band === "acme/api · CI" && n.name === job);
    expect(apiCi("lint")?.layer).toBe(0);
    expect(apiCi("build")?.layer).toBe(1);
    expect((apiCi("build")?.x ?? 0) - (apiCi("lint")?.x ?? 0)).toBe(LAYER_WIDTH);
    const labels = await page.$$eval("#chart-topology svg text", (els) => els.map((e) => e.textContent ?? ""));
    for (const job of ["lint", "build"]) expect(labels).toContain(job);
    expect(await page.$$eval('#chart-topology svg path[stroke="#dc2626"]', (els) => els.length)).toBeGreaterThan(0);
    expect(await page.$$eval("#dag-paths tr", (els) => els.length)).toBeGreaterThan(2);
    await page.selectOption("#topology-weight", "runtime");
    expect(Number(await page.getAttribute("#panel-topology", "data-points"))).toBeGreaterThan(5);
    await page.selectOption("#topology-weight", "failures");

    // The same warehouse without extracted definitions: the name-based topology, still without errors.
    const fallback = join(dir, "names.html");
    writeFileSync(fallback, await buildReportHtml({ ...data, dagNodes: [], dagEdges: [], criticalPaths: [] }));
    const other = await context.newPage();
    other.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
    });
    other.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    await other.route("**/*", async (route) => {
      const url = route.request().url();
      if (url.startsWith("file:")) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await other.goto(pathToFileURL(fallback).href);
    await other.waitForSelector("html[data-ready=true]", { timeout: 30_000 });
    expect(await other.getAttribute("#panel-topology", "data-view")).toBe("names");
    expect(Number(await other.getAttribute("#panel-topology", "data-points"))).toBeGreaterThan(3);
    await other.close();
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
  });

  it("keeps a screenshot as a test artifact", async () => {
    await page.selectOption("#topology-weight", "failures");
    const path = join(ARTIFACTS, "report.png");
    await page.screenshot({ path, fullPage: true });
    expect(existsSync(path)).toBe(true);
    console.log(`dashboard screenshot: ${path}\ndashboard page: ${reportPath}`);
  });
});
