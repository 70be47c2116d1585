/**
 * Webhooks of the simulator: repository hooks, organisation hooks and the App hook, each with its
 * deliveries, in GitHub's wire format (`hook-delivery-item` and `hook-delivery` of `@octokit/openapi`).
 *
 * - Deliveries are seeded and deterministic (for a given seed and generation time `now`): events of the
 *   dataset's repositories (`workflow_run`, `workflow_job`) spread over `spanHours` before `now`; a share
 *   of first attempts failed (5xx answers, or status code 0 with "failed to connect to host" / "timed
 *   out"), and some failures were already redelivered (a newer delivery, `redelivery: true`, same GUID,
 *   successful or failed again).
 * - Retention: deliveries older than `retentionDays` (3 on github.com, 7 on GHES) are neither listed nor
 *   found, measured from the wall clock at request time.
 * - Lists are newest first with GitHub's cursor pagination: `per_page` (default 30, at most 100),
 *   `cursor` (opaque, `v1_<id>`: deliveries older than that id), a `Link` header with `rel="next"`
 *   while more remain, and the `status` filter (`success` = a 2xx status code, `failure` = anything else).
 * - `POST .../deliveries/{delivery_id}/attempts` answers 202 `{}`, records the request (see
 *   `HookStore.redeliveries`) and adds a new delivery with the same GUID and `redelivery: true`, whose
 *   outcome is `redeliveryOutcome` (default success). "pending" models a redelivery GitHub has queued but
 *   not attempted yet: listed with `status: "pending"` and `status_code: 0`.
 *
 * `recordDelivery` adds a delivery made by someone else.
 *
 * Push (`HookStore.push`, `Simulator.pushLifecycle`): POSTs the dataset's lifecycle to a URL as signed
 * deliveries of one hook (`X-Hub-Signature-256` = HMAC-SHA256 of the raw body, `X-GitHub-Event`,
 * `X-GitHub-Delivery`, `X-GitHub-Hook-ID`): each run attempt requested → in_progress → completed and each
 * of its jobs queued → in_progress → completed (as far as the dataset's state goes), carrying the REST
 * run and job objects the simulator serves; a seeded share swapped out of order and a share sent twice
 * with the same GUID. Every POST is recorded as a delivery of the hook with its HTTP result (status code
 * 0, "failed to connect to host", when the connection failed), so `redeliver` finds the failures; once a
 * push target is set, a redelivery requested through the API is POSTed to it again (listed as "pending"
 * until its answer arrives, then with that answer).
 */
import { createHmac } from "node:crypto";
import seedrandom from "seedrandom";
import { allJobsOf, type Dataset, type SimJob, type SimRepo, type SimRun, type SimRunAttempt } from "./dataset.js";
import type { Reply, RequestContext } from "./server.js";

export type RedeliveryOutcome = "success" | "failure" | "pending";

export interface HooksOptions {
  /** Default: the dataset's seed. */
  seed?: string | number;
  /** Generation time (ISO or epoch ms); default the wall clock when the simulator starts. */
  now?: string | number;
  /** Deliveries older than this are not listed (3 on github.com, the default; 7 on GHES). */
  retentionDays?: number;
  /** Repositories (`owner/name`) with a repository hook; default the dataset's first repository. */
  repos?: string[];
  /** Organisations with an organisation hook; default the dataset's organisation. */
  orgs?: string[];
  /** Whether the App has a hook (default true). */
  app?: boolean;
  /** Events per hook (default 80). */
  events?: number;
  /** Hours before `now` the events spread over (default 96, so some are past a 3-day retention). */
  spanHours?: number;
  /** Share of first attempts that failed (default 0.2). */
  failureRate?: number;
  /** Outcome of a redelivery requested through the API (default "success"). */
  redeliveryOutcome?: RedeliveryOutcome | ((delivery: HookDelivery) => RedeliveryOutcome);
}

export type HookScope = { kind: "repo"; repo: string } | { kind: "org"; org: string } | { kind: "app" };

export interface HookDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  throttled_at: string | null;
  request: { headers: Record<string, string>; payload: Record<string, unknown> };
  response: { headers: Record<string, string> | null; payload: string | null };
}

