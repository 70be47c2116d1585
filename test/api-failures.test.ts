/**
 * Every API failure names the stage, the resource and the HTTP status (or the transport cause), and
 * says what to do next: against the simulator, and small local HTTP servers on 127.0.0.1 standing in
 * for a wrong GITHUB_API_URL, an HTML page, a closed port and a failing gateway. A token without
 * `read:packages` skips packages with a warning and keeps the runs.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateDataset, startSimulator, type Dataset, type Reply, type Simulator } from "../simulator/index.js";
import { runExtract } from "../extract/run.js";
import { ApiFailure } from "../extract/api-errors.js";
import type { ExtractConfigInput } from "../extract/config.js";
import { createLogger, type Logger } from "../log/logger.js";
import { cliSession } from "./cli-session.js";

const TOKEN = "ghp_apifailurestoken0123456789";
let dir: string;
let dataset: Dataset;
let simulator: Simulator;
let since: string;
let now: Date;

function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  return { log: createLogger({ json: true, level: "debug", write: (l) => out.push(l) }), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function input(extra: Partial<ExtractConfigInput>): ExtractConfigInput {
  return { apiUrl: simulator.url, token: TOKEN, since, now, stagingDir: join(dir, `staging-${Math.random().toString(36).slice(2)}`), retryTimeScaleMs: 10, ...extra };
}

async function failure(extra: Partial<ExtractConfigInput>, log: Logger = capture().log): Promise<ApiFailure> {
  const error = await runExtract(input(extra), { log }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiFailure);
  return error as ApiFailure;
}

/** A local HTTP server answering every request with `answer`. */
async function server(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void>; requests: () => number }> {
  let requests = 0;
  const s: Server = createServer((req, res) => {
    requests += 1;
    answer(req, res);
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      }),
  };
}

/** A port nothing listens on: a server's, closed. */
async function closedPort(): Promise<number> {
  const s = await server((_q, r) => r.end());
  const port = Number(new URL(s.url).port);
  await s.close();
  return port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "aw-api-failures-"));
  dataset = generateDataset({ seed: "api-failures", days: 2, runsPerRepoPerDay: 2, busyDayRuns: 0, bigRunJobs: 3, bigPackageVersions: 3 });
  simulator = await startSimulator({ dataset, token: TOKEN });
  now = new Date(dataset.anchor);
  since = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
});
afterAll(async () => {
  await simulator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a missing resource names it and says how to fix it", () => {
  it("missing repository: names owner/name, the 404, the spelling and the token's access", async () => {
    const f = await failure({ repos: ["acme/no-such-repo"], packages: false });
    expect(f.kind).toBe("repository-not-found");
    expect(f.status).toBe(404);
    expect(f.message).toMatch(/^listing (?:workflows|workflow runs) of repository acme\/no-such-repo failed: HTTP 404 "Not Found" from GET \/repos\/acme\/no-such-repo\/actions\//);
    expect(f.message).toContain("repository acme/no-such-repo does not exist or the token cannot see it");
    expect(f.message).toContain("Check the spelling of acme/no-such-repo");
    expect(f.message).toContain("classic token with the repo scope");
    expect(f.message).toContain("GitHub App installed on acme");
  });

  it("missing organisation and missing user: names the login and the flag to check", async () => {
    const org = await failure({ orgs: ["acme-typo"] });
    expect(org.kind).toBe("owner-not-found");
    expect(org.message).toMatch(/^listing repositories of organisation acme-typo failed: HTTP 404 "Not Found" from GET \/orgs\/acme-typo\/repos: no organisation acme-typo is visible at http:\/\/127\.0\.0\.1:\d+/);
    expect(org.message).toContain("Check the spelling of --org acme-typo (a personal account is --user acme-typo");

    const user = await failure({ users: ["nobody-here"] });
    expect(user.kind).toBe("owner-not-found");
    expect(user.message).toMatch(/^listing repositories of user nobody-here failed: HTTP 404 .* no user nobody-here is visible/);
    expect(user.message).toContain("Check the spelling of --user nobody-here");
  });

  it("through the command line: exit 1, one error line with the whole message, no Octokit noise", async () => {
    const session = cliSession({ GITHUB_API_URL: simulator.url, GITHUB_TOKEN: TOKEN, LOG_LEVEL: "info" });
    try {
      const code = await session.run("extract", "--repo", "acme/no-such-repo", "--since", since, "--no-packages", "--staging-dir", join(dir, "cli-staging"), "--duckdb-path", join(dir, "cli.duckdb"));
      expect(code).toBe(1);
      const errors = session.stderr.split("\n").filter((l) => l.includes('"level":"error"'));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.at(-1)).toContain("repository acme/no-such-repo does not exist or the token cannot see it");
      expect(session.stderr).not.toMatch(/with id [\w-]+ in \d+ms/);
      expect(session.stderr).not.toContain("Not Found - https://docs.github.com/rest");
    } finally {
      session.close();
    }
  });
});

