import { describe, expect, it } from "vitest";
import { createdQualifier, splitWindow, windowOf, windowSeconds, type Window } from "../extract/windows.js";
import { ConfigError, extractWindow, parseExtractConfig } from "../extract/config.js";
import { createLogger, registerSecret } from "../log/logger.js";

describe("created windows", () => {
  it("splits a window into disjoint halves that cover every second exactly once", () => {
    const w = windowOf(new Date("2026-10-01T00:00:00Z"), new Date("2026-10-01T23:59:59Z"));
    const leaves: Window[] = [];
    const walk = (x: Window, depth: number) => {
      if (depth === 0 || windowSeconds(x) < 2) return leaves.push(x);
      const [a, b] = splitWindow(x);
      walk(a, depth - 1);
      walk(b, depth - 1);
    };
    walk(w, 12);
    expect(leaves.reduce((n, x) => n + windowSeconds(x), 0)).toBe(86_400);
    for (let i = 1; i < leaves.length; i += 1) {
      expect(leaves[i]!.from.getTime()).toBe(leaves[i - 1]!.to.getTime() + 1000);
    }
  });

  it("renders GitHub's inclusive created range at second precision", () => {
    const w = windowOf(new Date("2026-10-01T00:00:00.400Z"), new Date("2026-10-02T12:30:15.999Z"));
    expect(createdQualifier(w)).toBe("2026-10-01T00:00:00Z..2026-10-02T12:30:15Z");
  });

  it("refuses to split a single second", () => {
    const s = new Date("2026-10-01T00:00:00Z");
    expect(() => splitWindow({ from: s, to: s })).toThrow(/one-second window/);
  });
});

describe("extract configuration", () => {
  const base = { repos: ["acme/api"], since: "2026-10-01", stagingDir: "/tmp/x" };

  it("names the field and the accepted values", () => {
    const attempt = (input: object) => {
      try {
        parseExtractConfig({ ...base, ...input });
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).message;
      }
      throw new Error("expected a ConfigError");
    };
    expect(attempt({ since: "01/10/2026" })).toMatch(/since: --since must be a date YYYY-MM-DD/);
    expect(attempt({ repos: ["acme"] })).toMatch(/repos\.0: --repo must be OWNER\/NAME/);
    expect(attempt({ repos: [], orgs: [] })).toMatch(/nothing to extract/);
    expect(attempt({ packageTypes: ["pypi"] })).toMatch(/--package-type must be one of npm, maven, rubygems, docker, nuget, container/);
    expect(attempt({ apiUrl: "not a url" })).toMatch(/GITHUB_API_URL must be an http\(s\) URL/);
    expect(attempt({ until: "2026-09-01" })).toMatch(/--until must be on or after --since/);
  });

  it("covers whole UTC days and never runs past now", () => {
    const now = new Date("2026-10-05T10:00:00Z");
    const c = parseExtractConfig({ ...base, until: "2026-10-02", now });
    expect(extractWindow(c)).toEqual({ since: new Date("2026-10-01T00:00:00Z"), until: new Date("2026-10-02T23:59:59Z") });
    expect(extractWindow(parseExtractConfig({ ...base, now })).until).toEqual(now);
  });
});

describe("logger", () => {
  it("redacts registered secrets from every line, JSON or not", () => {
    const lines: string[] = [];
    registerSecret("ghp_supersecret123");
    const log = createLogger({ json: true, write: (l) => lines.push(l) });
    log.info("calling with ghp_supersecret123", { header: "token ghp_supersecret123" });
    createLogger({ json: false, write: (l) => lines.push(l) }).warn("x", { t: "ghp_supersecret123" });
    expect(lines.join("\n")).not.toContain("ghp_supersecret123");
    expect(lines[0]).toContain("***");
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "info", header: "token ***" });
  });
});