export interface SimHook {
  id: number;
  scope: HookScope;
  /** Ascending by id (which is ascending by `delivered_at`). */
  deliveries: HookDelivery[];
}

/** One `POST .../attempts` the simulator answered 202. */
export interface RedeliveryRequest {
  hookId: number;
  deliveryId: number;
  guid: string;
  /** ISO time of the request. */
  at: string;
  /** The delivery the request created. */
  newDeliveryId: number;
}

const DOCS = "https://docs.github.com/rest/webhooks";
const notFound = (): Reply => ({ status: 404, body: { message: "Not Found", documentation_url: DOCS } });
const isoSec = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

const FAILURES: { status_code: number; status: string }[] = [
  { status_code: 502, status: "Invalid HTTP Response: 502" },
  { status_code: 503, status: "Invalid HTTP Response: 503" },
  { status_code: 500, status: "Invalid HTTP Response: 500" },
  { status_code: 0, status: "failed to connect to host" },
  { status_code: 0, status: "timed out" },
];
const SUCCESS = { status_code: 200, status: "OK" };
const RUN_ACTIONS = ["requested", "in_progress", "completed"];
const JOB_ACTIONS = ["queued", "in_progress", "completed"];

export interface PushOptions {
  url: string;
  secret: string;
  /** Hook whose deliveries these are; default the first organisation hook (else the first hook). */
  hookId?: number;
  /** Runs to push (default every run of the dataset). */
  runIds?: number[];
  /** Default: the dataset's seed. */
  seed?: string | number;
  /** Share of events sent twice with the same GUID (default 0.05). */
  duplicateRate?: number;
  /** Share of events swapped with their successor (default 0.1). */
  outOfOrderRate?: number;
  /** Concurrent POSTs (default 8). */
  concurrency?: number;
  /** Per-POST timeout (default 10 s, GitHub's). */
  timeoutMs?: number;
}

export interface PushResult {
  /** POSTs made (duplicates included). */
  sent: number;
  /** Answered 2xx. */
  ok: number;
  failed: number;
  duplicates: number;
  outOfOrder: number;
  /** Distinct events (GUIDs). */
  events: number;
}

/** Renders the REST objects the simulator serves (server.ts passes its own). */
export interface PushRender {
  run(run: SimRun, attempt: SimRunAttempt): Record<string, unknown>;
  job(run: SimRun, job: SimJob): Record<string, unknown>;
}

interface PushEvent {
  at: number;
  guid: string;
  event: "workflow_run" | "workflow_job";
  action: string;
  repositoryId: number;
  body: string;
}

export const isSuccessful = (d: Pick<HookDelivery, "status_code">): boolean => d.status_code >= 200 && d.status_code < 300;

export class HookStore {
  readonly hooks: SimHook[] = [];
  private readonly requests: RedeliveryRequest[] = [];
  private target: { url: string; secret: string; timeoutMs: number } | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private nextId: number;
  private readonly retentionMs: number;

