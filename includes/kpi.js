/**
 * KPI periods of rpt_kpi_summary: each compares the `hours` before the reference time with the `hours`
 * before that. The reference time is CURRENT_TIMESTAMP() unless the Dataform var `kpi_reference_time`
 * (an ISO timestamp, e.g. 2026-01-02T00:00:00Z) is set, which makes the view deterministic for tests.
 */
const KPI_PERIODS = [
  { period: "last_24h", hours: 24 },
  { period: "last_7d", hours: 168 },
];

function periodsSql() {
  return KPI_PERIODS.map((p) => `SELECT '${p.period}' AS period, ${p.hours} AS period_hours`).join("\nUNION ALL\n");
}

/** SQL expression of the reference time; `vars` is dataform.projectConfig.vars. */
function referenceTimeSql(vars) {
  const v = vars && vars.kpi_reference_time;
  if (v && String(v).trim() !== "") {
    const s = String(v).trim();
    if (!/^[0-9T:.+\-Z ]+$/.test(s)) throw new Error(`kpi_reference_time is not a timestamp: ${s}`);
    return `TIMESTAMP('${s}')`;
  }
  return "CURRENT_TIMESTAMP()";
}

module.exports = { KPI_PERIODS, periodsSql, referenceTimeSql };
