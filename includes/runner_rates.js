/**
 * Dated per-minute rates of GitHub-hosted runners (standard 2-core sizes), in USD.
 *
 * One row per (runner_os, validity window). `valid_to` is inclusive; null means "until further notice".
 * To record a price change: close the current row (set valid_to) and add a row starting the next day.
 * Fact rows are priced when they are built, so after editing run the transform with full refresh
 * (`fullRefresh: true`) to re-price history.
 */
const RUNNER_RATES = [
  { runner_os: "Linux", valid_from: "2000-01-01", valid_to: "2025-12-31", usd_per_minute: 0.008 },
  { runner_os: "Linux", valid_from: "2026-01-01", valid_to: null, usd_per_minute: 0.006 },
  { runner_os: "Windows", valid_from: "2000-01-01", valid_to: "2025-12-31", usd_per_minute: 0.016 },
  { runner_os: "Windows", valid_from: "2026-01-01", valid_to: null, usd_per_minute: 0.01 },
  { runner_os: "macOS", valid_from: "2000-01-01", valid_to: "2025-12-31", usd_per_minute: 0.08 },
  { runner_os: "macOS", valid_from: "2026-01-01", valid_to: null, usd_per_minute: 0.062 },
];

/** The rate table as a SELECT of literal rows (portable: no STRUCT arrays needed). */
function ratesSql() {
  return RUNNER_RATES.map(
    (r) =>
      `SELECT '${r.runner_os}' AS runner_os, DATE '${r.valid_from}' AS valid_from, ` +
      `${r.valid_to ? `DATE '${r.valid_to}'` : "CAST(NULL AS DATE)"} AS valid_to, ` +
      `CAST(${r.usd_per_minute} AS FLOAT64) AS usd_per_minute`,
  ).join("\nUNION ALL\n");
}

module.exports = { RUNNER_RATES, ratesSql };