  constructor(
    private readonly ds: Dataset,
    private readonly options: HooksOptions = {},
    private readonly clock: () => number = Date.now,
  ) {
    this.retentionMs = (options.retentionDays ?? 3) * 86_400_000;
    const rng = seedrandom.alea(`${options.seed ?? ds.seed}|hooks`);
    const now = options.now === undefined ? clock() : typeof options.now === "number" ? options.now : Date.parse(options.now);
    const scopes: HookScope[] = [
      ...(options.repos ?? ds.repos.slice(0, 1).map((r) => r.full_name)).map((repo): HookScope => ({ kind: "repo", repo })),
      ...(options.orgs ?? [ds.org.login]).map((org): HookScope => ({ kind: "org", org })),
      ...(options.app === false ? [] : [{ kind: "app" } as HookScope]),
    ];
    const attempts: { hook: SimHook; at: number; d: Omit<HookDelivery, "id" | "delivered_at"> }[] = [];
    let n = { repo: 0, org: 0, app: 0 };
    for (const scope of scopes) {
      n = { ...n, [scope.kind]: n[scope.kind] + 1 };
      const id = (scope.kind === "repo" ? 400_000_000 : scope.kind === "org" ? 500_000_000 : 600_000_000) + n[scope.kind];
      const hook: SimHook = { id, scope, deliveries: [] };
      this.hooks.push(hook);
      const repos = this.reposOf(scope);
      if (repos.length === 0) continue;
      const events = options.events ?? 80;
      const span = (options.spanHours ?? 96) * 3600_000;
      for (let i = 0; i < events; i++) {
        const repo = repos[Math.floor(rng() * repos.length)] as SimRepo;
        const at = now - Math.floor(rng() * span);
        const job = rng() < 0.5;
        const action = (job ? JOB_ACTIONS : RUN_ACTIONS)[Math.floor(rng() * 3)] ?? "completed";
        const guid = uuidFrom(rng);
        const run = this.runOf(repo, rng);
        const base = {
          guid, event: job ? "workflow_job" : "workflow_run", action, installation_id: scope.kind === "app" ? 1 : null, repository_id: repo.id,
          request: this.request(hook, guid, job ? "workflow_job" : "workflow_run", { action, repository: { id: repo.id, full_name: repo.full_name }, ...(run ? { [job ? "workflow_job" : "workflow_run"]: { id: job ? run.id * 10 + 1 : run.id, run_id: run.id } } : {}) }),
        };
        const failed = rng() < (options.failureRate ?? 0.2);
        const first = failed ? (FAILURES[Math.floor(rng() * FAILURES.length)] ?? SUCCESS) : SUCCESS;
        attempts.push({ hook, at, d: { ...base, ...this.outcome(first, rng), redelivery: false, throttled_at: rng() < 0.03 ? isoSec(at - 2000) : null } });
        if (failed && rng() < 0.5) {
          const later = at + Math.floor((5 + rng() * 120) * 60_000);
          if (later < now) {
            const again = rng() < 0.6 ? SUCCESS : (FAILURES[Math.floor(rng() * FAILURES.length)] ?? SUCCESS);
            attempts.push({ hook, at: later, d: { ...base, ...this.outcome(again, rng), redelivery: true, throttled_at: null } });
          }
        }
      }
    }
    attempts.sort((a, b) => a.at - b.at);
    let id = 90_000_000_000;
    for (const a of attempts) a.hook.deliveries.push({ ...a.d, id: (id += 1 + Math.floor(rng() * 50)), delivered_at: isoSec(a.at) });
    this.nextId = id + 1000;
  }

  private reposOf(scope: HookScope): SimRepo[] {
    if (scope.kind === "repo") return this.ds.repos.filter((r) => r.full_name.toLowerCase() === scope.repo.toLowerCase());
    if (scope.kind === "org") return this.ds.repos.filter((r) => r.owner.toLowerCase() === scope.org.toLowerCase());
    return this.ds.repos;
  }

  private runOf(repo: SimRepo, rng: () => number): SimRun | undefined {
    const runs = this.ds.runs.filter((r) => r.repo === repo.full_name);
    return runs[Math.floor(rng() * runs.length)];
  }

  private request(hook: SimHook, guid: string, event: string, payload: Record<string, unknown>): HookDelivery["request"] {
    return {
      headers: {
        Accept: "*/*", "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/sim", "X-GitHub-Delivery": guid, "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": String(hook.id), "X-GitHub-Hook-Installation-Target-Type": hook.scope.kind === "app" ? "integration" : hook.scope.kind === "org" ? "organization" : "repository",
      },
      payload,
    };
  }

  private outcome(o: { status_code: number; status: string }, rng: () => number): Pick<HookDelivery, "status" | "status_code" | "duration" | "response"> {
    const duration = o.status === "timed out" ? 10 : Math.round((0.02 + rng() * 0.4) * 100) / 100;
    const response = o.status_code === 0 ? { headers: null, payload: null } : { headers: { "Content-Type": "application/json" }, payload: isSuccessful(o) ? '{"ok":true}' : "Bad Gateway" };
    return { status: o.status, status_code: o.status_code, duration, response };
  }

  hook(id: number): SimHook | undefined {
    return this.hooks.find((h) => h.id === id);
  }

  /** Deliveries still inside the retention, newest first. */
  visible(hook: SimHook): HookDelivery[] {
    const cutoff = this.clock() - this.retentionMs;
    return hook.deliveries.filter((d) => Date.parse(d.delivered_at) >= cutoff).reverse();
  }

