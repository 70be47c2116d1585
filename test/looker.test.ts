/**
 * `looker-link` prints a Looker Studio Linking API URL bound to every rpt_* view, and docs/looker-studio.md
 * names only fields that exist in the views (read independently from each SQLX file's `columns:`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../jobs/cli.js";
import { aliasOf, lookerLink, reportingViews } from "../jobs/looker-link.js";
import { projectRoot } from "../transform/compile.js";

const REPORT = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

function viewColumns(view: string): string[] {
  const sqlx = readFileSync(join(projectRoot, "definitions", "reporting", `${view}.sqlx`), "utf8");
  const block = /columns:\s*\{([\s\S]*?)\n\s*\}/.exec(sqlx)?.[1] ?? "";
  return [...block.matchAll(/^\s+([a-z0-9_]+):/gm)].map((m) => m[1] ?? "");
}

async function cliOutput(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => {
    out += `${parts.join(" ")}\n`;
  });
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  const code = await main(["node", "actions-warehouse", ...args]);
  return { code, out };
}

describe("looker-link", () => {
  afterEach(() => vi.restoreAllMocks());

  it("prints a Linking API URL binding the template report to every rpt_* view in the project", async () => {
    const { code, out } = await cliOutput(["looker-link", "--project", "acme-analytics", "--report-id", REPORT, "--report-name", "Acme CI health"]);
    expect(code).toBe(0);
    const url = new URL(out.trim());
    expect(`${url.origin}${url.pathname}`).toBe("https://lookerstudio.google.com/reporting/create");
    const params = Object.fromEntries(url.searchParams);
    expect(params["c.reportId"]).toBe(REPORT);
    expect(params["r.reportName"]).toBe("Acme CI health");
    expect(out).toContain("r.reportName=Acme%20CI%20health");

    const views = reportingViews();
    expect(views.length).toBeGreaterThanOrEqual(9);
    const expected: Record<string, string> = { "c.reportId": REPORT, "r.reportName": "Acme CI health" };
    for (const view of views) {
      const a = aliasOf(view);
      expect(a).toMatch(/^[A-Za-z][A-Za-z0-9]*$/);
      Object.assign(expected, {
        [`ds.${a}.connector`]: "bigQuery",
        [`ds.${a}.type`]: "TABLE",
        [`ds.${a}.projectId`]: "acme-analytics",
        [`ds.${a}.datasetId`]: "actions_warehouse",
        [`ds.${a}.tableId`]: view,
        [`ds.${a}.datasourceName`]: view,
      });
    }
    expect(params).toEqual(expected);
  });

  it("adds a billing project when asked, and rejects a report id that is not one", async () => {
    const url = new URL(lookerLink({ projectId: "acme-analytics", billingProjectId: "acme-billing" }, ["rpt_cost_monthly"]));
    expect(url.searchParams.get("ds.costMonthly.billingProjectId")).toBe("acme-billing");
    expect(url.searchParams.has("c.reportId")).toBe(false);
    const bad = await cliOutput(["looker-link", "--project", "acme-analytics", "--report-id", "https://lookerstudio.google.com/x"]);
    expect(bad.code).toBe(1);
  });

  it("a bad project id stops with a configuration error naming the flag", async () => {
    const stderr: string[] = [];
    vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
      stderr.push(String(c));
      return true;
    });
    expect(await main(["node", "actions-warehouse", "looker-link", "--project", "Not A Project"])).toBe(3);
    expect(stderr.join("")).toContain("--project");
  });
});

describe("docs/looker-studio.md", () => {
  const doc = readFileSync(join(projectRoot, "docs", "looker-studio.md"), "utf8");
  const rows = doc.split("\n").filter((l) => /^\| [^|]+ \| `rpt_[a-z_]+` \| /.test(l));

  it("describes every rpt_* view on some page, with its alias", () => {
    for (const view of reportingViews()) {
      expect(rows.some((r) => r.includes(`\`${view}\``)), view).toBe(true);
      expect(doc).toContain(`| \`${aliasOf(view)}\` | \`${view}\` |`);
    }
  });

  it("names only fields that exist in the view each chart reads", () => {
    expect(rows.length).toBeGreaterThan(15);
    for (const row of rows) {
      const [, , viewCell, fieldsCell] = row.split("|").map((c) => c.trim());
      const view = viewCell?.replaceAll("`", "") ?? "";
      const columns = viewColumns(view);
      const fields = [...(fieldsCell ?? "").matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1] ?? "");
      expect(fields.length, row).toBeGreaterThan(0);
      for (const f of fields) expect(columns, `${view}.${f}`).toContain(f);
    }
  });
});
