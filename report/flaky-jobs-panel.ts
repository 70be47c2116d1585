/**
 * The flaky jobs panel of the report (issue 15), from rpt_flaky_jobs: the jobs that failed and then passed
 * on a re-run of the same run (same commit), the ones that wasted most first, with the billable minutes and
 * cost of those failed attempts. Drawn on the server like the tests and alerts panels (a table to act on,
 * readable without the client bundle); the repository/workflow filters of the page do not apply to it.
 */
import { escapeHtml } from "./html.js";
import type { FlakyJobRow } from "./model.js";

/** Rows of rpt_flaky_jobs the report reads (report/data.ts LIMIT), the most wasteful first. */
export const FLAKY_JOBS_LIMIT = 25;

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const usd = (v: number) => `$${v.toFixed(2)}`;
const minute = (iso: string) => `${iso.slice(0, 16).replace("T", " ")} UTC`;

export function renderFlakyJobsPanel(rows: FlakyJobRow[]): string {
  const note =
    "A job is flaky in a run when an attempt of it failed (failure, timed out, startup failure) and a later attempt of the same run passed: same commit, so the code did not change between the failure and the pass. Each matrix leg is its own job. Wasted minutes are the billable minutes of those failed attempts (each job rounded up to the whole minute; self-hosted runners cost 0), priced at the rate table (includes/runner_rates.js). Flake rate: flaky runs / runs of the job, all history. The filters above do not apply here; the flaky_rate alert uses the same definition.";
  const body =
    rows.length === 0
      ? `<p class="empty" id="flaky-jobs-none">No flaky jobs: no job failed and then passed on a re-run of the same run.</p>`
      : `<table id="flaky-jobs"><thead><tr>${["Repository", "Workflow", "Job", "Flaky runs", "Flake rate", "Wasted minutes", "Cost", "Last flaky"].map((h) => `<th>${h}</th>`).join("")}</tr></thead><tbody>${rows
          .map(
            (r) =>
              `<tr>${[escapeHtml(r.repository), escapeHtml(r.workflow), escapeHtml(r.job_name), `${r.flaky_runs} / ${r.runs}`, pct(r.flake_rate), r.wasted_billable_minutes.toLocaleString("en-US"), usd(r.wasted_cost_usd), escapeHtml(minute(r.last_flaky_at))]
                .map((c) => `<td>${c}</td>`)
                .join("")}</tr>`,
          )
          .join("")}</tbody></table>`;
  const heading = `Flaky jobs (${rows.length}${rows.length >= FLAKY_JOBS_LIMIT ? `, the ${FLAKY_JOBS_LIMIT} that wasted most` : ""})`;
  return `<section class="panel wide" id="panel-flaky-jobs" data-flaky-jobs="${rows.length}">
<h2>${escapeHtml(heading)}</h2>
<p class="note">${escapeHtml(note)}</p>
${body}
</section>`;
}