  redeliveries(): RedeliveryRequest[] {
    return this.requests.map((r) => ({ ...r }));
  }

  /** Adds a delivery (a redelivery, or one made by `pushLifecycle`); returns it. */
  recordDelivery(hook: SimHook, d: Omit<HookDelivery, "id" | "delivered_at"> & { delivered_at?: string }): HookDelivery {
    const delivery: HookDelivery = { ...d, id: (this.nextId += 1), delivered_at: d.delivered_at ?? isoSec(this.clock()) };
    hook.deliveries.push(delivery);
    return delivery;
  }

  private redeliver(hook: SimHook, original: HookDelivery): RedeliveryRequest {
    const target = this.target;
    if (target && original.request.headers["X-Hub-Signature-256"]) {
      const { id: _id, delivered_at: _at, ...rest } = original;
      const created = this.recordDelivery(hook, { ...rest, status: "pending", status_code: 0, duration: 0, response: { headers: null, payload: null }, redelivery: true, throttled_at: null });
      const request: RedeliveryRequest = { hookId: hook.id, deliveryId: original.id, guid: original.guid, at: new Date(this.clock()).toISOString(), newDeliveryId: created.id };
      this.requests.push(request);
      this.track(this.send(target, original.request.headers, JSON.stringify(original.request.payload)).then((result) => Object.assign(created, result)));
      return request;
    }
    const option = this.options.redeliveryOutcome ?? "success";
    const outcome = typeof option === "function" ? option(original) : option;
    const result =
      outcome === "success"
        ? { status: "OK", status_code: 200, duration: 0.05, response: { headers: { "Content-Type": "application/json" }, payload: '{"ok":true}' } }
        : outcome === "pending"
          ? { status: "pending", status_code: 0, duration: 0, response: { headers: null, payload: null } }
          : { status: "Invalid HTTP Response: 503", status_code: 503, duration: 0.1, response: { headers: { "Content-Type": "text/plain" }, payload: "Service Unavailable" } };
    const { id: _id, delivered_at: _at, ...rest } = original;
    const created = this.recordDelivery(hook, { ...rest, ...result, redelivery: true, throttled_at: null });
    const request: RedeliveryRequest = { hookId: hook.id, deliveryId: original.id, guid: original.guid, at: new Date(this.clock()).toISOString(), newDeliveryId: created.id };
    this.requests.push(request);
    return request;
  }

  private track(p: Promise<unknown>): void {
    const done: Promise<void> = p.then(
      () => undefined,
      () => undefined,
    ).finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }

  /** Resolves once every redelivery POSTed to the push target has its answer. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.all([...this.inFlight]);
  }

  /** One signed POST; its result as a delivery's fields. */
  private async send(target: { url: string; timeoutMs: number }, headers: Record<string, string>, body: string): Promise<Pick<HookDelivery, "status" | "status_code" | "duration" | "response">> {
    const started = performance.now();
    const duration = () => Math.round(performance.now() - started) / 1000;
    try {
      const res = await fetch(target.url, { method: "POST", headers, body, signal: AbortSignal.timeout(target.timeoutMs) });
      const text = await res.text();
      const ok = res.status >= 200 && res.status < 300;
      return {
        status: ok ? "OK" : `Invalid HTTP Response: ${res.status}`, status_code: res.status, duration: duration(),
        response: { headers: Object.fromEntries(res.headers.entries()), payload: text.slice(0, 4096) },
      };
    } catch (error) {
      const timedOut = (error as Error).name === "TimeoutError";
      return { status: timedOut ? "timed out" : "failed to connect to host", status_code: 0, duration: duration(), response: { headers: null, payload: null } };
    }
  }

