/**
 * Shared by the `serve` burst tests: the simulator's REST run and job objects, their lifecycles as webhook
 * payloads, signing and a concurrency pool.
 */
import { createHmac } from "node:crypto";
import type { Dataset, Simulator } from "../simulator/index.js";

export type Json = Record<string, unknown>;

export const sign = (secret: string, body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

export async function getJson(url: string): Promise<Json> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return (await res.json()) as Json;
}

/** Every run attempt (REST run object) and job (REST job object, every attempt) of the simulator. */
export async function restObjects(sim: Simulator, dataset: Dataset): Promise<{ runs: Json[]; jobs: { job: Json; repository: Json }[] }> {
  const runs: Json[] = [];
  const jobs: { job: Json; repository: Json }[] = [];
  for (const repo of dataset.repos) {
    for (let page = 1; ; page += 1) {
      const list = await getJson(`${sim.url}/repos/${repo.full_name}/actions/runs?per_page=100&page=${page}`);
      const items = list.workflow_runs as Json[];
      for (const run of items) {
        const attempt = Number(run.run_attempt ?? 1);
        for (let n = 1; n < attempt; n += 1) runs.push(await getJson(`${sim.url}/repos/${repo.full_name}/actions/runs/${String(run.id)}/attempts/${n}`));
        runs.push(run);
        for (let jp = 1; ; jp += 1) {
          const j = await getJson(`${sim.url}/repos/${repo.full_name}/actions/runs/${String(run.id)}/jobs?filter=all&per_page=100&page=${jp}`);
          const js = j.jobs as Json[];
          for (const job of js) jobs.push({ job, repository: run.repository as Json });
          if (js.length < 100) break;
        }
      }
      if (items.length < 100) break;
    }
  }
  return { runs, jobs };
}

/** The lifecycle of a run attempt as webhook payloads: requested → in_progress → completed (earlier states only when they differ in time). */
export function runLifecycle(run: Json): { action: string; run: Json }[] {
  const final = { action: run.status === "completed" ? "completed" : run.status === "in_progress" ? "in_progress" : "requested", run };
  if (run.status !== "completed") return [final];
  const updated = Date.parse(String(run.updated_at));
  const out: { action: string; run: Json }[] = [];
  const created = String(run.created_at);
  if (Date.parse(created) < updated) out.push({ action: "requested", run: { ...run, status: "queued", conclusion: null, updated_at: created } });
  const startedAt = String(run.run_started_at ?? created);
  const mid = new Date(Math.max(Date.parse(startedAt), Date.parse(created)) + 1000).toISOString();
  if (Date.parse(mid) < updated && Date.parse(mid) > Date.parse(created)) out.push({ action: "in_progress", run: { ...run, status: "in_progress", conclusion: null, updated_at: mid } });
  out.push(final);
  return out;
}

export function jobLifecycle(job: Json): { action: string; job: Json }[] {
  const final = { action: String(job.status), job };
  if (job.status !== "completed") return [final];
  const queued = { ...job, status: "queued", conclusion: null, started_at: job.created_at, completed_at: null, steps: [], runner_id: null, runner_name: null, runner_group_id: null, runner_group_name: null };
  const running = { ...job, status: "in_progress", conclusion: null, completed_at: null, steps: [] };
  return [{ action: "queued", job: queued }, { action: "in_progress", job: running }, final];
}

export async function pool<T, R>(items: T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next;
        next += 1;
        out[i] = await work(items[i] as T);
      }
    }),
  );
  return out;
}