describe("a GITHUB_API_URL that is not a GitHub REST API", () => {
  it("a path answering 404 to everything (https://HOST/api instead of /api/v3): says so and suggests /api/v3", async () => {
    const s = await server((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: "Not Found" }));
    });
    try {
      const f = await failure({ apiUrl: `${s.url}/api`, repos: ["acme/api"], packages: false });
      expect(f.kind).toBe("not-a-github-api");
      expect(f.status).toBe(404);
      expect(f.message).toContain(`the API root ${s.url}/api/ does not answer like a GitHub REST API either`);
      expect(f.message).toContain(`GITHUB_API_URL ${s.url}/api does not look like a GitHub REST API: for GitHub Enterprise Server use https://HOST/api/v3 (here probably ${s.url}/api/v3)`);
    } finally {
      await s.close();
    }
  });

  it("an HTML 404 page (a web server, not the API): the same advice", async () => {
    const s = await server((_req, res) => {
      res.writeHead(404, { "content-type": "text/html; charset=utf-8" });
      res.end("<!DOCTYPE html><html><head><title>Page not found</title></head><body>404</body></html>");
    });
    try {
      const f = await failure({ apiUrl: s.url, orgs: ["acme"] });
      expect(f.kind).toBe("not-a-github-api");
      expect(f.message).toMatch(/^listing repositories of organisation acme failed: GET \/orgs\/acme\/repos answered HTTP 404 with content-type text\/html; charset=utf-8, not JSON \(page title "Page not found"\)/);
      expect(f.message).toContain(`GITHUB_API_URL ${s.url} does not look like a GitHub REST API: for GitHub Enterprise Server use https://HOST/api/v3`);
    } finally {
      await s.close();
    }
  });

  it("an HTML answer (a proxy or login page): names the content-type, not 'expected a JSON array', and is not retried", async () => {
    const s = await server((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><head><title>Sign in - Corporate Proxy</title></head><body><form></form></body></html>");
    });
    try {
      const f = await failure({ apiUrl: s.url, orgs: ["acme"] });
      expect(f.kind).toBe("not-json");
      expect(f.status).toBe(200);
      expect(f.message).toContain('listing repositories of organisation acme failed: GET /orgs/acme/repos answered HTTP 200 with content-type text/html, not JSON (page title "Sign in - Corporate Proxy")');
      expect(f.message).toContain("likely a proxy or login page, or a wrong GITHUB_API_URL");
      expect(f.message).toContain(`Check any proxy between this machine and 127.0.0.1:${new URL(s.url).port}, and GITHUB_API_URL (${s.url}): for GitHub Enterprise Server use https://HOST/api/v3`);
      expect(f.message).not.toContain("expected a JSON array");
      expect(s.requests()).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe("no answer at all gives up fast and names the host", () => {
  it("a refused connection: 3 attempts within seconds (real back-off, not minutes), warn lines with ECONNREFUSED, not '500'", async () => {
    const port = await closedPort();
    const { log, lines } = capture();
    const started = Date.now();
    const f = await failure({ apiUrl: `http://127.0.0.1:${port}`, repos: ["acme/api"], packages: false, retryTimeScaleMs: 1000, maxRetrySeconds: 60 }, log);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(6000);
    expect(f.kind).toBe("unreachable");
    expect(f.status).toBeNull();
    expect(f.details.cause).toBe("ECONNREFUSED");
    expect(f.details.attempts).toBe(3);
    expect(f.message).toMatch(new RegExp(`^listing (?:workflows|workflow runs) of repository acme/api failed: cannot connect to 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED: nothing listens there\\) after 3 attempts over \\d\\.\\d s`));
    expect(f.message).toContain(`Check GITHUB_API_URL (http://127.0.0.1:${port}) and the network between this machine and 127.0.0.1:${port}`);
    const retries = lines().filter((l) => l.level === "warn" && String(l.msg).startsWith("retrying"));
    expect(retries.length).toBeGreaterThanOrEqual(2);
    for (const l of retries) expect(l.cause).toBe("ECONNREFUSED");
    // Octokit's own per-exchange lines ("GET ... - 500 with id UNKNOWN") are debug only.
    expect(lines().filter((l) => l.level !== "debug" && /500 with id UNKNOWN/.test(String(l.msg)))).toEqual([]);
    expect(lines().filter((l) => l.level === "error")).toHaveLength(1);
  }, 20_000);

  it("an unknown host: ENOTFOUND, named with the host", async () => {
    const f = await failure({ apiUrl: "http://no-such-host.invalid/api/v3", repos: ["acme/api"], packages: false, retryTimeScaleMs: 100 });
    expect(f.kind).toBe("unreachable");
    expect(["ENOTFOUND", "EAI_AGAIN"]).toContain(f.details.cause);
    expect(f.message).toMatch(/cannot resolve host no-such-host\.invalid \((?:ENOTFOUND|EAI_AGAIN)\)/);
    expect(f.message).toContain("Check GITHUB_API_URL (http://no-such-host.invalid/api/v3)");
  }, 20_000);

  it("--max-retry-seconds bounds the retries of a failing gateway: gives up with the status and the attempts", async () => {
    const s = await server((_req, res) => {
      res.writeHead(502, { "content-type": "text/html" });
      res.end("<html><body>Bad gateway</body></html>");
    });
    try {
      const started = Date.now();
      const f = await failure({ apiUrl: s.url, repos: ["acme/api"], packages: false, retryTimeScaleMs: 1000, maxRetrySeconds: 2, concurrency: 1 });
      expect(Date.now() - started).toBeLessThan(6000);
      expect(f.kind).toBe("server-error");
      expect(f.status).toBe(502);
      // 1 s after the first attempt, then the next back-off (4 s) would pass the 2 s limit.
      expect(f.details.attempts).toBe(2);
      expect(f.message).toMatch(/failed: HTTP 502 from GET \/repos\/acme\/api\/actions\/\S+ after 2 attempts over \d\.\d s\. GitHub \(or a proxy in front of it\) kept failing: run again later/);
    } finally {
      await s.close();
    }
  }, 20_000);
});

describe("credentials and permissions", () => {
  it("401 with a wrong token: says the token was rejected and to set GITHUB_TOKEN", async () => {
    const f = await failure({ token: "ghp_wrongtoken9876543210", repos: ["acme/api"], packages: false });
    expect(f.kind).toBe("bad-credentials");
    expect(f.status).toBe(401);
    expect(f.message).toMatch(/of repository acme\/api failed: HTTP 401 "Bad credentials" from GET \/repos\/acme\/api\/actions\/\S+: bad credentials\. The token was rejected \(wrong, expired or revoked\): create a new one and set GITHUB_TOKEN\./);
    expect(f.message).not.toContain("ghp_wrongtoken9876543210");
  });

  it("401 without a token: says none was sent", async () => {
    const f = await failure({ token: undefined, repos: ["acme/api"], packages: false });
    expect(f.kind).toBe("bad-credentials");
    expect(f.message).toMatch(/failed: HTTP 401 "[^"]+" from GET \/repos\/acme\/api\/actions\/\S+: bad credentials\. No token was sent: set GITHUB_TOKEN/);
  });

  it("403 without rate-limit headers: a missing scope or permission, or SAML SSO, each said", async () => {
    let sso = false;
    const forbidden = await startSimulator({
      dataset,
      faults: (c): Reply | undefined =>
        c.route.startsWith("GET /repos/{owner}/{repo}/actions")
          ? !sso
            ? { status: 403, body: { message: "Resource not accessible by personal access token", documentation_url: "https://docs.github.com/rest" }, headers: { "x-accepted-oauth-scopes": "repo", "x-oauth-scopes": "public_repo" } }
            : { status: 403, body: { message: "Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.", documentation_url: "https://docs.github.com" }, headers: { "x-github-sso": "required; url=https://github.com/orgs/acme/sso?authorization_request=ABC123" } }
          : undefined,
    });
    try {
      const f = await failure({ apiUrl: forbidden.url, repos: ["acme/api"], packages: false });
      expect(f.kind).toBe("forbidden");
      expect(f.message).toMatch(/failed: HTTP 403 "Resource not accessible by personal access token" from GET \/repos\/acme\/api\/actions\/\S+: the token is not allowed to read this \(a missing scope or permission\)\. Give the token access: a classic token needs the repo scope for private repositories/);
      expect(f.message).toContain("This endpoint needs the scope repo (the token's scopes: public_repo)");

      sso = true;
      const s = await failure({ apiUrl: forbidden.url, repos: ["acme/web"], packages: false });
      expect(s.kind).toBe("sso-required");
      expect(s.message).toContain("the organisation enforces SAML single sign-on and this token is not authorised for it. Authorise the token for the organisation at https://github.com/orgs/acme/sso?authorization_request=ABC123");
    } finally {
      await forbidden.close();
    }
  });
});

describe("a token without read:packages", () => {
  it("the simulator answers the packages endpoints like GitHub: 403 naming the scope, with x-oauth-scopes", async () => {
    const noPackages = await startSimulator({ dataset, token: TOKEN, scopes: ["repo", "read:org"] });
    try {
      const res = await fetch(`${noPackages.url}/orgs/${dataset.org.login}/packages?package_type=npm`, { headers: { authorization: `token ${TOKEN}` } });
      expect(res.status).toBe(403);
      expect(res.headers.get("x-oauth-scopes")).toBe("repo, read:org");
      expect(res.headers.get("x-accepted-oauth-scopes")).toBe("read:packages");
      expect(((await res.json()) as { message: string }).message).toBe("You need at least read:packages scope to list packages.");
      const repos = await fetch(`${noPackages.url}/orgs/${dataset.org.login}/repos`, { headers: { authorization: `token ${TOKEN}` } });
      expect(repos.status).toBe(200);
      const withScope = await startSimulator({ dataset, token: TOKEN, scopes: ["repo", "read:packages"] });
      try {
        const ok = await fetch(`${withScope.url}/orgs/${dataset.org.login}/packages?package_type=npm`, { headers: { authorization: `token ${TOKEN}` } });
        expect(ok.status).toBe(200);
      } finally {
        await withScope.close();
      }
    } finally {
      await noPackages.close();
    }
  });

  it("skips packages with a warning naming read:packages and --no-packages; the runs are kept and the manifest written (CLI, exit 0)", async () => {
    const noPackages = await startSimulator({ dataset, token: TOKEN, scopes: ["repo"] });
    const session = cliSession({ GITHUB_API_URL: noPackages.url, GITHUB_TOKEN: TOKEN, LOG_LEVEL: "info" });
    try {
      const stagingDir = join(dir, "no-packages-staging");
      const code = await session.run("extract", "--org", dataset.org.login, "--user", dataset.user.login, "--since", since, "--until", now.toISOString().slice(0, 10), "--staging-dir", stagingDir, "--duckdb-path", join(dir, "no-packages.duckdb"));
      expect(code, session.stderr).toBe(0);
      const lines = session.stderr.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((l) => l.level === "error")).toEqual([]);
      const warnings = lines.filter((l) => l.level === "warn" && String(l.msg).startsWith("packages of "));
      expect(warnings.map((w) => w.owner).sort()).toEqual([dataset.org.login, dataset.user.login].sort());
      const org = warnings.find((w) => w.owner === dataset.org.login);
      expect(org?.msg).toMatch(new RegExp(`^packages of organisation ${dataset.org.login} skipped: HTTP 403 "You need at least read:packages scope to (?:list packages|get a package's versions)\\." from GET /orgs/${dataset.org.login}/packages`));
      expect(org?.msg).toContain("the token cannot read GitHub Packages; it lacks the read:packages scope (the token's scopes: repo)");
      expect(org?.msg).toContain("Add read:packages to the token");
      expect(org?.msg).toContain("or run with --no-packages");
      expect(org?.msg).toContain("The workflow runs of this extract are kept.");
      expect(session.stdout).toMatch(/workflow_runs\s+\d+/);
      expect(session.stdout).not.toMatch(/^package(?:s|_versions)\s+\d/m);
      expect(session.stdout).toContain(`packages skipped for ${dataset.org.login}, ${dataset.user.login}: the token lacks the read:packages scope; add it (or set GITHUB_PACKAGES_TOKEN to a classic token with read:packages) or run with --no-packages; workflow runs were kept`);
      expect(session.stdout).toMatch(/manifest \S+\.json/);
    } finally {
      session.close();
      await noPackages.close();
    }
  }, 60_000);

  it("in the extract result: packagesSkipped and its reason, runs counted, no package rows", async () => {
    const noPackages = await startSimulator({ dataset, token: TOKEN, scopes: ["repo"] });
    try {
      const result = await runExtract(input({ apiUrl: noPackages.url, orgs: [dataset.org.login] }), { log: capture().log });
      expect(result.packagesSkipped).toEqual([dataset.org.login]);
      expect(result.packagesSkippedReason).toContain("read:packages");
      expect(result.manifest.counts.workflow_runs).toBeGreaterThan(0);
      expect(result.manifest.counts.packages ?? 0).toBe(0);
    } finally {
      await noPackages.close();
    }
  }, 60_000);
});