  /**
   * POSTs the lifecycle of the dataset's runs to `options.url` as signed deliveries of one hook (see the
   * module comment), recording each as a delivery. Resolves when every POST has its answer.
   */
  async push(options: PushOptions, render: PushRender): Promise<PushResult> {
    const hook = (options.hookId !== undefined ? this.hook(options.hookId) : (this.hooks.find((h) => h.scope.kind === "org") ?? this.hooks[0]));
    if (!hook) throw new Error(options.hookId !== undefined ? `no hook ${options.hookId}` : "the simulator has no hook to push from");
    const timeoutMs = options.timeoutMs ?? 10_000;
    this.target = { url: options.url, secret: options.secret, timeoutMs };
    const rng = seedrandom.alea(`${options.seed ?? this.ds.seed}|push`);
    const wanted = options.runIds ? new Set(options.runIds) : undefined;
    const repoById = new Map(this.ds.repos.map((r) => [r.full_name, r]));
    const events: PushEvent[] = [];
    const ms = (iso: string | null | undefined, fallback: number): number => (iso ? Date.parse(iso) : fallback);
    const add = (at: number, event: PushEvent["event"], action: string, repositoryId: number, payload: Record<string, unknown>) => {
      events.push({ at, guid: uuidFrom(rng), event, action, repositoryId, body: JSON.stringify({ action, ...payload }) });
    };
    for (const run of this.ds.runs) {
      if (wanted && !wanted.has(run.id)) continue;
      const repo = repoById.get(run.repo);
      if (!repo) continue;
      const jobsByAttempt = allJobsOf(this.ds, run);
      for (const attempt of run.attempts) {
        const full = render.run(run, attempt);
        const common = { repository: full.repository, sender: full.actor };
        const created = Date.parse(attempt.created_at);
        const started = ms(attempt.run_started_at, created);
        add(attempt.run_attempt > 1 ? started : created, "workflow_run", "requested", repo.id, { workflow_run: { ...full, status: "queued", conclusion: null, updated_at: attempt.run_started_at }, ...common });
        if (attempt.status !== "queued") add(started + 1000, "workflow_run", "in_progress", repo.id, { workflow_run: { ...full, status: "in_progress", conclusion: null, updated_at: new Date(started + 1000).toISOString() }, ...common });
        if (attempt.status === "completed") add(ms(attempt.updated_at, started) + 1, "workflow_run", "completed", repo.id, { workflow_run: full, ...common });
        for (const job of jobsByAttempt[attempt.run_attempt - 1] ?? []) {
          const j = render.job(run, job);
          add(Date.parse(job.created_at), "workflow_job", "queued", repo.id, {
            workflow_job: { ...j, status: "queued", conclusion: null, started_at: job.created_at, completed_at: null, steps: [], runner_id: null, runner_name: null, runner_group_id: null, runner_group_name: null },
            ...common,
          });
          if (job.status !== "queued") {
            add(Date.parse(job.started_at), "workflow_job", "in_progress", repo.id, {
              workflow_job: { ...j, status: "in_progress", conclusion: null, completed_at: null, steps: job.steps.slice(0, 1).map((s) => ({ ...s, status: "in_progress", conclusion: null, completed_at: null })) },
              ...common,
            });
          }
          if (job.status === "completed") add(ms(job.completed_at, Date.parse(job.started_at)), "workflow_job", "completed", repo.id, { workflow_job: j, ...common });
        }
      }
    }
    events.sort((a, b) => a.at - b.at);
    let outOfOrder = 0;
    for (let i = 0; i + 1 < events.length; i++) {
      if (rng() < (options.outOfOrderRate ?? 0.1)) {
        const a = events[i] as PushEvent;
        events[i] = events[i + 1] as PushEvent;
        events[i + 1] = a;
        outOfOrder += 1;
        i += 1;
      }
    }
    const sends: PushEvent[] = [];
    let duplicates = 0;
    for (const e of events) {
      sends.push(e);
      if (rng() < (options.duplicateRate ?? 0.05)) {
        sends.push(e);
        duplicates += 1;
      }
    }
    const target = this.target;
    const result: PushResult = { sent: 0, ok: 0, failed: 0, duplicates, outOfOrder, events: events.length };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < sends.length) {
        const e = sends[next++] as PushEvent;
        const headers: Record<string, string> = {
          ...this.request(hook, e.guid, e.event, {}).headers,
          "X-Hub-Signature-256": signBody(options.secret, e.body),
        };
        const delivered_at = isoSec(this.clock());
        const outcome = await this.send(target, headers, e.body);
        result.sent += 1;
        if (isSuccessful(outcome)) result.ok += 1;
        else result.failed += 1;
        this.recordDelivery(hook, {
          guid: e.guid, event: e.event, action: e.action, installation_id: hook.scope.kind === "app" ? 1 : null, repository_id: e.repositoryId, redelivery: false,
          throttled_at: null, request: { headers, payload: JSON.parse(e.body) as Record<string, unknown> }, delivered_at, ...outcome,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 8) }, () => worker()));
    return result;
  }

  /** The simulator's routes for hooks (see the module comment); `appAuth` routes take the App's JWT. */
  routes(baseUrl: () => string): { method: string; pattern: string; appAuth: boolean; handler: (p: Record<string, string>, q: URLSearchParams, ctx: RequestContext) => Reply }[] {
    const find = (scope: HookScope["kind"], p: Record<string, string>): SimHook | undefined =>
      this.hooks.find((h) => {
        if (h.scope.kind !== scope) return false;
        if (h.scope.kind === "app") return true;
        if (String(h.id) !== p.hook_id) return false;
        if (h.scope.kind === "repo") return h.scope.repo.toLowerCase() === `${p.owner}/${p.repo}`.toLowerCase();
        return h.scope.org.toLowerCase() === (p.org ?? "").toLowerCase();
      });
    const list = (hook: SimHook | undefined, q: URLSearchParams, ctx: RequestContext): Reply => {
      if (!hook) return notFound();
      const pp = Number.parseInt(q.get("per_page") ?? "", 10);
      const perPage = Number.isFinite(pp) && pp > 0 ? Math.min(pp, 100) : 30;
      const cursor = q.get("cursor");
      let items = this.visible(hook);
      if (cursor) {
        const m = /^v1_(\d+)$/.exec(cursor);
        if (!m) return { status: 400, body: { message: "Invalid cursor", documentation_url: DOCS } };
        const before = Number(m[1]);
        items = items.filter((d) => d.id < before);
      }
      const status = q.get("status");
      if (status === "success") items = items.filter(isSuccessful);
      else if (status === "failure") items = items.filter((d) => !isSuccessful(d));
      else if (status) return { status: 422, body: { message: `Invalid status: ${status}`, documentation_url: DOCS } };
      const page = items.slice(0, perPage);
      const headers: Record<string, string> = {};
      const last = page[page.length - 1];
      if (items.length > perPage && last) {
        const next = new URLSearchParams(q);
        next.set("per_page", String(perPage));
        next.set("cursor", `v1_${last.id}`);
        headers.link = `<${baseUrl()}${ctx.path}?${next.toString()}>; rel="next"`;
      }
      return { status: 200, body: page.map(({ request: _request, response: _response, ...item }) => item), headers };
    };
    const one = (hook: SimHook | undefined, p: Record<string, string>): HookDelivery | undefined =>
      hook ? this.visible(hook).find((d) => String(d.id) === p.delivery_id) : undefined;
    const get = (hook: SimHook | undefined, p: Record<string, string>): Reply => {
      const d = one(hook, p);
      return d ? { status: 200, body: d } : notFound();
    };
    const attempt = (hook: SimHook | undefined, p: Record<string, string>): Reply => {
      const d = one(hook, p);
      if (!hook || !d) return notFound();
      this.redeliver(hook, d);
      return { status: 202, body: {} };
    };
    const out: ReturnType<HookStore["routes"]> = [];
    for (const [kind, prefix] of [["repo", "/repos/{owner}/{repo}/hooks/{hook_id}"], ["org", "/orgs/{org}/hooks/{hook_id}"], ["app", "/app/hook"]] as const) {
      const appAuth = kind === "app";
      out.push(
        { method: "GET", pattern: `${prefix}/deliveries`, appAuth, handler: (p, q, ctx) => list(find(kind, p), q, ctx) },
        { method: "GET", pattern: `${prefix}/deliveries/{delivery_id}`, appAuth, handler: (p) => get(find(kind, p), p) },
        { method: "POST", pattern: `${prefix}/deliveries/{delivery_id}/attempts`, appAuth, handler: (p) => attempt(find(kind, p), p) },
      );
    }
    return out;
  }
}

function uuidFrom(rng: () => number): string {
  let hex = "";
  for (let i = 0; i < 32; i++) hex += Math.floor(rng() * 16).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `sha256=<hex>`: GitHub's `X-Hub-Signature-256` of a raw body. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}
