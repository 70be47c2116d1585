/**
 * Seeded, deterministic GitHub Actions + Packages dataset: the ground truth the simulator serves and tests
 * compare against.
 *
 * Time model: every instant is derived from `anchor` (a UTC instant, "now" for the dataset). Runs are created
 * during the `days` days before the anchor (plus a busy day); state is observed AT the anchor, so runs whose
 * jobs would still be running at the anchor are `in_progress`, and runs whose jobs have not started are
 * `queued` (conclusion null). Re-runs made later through the server (`rerun`) happen after the anchor.
 *
 * Jobs are not materialised: `jobsOf(dataset, runId)` regenerates them deterministically from
 * (seed, run id, attempt), so 100k-run datasets stay small in memory. The dataset itself is plain data
 * (no functions), so two datasets can be compared with deep equality.
 *
 * Conventions that follow GitHub:
 * - All timestamps are ISO-8601 UTC with whole seconds (`2026-10-15T12:00:00Z`).
 * - A job that never started (still queued, skipped, or cancelled before starting) has
 *   `started_at === created_at` (the OpenAPI schema makes `started_at` a required, non-null date-time,
 *   and GitHub fills it with the creation time), `steps: []` and null runner fields.
 * - Skipped jobs are `completed`/`skipped` with `completed_at === started_at === created_at` and `labels: []`.
 * - Every attempt of a run shares the run's `created_at`; `run_started_at` is the attempt's start.
 * - Job ids are unique across attempts: run with sequence number s owns ids
 *   `JOB_ID_BASE + s * JOB_ID_BLOCK + k`.
 */
import seedrandom from "seedrandom";

/** Instant used by callers that have no opinion (tests, demo). */
export const DEFAULT_ANCHOR = "2026-10-15T12:00:00Z";
export const DEFAULT_SEED = "42";
const RUN_ID_BASE = 11_000_000_000;
const JOB_ID_BASE = 30_000_000_000;
/** Job ids reserved per run (all attempts together). */
export const JOB_ID_BLOCK = 1000;
const DAY = 86_400;

export interface DatasetOptions {
  /** Seed of every random choice. Default "42". */
  seed?: string | number;
  /** "Now" of the dataset, an ISO instant (UTC). Default `DEFAULT_ANCHOR`. */
  anchor?: string;
  /** Days of history before the anchor. Default 14. */
  days?: number;
  /** Mean runs per repository per day (weighted per repo; weekends quieter). Default 40. */
  runsPerRepoPerDay?: number;
  /** Multiplies `runsPerRepoPerDay` (not the landmarks). Default 1. */
  scale?: number;
  /** Extra runs in `acme/api` on the busy day (0 disables the busy day). Default 1150. */
  busyDayRuns?: number;
  /** The busy day is this many days before the anchor's UTC day (>= 1). Default 3. */
  busyDayOffset?: number;
  /** Jobs of the big run (E2E matrix). Default 130. */
  bigRunJobs?: number;
  /** Live versions of the biggest package (`acme` container `api`). Default 130. */
  bigPackageVersions?: number;
  /**
   * Extra organisation repositories (`acme/svc-001`, ...), each with one small CI workflow, for
   * organisation-scale benchmarks (hundreds of repositories). Default 0: the dataset is unchanged.
   */
  extraRepos?: number;
  /**
   * Adds `acme/platform` (simulator/workflow-files.ts renders its files): a CI calling a reusable
   * workflow, whose job graph changes between two file versions; a Publish workflow triggered by
   * `on: workflow_run` of CI (on CI's head SHA); a Docs workflow whose file is invalid (its runs fail
   * with no jobs, as on GitHub); a generated workflow file over 1 MB; and a default-setup CodeQL run
   * whose path is not a file (`dynamic/...`). Default false: the default dataset is unchanged.
   */
  workflowGraph?: boolean;
}

/** An account: the org, the user and every actor. */
export interface SimAccount {
  login: string;
  id: number;
  type: "Organization" | "User" | "Bot";
  name: string | null;
}

export interface SimRepo {
  id: number;
  owner: string;
  name: string;
  /** `owner/name` */
  full_name: string;
  private: boolean;
  description: string | null;
  language: string | null;
  default_branch: string;
  created_at: string;
  updated_at: string;
  pushed_at: string;
  topics: string[];
}

/** Kind of runner a job asks for. */
export type RunnerKind = "ubuntu-latest" | "ubuntu-22.04" | "windows-latest" | "macos-14" | "self-hosted" | "gpu";

/** One job of a workflow file (matrix already expanded). */
export interface SimJobTemplate {
  name: string;
  runner: RunnerKind;
  /** Names of jobs this one needs. */
  needs: string[];
  /** Step names between "Set up job" and "Complete job". */
  steps: string[];
  /** Duration range in seconds. */
  duration: [number, number];
  /** Only runs on the default branch; skipped elsewhere. */
  defaultBranchOnly?: boolean;
}

export interface SimWorkflow {
  id: number;
  repo: string;
  name: string;
  /** `.github/workflows/x.yml` */
  path: string;
  state: "active" | "disabled_manually";
  created_at: string;
  updated_at: string;
  /** Events that trigger it. */
  events: string[];
  /** The jobs of the newest file version. */
  jobs: SimJobTemplate[];
  /**
   * File versions whose jobs differ, oldest first: a run uses the last version whose `from` is at or
   * before its creation. Absent: one job graph for every run.
   */
  versions?: { from: string; jobs: SimJobTemplate[] }[];
}

/** The job templates a run of this workflow created at `createdAt` executes (its file version's). */
export function jobsAt(w: SimWorkflow, createdAt: string): SimJobTemplate[] {
  let jobs = w.jobs;
  for (const v of w.versions ?? []) if (v.from <= createdAt) jobs = v.jobs;
  return jobs;
}

/**
 * Whether the executed job `name` is (an execution of) the job `need` names: itself, a matrix leg
 * `need (...)`, or a job of the reusable workflow it calls, `need / ...` (GitHub's display names).
 */
export function executes(name: string, need: string): boolean {
  return name === need || name.startsWith(`${need} (`) || name.startsWith(`${need} / `);
}

export type RunConclusion = "success" | "failure" | "cancelled" | "timed_out";

/** One attempt of a run, as GitHub returns it from `/runs/{id}/attempts/{n}` (URLs are added by the server). */
export interface SimRunAttempt {
  run_attempt: number;
  status: "queued" | "in_progress" | "completed";
  conclusion: RunConclusion | "skipped" | null;
  /** Same for every attempt: the run's creation. */
  created_at: string;
  run_started_at: string;
  updated_at: string;
  actor: string;
  triggering_actor: string;
  /** How the attempt was started: first attempt / re-run all jobs ("all") or re-run failed jobs only ("failed"). */
  rerun_mode: "all" | "failed";
  /** Outcome the generator aimed for (the actual one is `conclusion`, null if unfinished at `observed_at`). */
  planned_outcome: RunConclusion;
  /** Instant at which the attempt's state is observed (the anchor, or later for re-runs made through the server). */
  observed_at: string;
  /** Generator hints: minimum queue seconds of the first jobs, minimum job duration seconds. */
  min_queue_seconds: number;
  min_duration_seconds: number;
}

export interface SimPullRequestRef {
  number: number;
  id: number;
  head_ref: string;
  head_sha: string;
  base_ref: string;
  base_sha: string;
}

export interface SimRun {
  id: number;
  /** Sequence number of the run in the dataset (creation order); defines its job id block. */
  seq: number;
  repo: string;
  workflow_id: number;
  workflow_name: string;
  workflow_path: string;
  run_number: number;
  event: string;
  head_branch: string;
  head_sha: string;
  display_title: string;
  commit_message: string;
  commit_author: string;
  created_at: string;
  pull_requests: SimPullRequestRef[];
  /** Every attempt, oldest first; the last is the latest (what the runs list shows). */
  attempts: SimRunAttempt[];
}

export interface SimStep {
  name: string;
  number: number;
  status: "queued" | "in_progress" | "completed";
  conclusion: "success" | "failure" | "cancelled" | "skipped" | null;
  started_at: string | null;
  completed_at: string | null;
}

export interface SimJob {
  id: number;
  run_id: number;
  run_attempt: number;
  name: string;
  status: "queued" | "in_progress" | "completed";
  conclusion: "success" | "failure" | "cancelled" | "skipped" | "timed_out" | null;
  created_at: string;
  /** Equals `created_at` for jobs that never started. */
  started_at: string;
  completed_at: string | null;
  labels: string[];
  runner_id: number | null;
  runner_name: string | null;
  runner_group_id: number | null;
  runner_group_name: string | null;
  workflow_name: string;
  head_branch: string;
  head_sha: string;
  steps: SimStep[];
}

export interface SimPackageVersion {
  id: number;
  name: string;
  created_at: string;
  updated_at: string;
  /** Set for deleted versions (listed only with `state=deleted`). */
  deleted_at: string | null;
  /** Container tags (empty for untagged); empty for npm. */
  tags: string[];
  description: string | null;
}

export interface SimPackage {
  id: number;
  owner: string;
  owner_type: "Organization" | "User";
  name: string;
  package_type: "container" | "npm";
  visibility: "private" | "public";
  /** Linked repository full name. */
  repo: string | null;
  created_at: string;
  updated_at: string;
  /** Newest first; live and deleted. */
  versions: SimPackageVersion[];
}

export interface Dataset {
  seed: string;
  anchor: string;
  options: Required<DatasetOptions>;
  org: SimAccount;
  user: SimAccount;
  /** Every account that appears (org, user, actors, bots). */
  accounts: SimAccount[];
  repos: SimRepo[];
  workflows: SimWorkflow[];
  /** Sorted by created_at, then id (both ascending); `seq` is the index. */
  runs: SimRun[];
  packages: SimPackage[];
  /** Special runs by role; see `landmarks`. */
  special: {
    bigRunId: number;
    rerun2RunId: number;
    rerun3RunId: number;
    queuedRunId: number;
    inProgressRunId: number;
    midnightRunId: number;
    stuckQueuedRunId: number;
  };
}

// ---------------------------------------------------------------- time helpers

export function iso(sec: number): string {
  return new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
export function toSec(s: string): number {
  return Math.floor(Date.parse(s) / 1000);
}

type Rng = () => number;
const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));
function pick<T>(rng: Rng, xs: readonly T[]): T {
  const x = xs[Math.floor(rng() * xs.length)];
  if (x === undefined) throw new Error("pick from empty list");
  return x;
}
function hex(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += "0123456789abcdef"[Math.floor(rng() * 16)];
  return s;
}

// ---------------------------------------------------------------- static world

const ORG: SimAccount = { login: "acme", id: 91_000_001, type: "Organization", name: "Acme Corp" };
const USER: SimAccount = { login: "octo-dev", id: 91_000_002, type: "User", name: "Octo Dev" };
const HUMANS: SimAccount[] = [
  USER,
  { login: "alice", id: 91_000_011, type: "User", name: "Alice Ng" },
  { login: "bob", id: 91_000_012, type: "User", name: "Bob Stone" },
  { login: "carol", id: 91_000_013, type: "User", name: "Carol Diaz" },
  { login: "dave", id: 91_000_014, type: "User", name: "Dave Kim" },
  { login: "erin", id: 91_000_015, type: "User", name: "Erin Wu" },
];
const DEPENDABOT: SimAccount = { login: "dependabot[bot]", id: 49_699_333, type: "Bot", name: null };

const STD_STEPS = ["Run actions/checkout@v4", "Set up Node", "Install dependencies"];

function ciJobs(matrix: [string, number][], extra: SimJobTemplate[] = []): SimJobTemplate[] {
  return [
    { name: "lint", runner: "ubuntu-latest", needs: [], steps: [...STD_STEPS, "Run lint"], duration: [25, 150] },
    ...matrix.map(([os, node]): SimJobTemplate => ({
      name: `test (${os}, ${node})`,
      runner: os as RunnerKind,
      needs: [],
      steps: [...STD_STEPS, "Run tests", "Upload coverage"],
      duration: os.startsWith("macos") ? [180, 1500] : os.startsWith("windows") ? [150, 1200] : [60, 900],
    })),
    { name: "build", runner: "ubuntu-22.04", needs: ["lint"], steps: [...STD_STEPS, "Build"], duration: [40, 400] },
    ...extra,
  ];
}

interface RepoSpec {
  name: string;
  owner: string;
  weight: number;
  language: string;
  description: string;
  /** `file` is under .github/workflows/ unless it starts with `dynamic/` (GitHub's default setups: not a file). */
  workflows: { name: string; file: string; events: string[]; jobs: SimJobTemplate[]; versions?: { fromDaysBeforeAnchor: number; jobs: SimJobTemplate[] }[] }[];
}

function extraRepoSpecs(n: number): RepoSpec[] {
  return Array.from({ length: n }, (_, k) => ({
    name: `svc-${String(k + 1).padStart(3, "0")}`, owner: "acme", weight: 0.5, language: "Go", description: "Internal service",
    workflows: [{ name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: ciJobs([["ubuntu-latest", 20]]) }],
  }));
}

/** `acme/platform` (option `workflowGraph`): see DatasetOptions.workflowGraph. */
function platformSpec(): RepoSpec {
  const lint: SimJobTemplate = { name: "lint", runner: "ubuntu-latest", needs: [], steps: [...STD_STEPS, "Run lint"], duration: [20, 90] };
  const tests = (duration: [number, number]): SimJobTemplate[] =>
    [20, 22].map((node): SimJobTemplate => ({ name: `test (ubuntu-latest, ${node})`, runner: "ubuntu-latest", needs: [], steps: [...STD_STEPS, "Run tests"], duration }));
  // "build" calls .github/workflows/reusable-build.yml: its jobs run as "build / <job>".
  const build: SimJobTemplate[] = [
    { name: "build / compile", runner: "ubuntu-latest", needs: ["lint"], steps: [...STD_STEPS, "Compile"], duration: [120, 400] },
    { name: "build / package", runner: "ubuntu-22.04", needs: ["build / compile"], steps: ["Run actions/checkout@v4", "Package"], duration: [300, 700] },
  ];
  const verify = (needs: string[]): SimJobTemplate => ({ name: "verify", runner: "ubuntu-latest", needs, steps: ["Run actions/checkout@v4", "Smoke test"], duration: [30, 90] });
  const v1 = [lint, ...tests([100, 400]), ...build, verify(["build"])];
  const v2 = [lint, ...tests([1300, 2000]), ...build, verify(["build", "test"])];
  return {
    name: "platform", owner: "acme", weight: 0.25, language: "TypeScript", description: "Shared build platform",
    workflows: [
      { name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: v2, versions: [{ fromDaysBeforeAnchor: 1000, jobs: v1 }, { fromDaysBeforeAnchor: 6, jobs: v2 }] },
      { name: "Publish", file: "publish.yml", events: ["workflow_run"], jobs: [
        { name: "publish", runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Publish package"], duration: [40, 200] },
      ] },
      // Its file is invalid (simulator/workflow-files.ts): GitHub fails such runs without creating a job.
      { name: "Docs", file: "docs.yml", events: ["push"], jobs: [] },
      { name: "Generated matrix", file: "generated.yml", events: ["workflow_dispatch"], jobs: [1, 2, 3].map((i): SimJobTemplate => ({
        name: `check (shard ${i}/3)`, runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Check"], duration: [60, 300],
      })) },
      { name: "CodeQL", file: "dynamic/github-code-scanning/codeql", events: ["push"], jobs: [
        { name: "Analyze (javascript-typescript)", runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Perform CodeQL Analysis"], duration: [90, 400] },
      ] },
    ],
  };
}

function repoSpecs(bigRunJobs: number): RepoSpec[] {
  const shards = Math.max(1, bigRunJobs - 2);
  return [
    {
      name: "api", owner: "acme", weight: 1.5, language: "TypeScript", description: "Public REST API",
      workflows: [
        { name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: ciJobs([["ubuntu-latest", 18], ["ubuntu-latest", 20], ["ubuntu-latest", 22], ["windows-latest", 20]]) },
        {
          name: "Deploy", file: "deploy.yml", events: ["push", "workflow_dispatch"], jobs: [
            { name: "build-image", runner: "self-hosted", needs: [], steps: ["Run actions/checkout@v4", "Docker build", "Docker push"], duration: [120, 600] },
            { name: "deploy", runner: "ubuntu-latest", needs: ["build-image"], steps: ["Run actions/checkout@v4", "Deploy"], duration: [60, 300], defaultBranchOnly: true },
          ],
        },
        {
          name: "Nightly", file: "nightly.yml", events: ["schedule"], jobs: [1, 2, 3, 4].map((i): SimJobTemplate => ({
            name: `integration (shard ${i}/4)`, runner: "self-hosted", needs: [], steps: [...STD_STEPS, "Integration tests"], duration: [600, 2400],
          })),
        },
        { name: "CodeQL", file: "codeql.yml", events: ["push", "pull_request", "schedule"], jobs: [
          { name: "analyze (javascript)", runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Initialize CodeQL", "Autobuild", "Perform CodeQL Analysis"], duration: [120, 700] },
        ] },
      ],
    },
    {
      name: "web", owner: "acme", weight: 1.2, language: "TypeScript", description: "Customer web app",
      workflows: [
        { name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: ciJobs([["ubuntu-latest", 20], ["ubuntu-latest", 22]]) },
        {
          name: "Deploy", file: "deploy.yml", events: ["push", "workflow_dispatch"], jobs: [
            { name: "build", runner: "ubuntu-latest", needs: [], steps: [...STD_STEPS, "Build"], duration: [90, 400] },
            { name: "deploy", runner: "ubuntu-latest", needs: ["build"], steps: ["Deploy"], duration: [30, 200], defaultBranchOnly: true },
          ],
        },
        {
          name: "E2E", file: "e2e.yml", events: ["workflow_dispatch"], jobs: [
            { name: "build", runner: "ubuntu-latest", needs: [], steps: [...STD_STEPS, "Build"], duration: [90, 300] },
            ...Array.from({ length: shards }, (_, i): SimJobTemplate => ({
              name: `e2e (shard ${i + 1}/${shards})`, runner: i % 4 === 3 ? "ubuntu-22.04" : "ubuntu-latest", needs: ["build"],
              steps: [...STD_STEPS, "Playwright tests"], duration: [60, 600],
            })),
            { name: "report", runner: "ubuntu-latest", needs: ["e2e"], steps: ["Merge reports"], duration: [10, 60] },
          ],
        },
      ],
    },
    {
      name: "infra", owner: "acme", weight: 0.5, language: "HCL", description: "Terraform for everything",
      workflows: [
        { name: "Terraform", file: "terraform.yml", events: ["push", "pull_request"], jobs: [
          { name: "plan", runner: "self-hosted", needs: [], steps: ["Run actions/checkout@v4", "terraform init", "terraform plan"], duration: [40, 400] },
          { name: "apply", runner: "self-hosted", needs: ["plan"], steps: ["Run actions/checkout@v4", "terraform apply"], duration: [60, 900], defaultBranchOnly: true },
        ] },
      ],
    },
    {
      name: "mobile", owner: "acme", weight: 0.8, language: "Swift", description: "iOS and Android apps",
      workflows: [
        { name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: [
          { name: "ios (macos-14)", runner: "macos-14", needs: [], steps: ["Run actions/checkout@v4", "Select Xcode", "xcodebuild test"], duration: [300, 2300] },
          { name: "android", runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Set up JDK", "Gradle test"], duration: [200, 1400] },
        ] },
        { name: "Release", file: "release.yml", events: ["workflow_dispatch"], jobs: [
          { name: "testflight", runner: "macos-14", needs: [], steps: ["Run actions/checkout@v4", "Archive", "Upload"], duration: [600, 2000] },
        ] },
      ],
    },
    {
      name: "ml-platform", owner: "acme", weight: 0.6, language: "Python", description: "Training pipelines",
      workflows: [
        { name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: [
          { name: "test (ubuntu-latest, 3.12)", runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Set up Python", "pytest"], duration: [60, 600] },
          { name: "test (windows-latest, 3.12)", runner: "windows-latest", needs: [], steps: ["Run actions/checkout@v4", "Set up Python", "pytest"], duration: [90, 900] },
        ] },
        { name: "Train", file: "train.yml", events: ["schedule", "workflow_dispatch"], jobs: [
          { name: "prepare", runner: "self-hosted", needs: [], steps: ["Run actions/checkout@v4", "Fetch data"], duration: [60, 300] },
          { name: "train (gpu)", runner: "gpu", needs: ["prepare"], steps: ["Run actions/checkout@v4", "Train model", "Upload model"], duration: [900, 2400] },
        ] },
      ],
    },
    {
      name: "dotfiles", owner: "octo-dev", weight: 0.3, language: "Shell", description: "My dotfiles",
      workflows: [
        { name: "CI", file: "ci.yml", events: ["push", "pull_request"], jobs: [
          { name: "shellcheck", runner: "ubuntu-latest", needs: [], steps: ["Run actions/checkout@v4", "Run shellcheck"], duration: [8, 60] },
          { name: "test (macos-14)", runner: "macos-14", needs: [], steps: ["Run actions/checkout@v4", "Install"], duration: [30, 300] },
        ] },
      ],
    },
  ];
}

// ---------------------------------------------------------------- generation

interface PlannedRun {
  created: number;
  repo: SimRepo;
  workflow: SimWorkflow;
  event: string;
  branch: string;
  actor: SimAccount;
  outcome: RunConclusion;
  /** Re-runs after the first attempt: mode + outcome. */
  reruns: { mode: "all" | "failed"; outcome: RunConclusion; actor: SimAccount; delay: number }[];
  minQueue: number;
  minDuration: number;
  role?: keyof Dataset["special"];
  /** Runs on the head SHA of this planned run (a `workflow_run` trigger runs on the triggering run's commit). */
  shaOf?: PlannedRun;
}

const SLUGS = ["login-flow", "cache-layer", "retry-logic", "billing", "dark-mode", "search", "perf-tuning", "docs", "metrics", "auth-v2", "export-csv", "rate-limits"];
const DEPS = ["typescript-5.9.3", "vitest-4.1.12", "eslint-9.30.0", "zod-4.6.7", "react-19.2.0", "axios-1.12.0"];

function outcomeOf(rng: Rng): RunConclusion {
  const x = rng();
  return x < 0.76 ? "success" : x < 0.92 ? "failure" : x < 0.97 ? "cancelled" : "timed_out";
}

/** Generates the dataset. Pure: the same options give a deep-equal result. */
export function generateDataset(options: DatasetOptions = {}): Dataset {
  const opts: Required<DatasetOptions> = {
    seed: String(options.seed ?? DEFAULT_SEED),
    anchor: options.anchor ?? DEFAULT_ANCHOR,
    days: options.days ?? 14,
    runsPerRepoPerDay: options.runsPerRepoPerDay ?? 40,
    scale: options.scale ?? 1,
    busyDayRuns: options.busyDayRuns ?? 1150,
    busyDayOffset: Math.max(1, options.busyDayOffset ?? 3),
    bigRunJobs: Math.max(3, options.bigRunJobs ?? 130),
    bigPackageVersions: options.bigPackageVersions ?? 130,
    extraRepos: Math.max(0, options.extraRepos ?? 0),
    workflowGraph: options.workflowGraph ?? false,
  };
  const seed = String(opts.seed);
  const anchorSec = toSec(opts.anchor);
  if (!Number.isFinite(anchorSec)) throw new Error(`invalid anchor ${opts.anchor}`);
  const anchor = iso(anchorSec);
  const anchorDay = anchorSec - (anchorSec % DAY);
  const rng = seedrandom.alea(`${seed}|dataset`);

  // repos and workflows
  const specs = [...repoSpecs(opts.bigRunJobs), ...(opts.workflowGraph ? [platformSpec()] : []), ...extraRepoSpecs(opts.extraRepos)];
  const repos: SimRepo[] = [];
  const workflows: SimWorkflow[] = [];
  const repoWeights = new Map<string, number>();
  specs.forEach((s, i) => {
    // Extra repositories (index 6 on) are all a year old: the formula of the first six would reach the future.
    const created = anchorDay - (i < 6 ? 900 - i * 97 : 365) * DAY + i * 3_607;
    const repo: SimRepo = {
      id: 700_000_100 + i * 13, owner: s.owner, name: s.name, full_name: `${s.owner}/${s.name}`, private: s.owner === "acme" && s.name !== "api",
      description: s.description, language: s.language, default_branch: "main", created_at: iso(created), updated_at: iso(anchorSec - 3600 * (i + 1)),
      pushed_at: iso(anchorSec - 600 * (i + 1)), topics: s.owner === "acme" ? ["acme", s.language.toLowerCase()] : [],
    };
    repos.push(repo);
    repoWeights.set(repo.full_name, s.weight);
    s.workflows.forEach((w, j) => {
      workflows.push({
        id: 60_000_000 + i * 100 + j, repo: repo.full_name, name: w.name, path: w.file.startsWith("dynamic/") ? w.file : `.github/workflows/${w.file}`, state: "active",
        created_at: iso(created + (j + 1) * 86_400), updated_at: iso(anchorSec - (20 + j) * DAY), events: w.events, jobs: w.jobs,
        ...(w.versions ? { versions: w.versions.map((v) => ({ from: iso(anchorDay - v.fromDaysBeforeAnchor * DAY), jobs: v.jobs })) } : {}),
      });
    });
  });
  const wfOf = (repo: string, name: string): SimWorkflow => {
    const w = workflows.find((x) => x.repo === repo && x.name === name);
    if (!w) throw new Error(`no workflow ${repo} ${name}`);
    return w;
  };
  const repoOf = (fullName: string): SimRepo => {
    const r = repos.find((x) => x.full_name === fullName);
    if (!r) throw new Error(`no repo ${fullName}`);
    return r;
  };
  const humans = HUMANS.slice(1);

  const planned: PlannedRun[] = [];
  const planTrigger = (repo: SimRepo, created: number, wantEvent?: string): PlannedRun | undefined => {
    const repoWfs = workflows.filter((w) => w.repo === repo.full_name && w.name !== "E2E");
    const x = rng();
    let event = wantEvent ?? (x < 0.5 ? "push" : x < 0.93 ? "pull_request" : "workflow_dispatch");
    let candidates = repoWfs.filter((w) => w.events.includes(event) && w.events.length > 0 && !(w.events.length === 1 && w.events[0] === "schedule"));
    if (candidates.length === 0) {
      event = "push";
      candidates = repoWfs.filter((w) => w.events.includes("push"));
    }
    if (candidates.length === 0) return undefined;
    // CI dominates
    const ci = candidates.find((w) => w.name === "CI" || w.name === "Terraform");
    const workflow = ci && rng() < 0.7 ? ci : pick(rng, candidates);
    let branch: string;
    let actor: SimAccount;
    const y = rng();
    if (event === "pull_request" && y < 0.2) {
      branch = `dependabot/npm_and_yarn/${pick(rng, DEPS)}`;
      actor = DEPENDABOT;
    } else {
      actor = repo.owner === "octo-dev" ? USER : pick(rng, humans);
      if (event === "push" && y < 0.55) branch = "main";
      else if (event === "workflow_dispatch") branch = rng() < 0.8 ? "main" : `release/v1.${int(rng, 0, 9)}`;
      else branch = `${rng() < 0.7 ? "feature" : "fix"}/${pick(rng, SLUGS)}`;
    }
    const outcome = outcomeOf(rng);
    const reruns: PlannedRun["reruns"] = [];
    if (outcome !== "success" && rng() < 0.3) {
      const n = rng() < 0.2 ? 2 : 1;
      for (let k = 0; k < n; k++) {
        reruns.push({ mode: rng() < 0.5 ? "failed" : "all", outcome: k === n - 1 ? (rng() < 0.85 ? "success" : "failure") : "failure", actor: pick(rng, humans), delay: int(rng, 60, 4 * 3600) });
      }
    }
    return { created, repo, workflow, event, branch, actor, outcome, reruns, minQueue: 0, minDuration: 0 };
  };

  // normal traffic
  const rate = opts.runsPerRepoPerDay * opts.scale;
  const start = anchorSec - opts.days * DAY;
  const firstDay = start - (start % DAY);
  for (const repo of repos) {
    const weight = repoWeights.get(repo.full_name) ?? 1;
    for (let dayStart = firstDay; dayStart <= anchorDay; dayStart += DAY) {
      const weekday = new Date(dayStart * 1000).getUTCDay();
      const weekend = weekday === 0 || weekday === 6;
      const mean = rate * weight * (weekend ? 0.35 : 1.15);
      const n = Math.max(0, Math.round(mean * (0.75 + rng() * 0.5)));
      for (let k = 0; k < n; k++) {
        // working hours heavier, some round the clock
        const t = dayStart + (rng() < 0.8 ? int(rng, 7 * 3600, 20 * 3600) : int(rng, 0, DAY - 1));
        if (t < start || t >= anchorSec - 1800) continue; // recent activity comes from the explicit near-anchor runs below
        const p = planTrigger(repo, t);
        if (p) planned.push(p);
      }
      // nightly schedules (02:00 UTC plus GitHub's scheduling delay)
      for (const w of workflows.filter((x) => x.repo === repo.full_name && x.events.includes("schedule"))) {
        const t = dayStart + 2 * 3600 + int(rng, 30, 900);
        if (t < start || t >= anchorSec - 1800) continue;
        planned.push({ created: t, repo, workflow: w, event: "schedule", branch: "main", actor: pick(rng, humans), outcome: outcomeOf(rng), reruns: [], minQueue: 0, minDuration: 0 });
      }
    }
  }

  // the busy day: a release crunch in acme/api
  const api = repoOf("acme/api");
  const busyStart = anchorDay - opts.busyDayOffset * DAY;
  for (let k = 0; k < opts.busyDayRuns; k++) {
    const t = busyStart + int(rng, 0, DAY - 1);
    const p = planTrigger(api, t, rng() < 0.5 ? "push" : "pull_request");
    if (p) planned.push(p);
  }

  // explicit landmark runs
  const special = (p: Omit<PlannedRun, "minQueue" | "minDuration" | "reruns"> & Partial<PlannedRun>): void => {
    planned.push({ minQueue: 0, minDuration: 0, reruns: [], ...p });
  };
  const alice = humans[0] ?? USER;
  const bob = humans[1] ?? USER;
  special({ role: "bigRunId", created: anchorDay - 2 * DAY + 10 * 3600 + 17, repo: repoOf("acme/web"), workflow: wfOf("acme/web", "E2E"), event: "workflow_dispatch", branch: "main", actor: alice, outcome: "failure" });
  special({
    role: "rerun2RunId", created: anchorDay - 4 * DAY + 9 * 3600 + 1234, repo: api, workflow: wfOf("acme/api", "CI"), event: "pull_request", branch: "feature/retry-logic", actor: bob, outcome: "failure",
    reruns: [{ mode: "failed", outcome: "success", actor: bob, delay: 1800 }],
  });
  special({
    role: "rerun3RunId", created: anchorDay - 5 * DAY + 14 * 3600 + 321, repo: repoOf("acme/mobile"), workflow: wfOf("acme/mobile", "CI"), event: "push", branch: "main", actor: alice, outcome: "failure",
    reruns: [{ mode: "all", outcome: "failure", actor: alice, delay: 900 }, { mode: "failed", outcome: "success", actor: bob, delay: 2400 }],
  });
  special({ role: "queuedRunId", created: anchorSec - 95, repo: api, workflow: wfOf("acme/api", "CI"), event: "push", branch: "main", actor: alice, outcome: "success", minQueue: 900 });
  special({ role: "inProgressRunId", created: anchorSec - 8 * 60, repo: repoOf("acme/web"), workflow: wfOf("acme/web", "CI"), event: "pull_request", branch: "feature/dark-mode", actor: bob, outcome: "success", minDuration: 1200 });
  special({ role: "midnightRunId", created: anchorDay - 2 * DAY - 14 * 60, repo: api, workflow: wfOf("acme/api", "Nightly"), event: "schedule", branch: "main", actor: alice, outcome: "success", minDuration: 1500 });
  special({ role: "stuckQueuedRunId", created: anchorSec - 5 * 3600, repo: repoOf("acme/ml-platform"), workflow: wfOf("acme/ml-platform", "Train"), event: "workflow_dispatch", branch: "main", actor: alice, outcome: "success", minQueue: 0 });

  if (opts.workflowGraph) planPlatformRuns(planned, repoOf("acme/platform"), wfOf, anchorDay, anchorSec, alice);

  planned.sort((a, b) => a.created - b.created);

  // materialise runs: ids in creation order, run numbers per workflow
  const runNumbers = new Map<number, number>();
  const runs: SimRun[] = [];
  const specialIds: Partial<Dataset["special"]> = {};
  const ds: Dataset = {
    seed, anchor, options: opts, org: ORG, user: USER, accounts: [ORG, ...HUMANS, DEPENDABOT], repos, workflows, runs, packages: [],
    special: specialIds as Dataset["special"],
  };
  let prNumber = 100;
  const shaOfPlanned = new Map<PlannedRun, string>();
  planned.forEach((p, seq) => {
    const id = RUN_ID_BASE + seq * 7 + (seq % 5);
    const runNumber = (runNumbers.get(p.workflow.id) ?? 0) + 1;
    runNumbers.set(p.workflow.id, runNumber);
    const fresh = hex(rng, 40);
    const sha = (p.shaOf && shaOfPlanned.get(p.shaOf)) ?? fresh;
    shaOfPlanned.set(p, sha);
    const isPr = p.event === "pull_request";
    const message = p.actor.type === "Bot" ? `Bump ${p.branch.split("/").pop() ?? "deps"}` : `${pick(rng, ["Fix", "Add", "Refactor", "Update", "Tune"])} ${pick(rng, SLUGS).replace("-", " ")}`;
    const pr: SimPullRequestRef[] = isPr
      ? [{ number: ++prNumber, id: 2_100_000_000 + prNumber, head_ref: p.branch, head_sha: sha, base_ref: "main", base_sha: hex(rng, 40) }]
      : [];
    const run: SimRun = {
      id, seq, repo: p.repo.full_name, workflow_id: p.workflow.id, workflow_name: p.workflow.name, workflow_path: p.workflow.path, run_number: runNumber,
      event: p.event, head_branch: p.branch, head_sha: sha,
      display_title: p.event === "schedule" ? p.workflow.name : p.event === "workflow_dispatch" ? p.workflow.name : message,
      commit_message: message, commit_author: p.actor.login, created_at: iso(p.created), pull_requests: pr, attempts: [],
    };
    const first: SimRunAttempt = {
      run_attempt: 1, status: "queued", conclusion: null, created_at: run.created_at, run_started_at: run.created_at, updated_at: run.created_at,
      actor: p.actor.login, triggering_actor: p.actor.login, rerun_mode: "all", planned_outcome: p.outcome, observed_at: anchor,
      min_queue_seconds: p.minQueue, min_duration_seconds: p.minDuration,
    };
    if (p.role) specialIds[p.role] = id;
    settleAttempt(ds, run, first);
    run.attempts.push(first);
    for (const r of p.reruns) {
      const prev = run.attempts[run.attempts.length - 1];
      if (!prev || prev.status !== "completed") break;
      const startAt = toSec(prev.updated_at) + r.delay;
      if (startAt >= anchorSec) break;
      const a: SimRunAttempt = {
        run_attempt: prev.run_attempt + 1, status: "queued", conclusion: null, created_at: run.created_at, run_started_at: iso(startAt), updated_at: iso(startAt),
        actor: p.actor.login, triggering_actor: r.actor.login, rerun_mode: r.mode, planned_outcome: r.outcome, observed_at: anchor, min_queue_seconds: 0, min_duration_seconds: 0,
      };
      settleAttempt(ds, run, a);
      run.attempts.push(a);
    }
    runs.push(run);
  });

  ds.packages = generatePackages(seed, anchorSec, opts.bigPackageVersions, repos);
  return ds;
}

/**
 * The runs of `acme/platform` beyond its normal traffic: a Publish run (`workflow_run`, on CI's commit)
 * 20 minutes after every CI push to main, and explicit runs of the Docs (invalid file), generated and
 * CodeQL workflows so each has runs whatever the traffic.
 */
function planPlatformRuns(planned: PlannedRun[], repo: SimRepo, wfOf: (repo: string, name: string) => SimWorkflow, anchorDay: number, anchorSec: number, actor: SimAccount): void {
  const ci = wfOf(repo.full_name, "CI");
  const publish = wfOf(repo.full_name, "Publish");
  for (const p of planned.filter((x) => x.workflow === ci && x.event === "push")) {
    if (p.branch === "main") {
      const created = p.created + 1200;
      if (created < anchorSec - 1800) planned.push({ created, repo, workflow: publish, event: "workflow_run", branch: "main", actor: p.actor, outcome: "success", reruns: [], minQueue: 0, minDuration: 0, shaOf: p });
    } else {
      // A push to a branch with an open pull request runs CI twice on one commit: push and pull_request.
      planned.push({ ...p, created: p.created + 3, event: "pull_request", reruns: [], role: undefined, shaOf: p });
    }
  }
  const explicit: [string, string, number][] = [["Docs", "push", 9], ["Docs", "push", 2], ["Generated matrix", "workflow_dispatch", 8], ["Generated matrix", "workflow_dispatch", 3], ["CodeQL", "push", 4]];
  for (const [name, event, days] of explicit)
    planned.push({ created: anchorDay - days * DAY + 11 * 3600, repo, workflow: wfOf(repo.full_name, name), event, branch: "main", actor, outcome: "success", reruns: [], minQueue: 0, minDuration: 0 });
}

/** Fills status, conclusion and updated_at of an attempt from its (deterministic) jobs. */
function settleAttempt(ds: Dataset, run: SimRun, attempt: SimRunAttempt): void {
  const prevJobs: SimJob[][] = [];
  let idOffset = 0;
  for (const a of run.attempts) {
    const js = buildAttemptJobs(ds, run, a, prevJobs[prevJobs.length - 1] ?? [], idOffset);
    idOffset += js.length;
    prevJobs.push(js);
  }
  const jobs = buildAttemptJobs(ds, run, attempt, prevJobs[prevJobs.length - 1] ?? [], idOffset);
  const observed = toSec(attempt.observed_at);
  const start = toSec(attempt.run_started_at);
  if (jobsPlan(ds, run, attempt, prevJobs[prevJobs.length - 1] ?? []).length === 0) {
    // A workflow file GitHub cannot parse: the run fails at once, without a job.
    attempt.status = "completed";
    attempt.conclusion = "failure";
    attempt.updated_at = iso(Math.min(start + 2, Math.max(observed, start)));
    return;
  }
  const allDone = jobs.length > 0 && jobs.every((j) => j.status === "completed") && jobs.length === expectedJobCount(ds, run, attempt, prevJobs[prevJobs.length - 1] ?? []);
  if (allDone) {
    attempt.status = "completed";
    const cs = jobs.map((j) => j.conclusion);
    attempt.conclusion = cs.includes("timed_out") ? "timed_out" : cs.includes("failure") ? "failure" : cs.includes("cancelled") ? "cancelled"
      : cs.every((c) => c === "skipped") ? "skipped" : "success";
    if (attempt.conclusion === "skipped") attempt.conclusion = "success";
    const end = Math.max(...jobs.map((j) => toSec(j.completed_at ?? j.started_at)));
    attempt.updated_at = iso(Math.min(end + 2, Math.max(observed, end)));
  } else {
    attempt.status = jobs.some((j) => j.status !== "queued") ? "in_progress" : "queued";
    attempt.conclusion = null;
    let last = start;
    for (const j of jobs) last = Math.max(last, toSec(j.created_at), toSec(j.started_at), j.completed_at ? toSec(j.completed_at) : 0);
    attempt.updated_at = iso(Math.min(last + 1, observed));
  }
}

function expectedJobCount(ds: Dataset, run: SimRun, attempt: SimRunAttempt, prev: SimJob[]): number {
  return jobsPlan(ds, run, attempt, prev).length;
}

export function workflowOf(ds: Dataset, run: SimRun): SimWorkflow {
  const w = ds.workflows.find((x) => x.id === run.workflow_id);
  if (!w) throw new Error(`no workflow ${run.workflow_id}`);
  return w;
}

/** Templates run in this attempt (all, or the failed ones and their dependents). */
function jobsPlan(ds: Dataset, run: SimRun, attempt: SimRunAttempt, prev: SimJob[]): SimJobTemplate[] {
  const all = jobsAt(workflowOf(ds, run), run.created_at);
  if (attempt.rerun_mode === "all" || prev.length === 0) return all;
  const bad = new Set(prev.filter((j) => j.conclusion === "failure" || j.conclusion === "cancelled" || j.conclusion === "timed_out").map((j) => j.name));
  if (bad.size === 0) return all;
  // dependents: transitively
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of all) {
      if (!bad.has(t.name) && t.needs.some((n) => bad.has(n) || [...bad].some((b) => executes(b, n)))) {
        bad.add(t.name);
        changed = true;
      }
    }
  }
  return all.filter((t) => bad.has(t.name));
}

const HOSTED_OS: Record<string, string> = { "ubuntu-latest": "Linux", "ubuntu-22.04": "Linux", "windows-latest": "Windows", "macos-14": "macOS" };

/**
 * The jobs of one attempt, as observed at `attempt.observed_at`. Deterministic from
 * (seed, run id, attempt number, the attempt's plan fields).
 */
function buildAttemptJobs(ds: Dataset, run: SimRun, attempt: SimRunAttempt, prev: SimJob[], idOffset: number): SimJob[] {
  const rng = seedrandom.alea(`${ds.seed}|jobs|${run.id}|${attempt.run_attempt}`);
  const plan = jobsPlan(ds, run, attempt, prev);
  const start = toSec(attempt.run_started_at);
  const observed = toSec(attempt.observed_at);
  const isDefault = run.head_branch === "main";
  const outcome = attempt.planned_outcome;
  const failable = plan.filter((t) => !(t.defaultBranchOnly && !isDefault));
  const culprit = outcome === "success" || failable.length === 0 ? undefined : pick(rng, failable).name;
  const cancelAt = outcome === "cancelled" ? start + int(rng, 30, 600) : Number.POSITIVE_INFINITY;

  interface Timed { t: SimJobTemplate; created: number; started: number; ended: number; conclusion: NonNullable<SimJob["conclusion"]>; failStepIdx: number; runnerNo: number }
  const done = new Map<string, Timed>();
  const out: Timed[] = [];
  for (const t of plan) {
    const deps = t.needs.flatMap((n) => plan.filter((x) => executes(x.name, n)).map((x) => done.get(x.name)).filter((x): x is Timed => x !== undefined));
    const depEnd = deps.length ? Math.max(...deps.map((d) => d.ended)) : start;
    const created = depEnd + int(rng, 1, 4);
    const depFailed = deps.some((d) => d.conclusion !== "success");
    const hosted = t.runner in HOSTED_OS;
    let queue = t.runner === "gpu" ? int(rng, 30, 1200) : hosted ? (rng() < 0.9 ? int(rng, 2, 40) : int(rng, 40, 400)) : int(rng, 1, 240);
    if (deps.length === 0) queue = Math.max(queue, attempt.min_queue_seconds);
    if (run.id === ds.special?.stuckQueuedRunId && t.runner === "gpu") queue = 10 * 3600;
    let duration = Math.max(int(rng, t.duration[0], t.duration[1]), attempt.min_duration_seconds);
    const runnerNo = int(rng, 1, 60);
    let conclusion: Timed["conclusion"] = "success";
    let failStepIdx = -1;
    if ((t.defaultBranchOnly && !isDefault) || depFailed) {
      conclusion = "skipped";
      queue = 0;
      duration = 0;
    } else if (t.name === culprit) {
      failStepIdx = t.steps.length; // index in full step list: last template step (1 + len - 1)
      if (outcome === "failure") conclusion = "failure";
      else if (outcome === "timed_out") {
        conclusion = "timed_out";
        duration = Math.max(duration, t.duration[1]) + 60;
      }
    }
    let startedAt = created + queue;
    let ended = startedAt + duration;
    if (conclusion !== "skipped" && ended > cancelAt) {
      conclusion = "cancelled";
      if (startedAt >= cancelAt) {
        startedAt = created;
        ended = Math.max(created, cancelAt) + 1;
        failStepIdx = -2; // never started
      } else {
        ended = cancelAt + int(rng, 1, 5);
        failStepIdx = Math.min(t.steps.length, 1 + Math.floor(((cancelAt - startedAt) / Math.max(1, duration)) * t.steps.length));
      }
    }
    if (conclusion === "skipped") {
      startedAt = created;
      ended = created;
    }
    const timed: Timed = { t, created, started: startedAt, ended, conclusion, failStepIdx, runnerNo };
    done.set(t.name, timed);
    out.push(timed);
  }

  const jobs: SimJob[] = [];
  const jobBase = JOB_ID_BASE + run.seq * JOB_ID_BLOCK + idOffset;
  out.forEach((x, i) => {
    if (x.created > observed) return; // not created yet at observation time
    const t = x.t;
    const stepNames = ["Set up job", ...t.steps, ...(t.steps[0]?.startsWith("Run actions/checkout") ? ["Post Run actions/checkout@v4"] : []), "Complete job"];
    const neverStarted = x.conclusion === "skipped" || x.failStepIdx === -2;
    const hosted = t.runner in HOSTED_OS;
    const labels = x.conclusion === "skipped" ? [] : hosted ? [t.runner] : t.runner === "gpu" ? ["self-hosted", "linux", "x64", "gpu"] : ["self-hosted", "linux", "x64"];
    const job: SimJob = {
      id: jobBase + i, run_id: run.id, run_attempt: attempt.run_attempt, name: t.name, status: "completed", conclusion: x.conclusion,
      created_at: iso(x.created), started_at: iso(x.started), completed_at: iso(x.ended), labels,
      runner_id: null, runner_name: null, runner_group_id: null, runner_group_name: null,
      workflow_name: run.workflow_name, head_branch: run.head_branch, head_sha: run.head_sha, steps: [],
    };
    const queuedNow = x.started > observed;
    if (!neverStarted && !queuedNow) {
      if (hosted) Object.assign(job, { runner_id: 1000 + x.runnerNo, runner_name: `GitHub Actions ${x.runnerNo}`, runner_group_id: 0, runner_group_name: "GitHub Actions" });
      else if (t.runner === "gpu") Object.assign(job, { runner_id: 500 + (x.runnerNo % 4), runner_name: `gpu-runner-0${x.runnerNo % 4}`, runner_group_id: 3, runner_group_name: "gpu" });
      else Object.assign(job, { runner_id: 400 + (x.runnerNo % 8), runner_name: `acme-runner-0${x.runnerNo % 8}`, runner_group_id: 1, runner_group_name: "Default" });
      // steps: split the duration
      const weights = stepNames.map((n) => (n === "Set up job" || n === "Complete job" || n.startsWith("Post ") ? 0.05 : 0.3 + rng()));
      const total = weights.reduce((a, b) => a + b, 0);
      let cursor = x.started;
      const span = x.ended - x.started;
      const stopIdx = x.conclusion === "success" ? -1 : x.failStepIdx;
      let stopped = false;
      stepNames.forEach((name, k) => {
        const w = weights[k] ?? 0;
        const isTail = name === "Complete job" || name.startsWith("Post ");
        const s0 = cursor;
        const s1 = k === stepNames.length - 1 ? x.ended : Math.min(x.ended, cursor + Math.round((span * w) / total));
        cursor = s1;
        let conclusion: SimStep["conclusion"] = "success";
        if (stopped && !isTail) conclusion = "skipped";
        else if (k === stopIdx) {
          conclusion = x.conclusion === "failure" ? "failure" : "cancelled";
          stopped = true;
        }
        const step: SimStep = { name, number: k + 1, status: "completed", conclusion, started_at: iso(conclusion === "skipped" ? s1 : s0), completed_at: iso(s1) };
        job.steps.push(step);
      });
    }
    if (queuedNow && !neverStarted) {
      Object.assign(job, { status: "queued", conclusion: null, started_at: job.created_at, completed_at: null, labels });
    } else if (!neverStarted && x.ended > observed) {
      job.status = "in_progress";
      job.conclusion = null;
      job.completed_at = null;
      for (const s of job.steps) {
        const s0 = s.started_at ? toSec(s.started_at) : 0;
        const s1 = s.completed_at ? toSec(s.completed_at) : 0;
        if (s1 <= observed) continue;
        if (s0 <= observed) Object.assign(s, { status: "in_progress", conclusion: null, completed_at: null });
        else Object.assign(s, { status: "queued", conclusion: null, started_at: null, completed_at: null });
      }
    }
    jobs.push(job);
  });
  return jobs;
}

/** Jobs of one attempt of a run (ids unique across attempts). */
export function jobsOfAttempt(ds: Dataset, run: SimRun, attemptNumber: number): SimJob[] {
  let prev: SimJob[] = [];
  let offset = 0;
  for (const a of run.attempts) {
    const js = buildAttemptJobs(ds, run, a, prev, offset);
    if (a.run_attempt === attemptNumber) return js;
    offset += js.length;
    prev = js;
  }
  return [];
}

/** Every job of every attempt of a run, attempt by attempt (what `jobs?filter=all` returns). */
export function allJobsOf(ds: Dataset, run: SimRun): SimJob[][] {
  const out: SimJob[][] = [];
  let prev: SimJob[] = [];
  let offset = 0;
  for (const a of run.attempts) {
    const js = buildAttemptJobs(ds, run, a, prev, offset);
    out.push(js);
    offset += js.length;
    prev = js;
  }
  return out;
}

/** Every job of every attempt of the run with this id (flat). */
export function jobsOf(ds: Dataset, runId: number): SimJob[] {
  const run = findRun(ds, runId);
  return run ? allJobsOf(ds, run).flat() : [];
}

/** Binary search by id (runs are sorted by created_at and ids grow with seq, so ids are ascending). */
export function findRun(ds: Dataset, runId: number): SimRun | undefined {
  let lo = 0;
  let hi = ds.runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ds.runs[mid];
    if (!r) break;
    if (r.id === runId) return r;
    if (r.id < runId) lo = mid + 1;
    else hi = mid - 1;
  }
  return ds.runs.find((r) => r.id === runId);
}

/** The latest attempt of a run. */
export function latestAttempt(run: SimRun): SimRunAttempt {
  const a = run.attempts[run.attempts.length - 1];
  if (!a) throw new Error(`run ${run.id} has no attempts`);
  return a;
}

/**
 * Re-runs a run (mutates the dataset): adds a completed attempt after the anchor (or after the previous
 * attempt), with new job ids. `failedOnly` re-runs only failed jobs and their dependents.
 */
export function rerunRun(ds: Dataset, runId: number, opts: { failedOnly?: boolean; outcome?: RunConclusion; actor?: string; at?: string } = {}): SimRunAttempt {
  const run = findRun(ds, runId);
  if (!run) throw new Error(`no run ${runId}`);
  const prev = latestAttempt(run);
  const base = Math.max(toSec(ds.anchor), toSec(prev.updated_at));
  const startAt = opts.at ? toSec(opts.at) : base + 60;
  const used = allJobsOf(ds, run).reduce((n, js) => n + js.length, 0);
  if (used + jobsAt(workflowOf(ds, run), run.created_at).length > JOB_ID_BLOCK) throw new Error(`run ${runId} has no job ids left for another attempt`);
  const a: SimRunAttempt = {
    run_attempt: prev.run_attempt + 1, status: "queued", conclusion: null, created_at: run.created_at, run_started_at: iso(startAt), updated_at: iso(startAt),
    actor: prev.actor, triggering_actor: opts.actor ?? "alice", rerun_mode: opts.failedOnly ? "failed" : "all", planned_outcome: opts.outcome ?? "success",
    observed_at: iso(startAt + 30 * DAY), min_queue_seconds: 0, min_duration_seconds: 0,
  };
  settleAttempt(ds, run, a);
  run.attempts.push(a);
  return a;
}

// ---------------------------------------------------------------- packages

function generatePackages(seed: string, anchorSec: number, bigVersions: number, repos: SimRepo[]): SimPackage[] {
  const rng = seedrandom.alea(`${seed}|packages`);
  let versionId = 310_000_000;
  const specs: { owner: string; ownerType: "Organization" | "User"; name: string; type: "container" | "npm"; count: number; deleted: number; repo: string | null; visibility: "private" | "public" }[] = [
    { owner: "acme", ownerType: "Organization", name: "api", type: "container", count: bigVersions, deleted: 3, repo: "acme/api", visibility: "private" },
    { owner: "acme", ownerType: "Organization", name: "web", type: "container", count: 40, deleted: 1, repo: "acme/web", visibility: "private" },
    { owner: "acme", ownerType: "Organization", name: "sdk", type: "npm", count: 24, deleted: 1, repo: "acme/api", visibility: "public" },
    { owner: "octo-dev", ownerType: "User", name: "devbox", type: "container", count: 12, deleted: 0, repo: "octo-dev/dotfiles", visibility: "public" },
    { owner: "octo-dev", ownerType: "User", name: "dotfiles-cli", type: "npm", count: 8, deleted: 0, repo: "octo-dev/dotfiles", visibility: "public" },
  ];
  return specs.map((s, i): SimPackage => {
    const total = s.count + s.deleted;
    const firstAt = anchorSec - 120 * DAY + i * 7200;
    // publish times, ascending, within [firstAt, anchor)
    const times = Array.from({ length: total }, () => firstAt + Math.floor(rng() * (anchorSec - 3600 - firstAt))).sort((a, b) => a - b);
    const versions: SimPackageVersion[] = times.map((t, k): SimPackageVersion => {
      const id = versionId++;
      const semver = `1.${Math.floor(k / 10)}.${k % 10}`;
      const tags = s.type === "container" ? (k === total - 1 ? ["latest", `v${semver}`] : rng() < 0.15 ? [] : [`v${semver}`, `sha-${hex(rng, 7)}`]) : [];
      return {
        id, name: s.type === "container" ? `sha256:${hex(rng, 64)}` : semver, created_at: iso(t), updated_at: iso(t + int(rng, 0, 120)), deleted_at: null, tags,
        description: s.type === "npm" ? `${s.name} ${semver}` : null,
      };
    });
    // delete a few (not the newest)
    for (let d = 0; d < s.deleted; d++) {
      const v = versions[1 + d * 5];
      if (v) v.deleted_at = iso(toSec(v.created_at) + 10 * DAY);
    }
    versions.reverse();
    const live = versions.filter((v) => v.deleted_at === null);
    return {
      id: 4_200_000 + i * 11, owner: s.owner, owner_type: s.ownerType, name: s.name, package_type: s.type, visibility: s.visibility,
      repo: repos.some((r) => r.full_name === s.repo) ? s.repo : null,
      created_at: iso(firstAt), updated_at: live[0]?.updated_at ?? iso(firstAt), versions,
    };
  });
}

// ---------------------------------------------------------------- landmarks

export interface Landmarks {
  /** The UTC day (YYYY-MM-DD) and repo with more than 1,000 runs, and its run count. */
  busyDay: { repo: string; date: string; runs: number } | null;
  /** The run with more than 100 jobs in its latest attempt. */
  bigRunId: number;
  /** A run with 2 attempts; the second re-ran failed jobs only. */
  rerunRunId: number;
  /** A run with 3 attempts. */
  rerun3RunId: number;
  /** Queued at the anchor (conclusion null, jobs queued). */
  queuedRunId: number;
  /** In progress at the anchor (conclusion null). */
  inProgressRunId: number;
  /** Created before and finished after midnight UTC. */
  midnightRunId: number;
  /** In progress for hours, its gpu job queued (never started). */
  stuckQueuedRunId: number;
  /** The package with more than 100 live versions. */
  bigPackage: { owner: string; package_type: string; name: string; versions: number };
}

export function landmarks(ds: Dataset): Landmarks {
  const counts = new Map<string, number>();
  for (const r of ds.runs) {
    const key = `${r.repo} ${r.created_at.slice(0, 10)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  let busy: Landmarks["busyDay"] = null;
  for (const [k, n] of counts) {
    if (n > 1000 && (!busy || n > busy.runs)) {
      const [repo = "", date = ""] = k.split(" ");
      busy = { repo, date, runs: n };
    }
  }
  const big = [...ds.packages].sort((a, b) => b.versions.length - a.versions.length)[0];
  if (!big) throw new Error("no packages");
  return {
    busyDay: busy,
    bigRunId: ds.special.bigRunId,
    rerunRunId: ds.special.rerun2RunId,
    rerun3RunId: ds.special.rerun3RunId,
    queuedRunId: ds.special.queuedRunId,
    inProgressRunId: ds.special.inProgressRunId,
    midnightRunId: ds.special.midnightRunId,
    stuckQueuedRunId: ds.special.stuckQueuedRunId,
    bigPackage: { owner: big.owner, package_type: big.package_type, name: big.name, versions: big.versions.filter((v) => v.deleted_at === null).length },
  };
}

/**
 * Adds a new run (mutates the dataset) and returns it. The run is appended to `ds.runs` (ids stay
 * ascending; `created_at` defaults to one minute after the newest run or the anchor, whichever is later).
 * Its first attempt is observed `observedAt` (default: long after it finished, so it is completed).
 */
export function addRunToDataset(
  ds: Dataset,
  opts: { repo: string; workflow?: string; created_at?: string; event?: string; branch?: string; outcome?: RunConclusion; actor?: string; observed_at?: string },
): SimRun {
  const workflow = ds.workflows.find((w) => w.repo === opts.repo && (opts.workflow === undefined || w.name === opts.workflow));
  if (!workflow) throw new Error(`no workflow ${opts.workflow ?? "(any)"} in ${opts.repo}`);
  const last = ds.runs[ds.runs.length - 1];
  const seq = ds.runs.length;
  const id = (last?.id ?? RUN_ID_BASE) + 7;
  const created = opts.created_at ? toSec(opts.created_at) : Math.max(toSec(ds.anchor), last ? toSec(last.created_at) : 0) + 60;
  const rng = seedrandom.alea(`${ds.seed}|added|${id}`);
  const runNumber = ds.runs.reduce((n, r) => (r.workflow_id === workflow.id ? Math.max(n, r.run_number) : n), 0) + 1;
  const actor = opts.actor ?? "alice";
  const sha = hex(rng, 40);
  const run: SimRun = {
    id, seq, repo: opts.repo, workflow_id: workflow.id, workflow_name: workflow.name, workflow_path: workflow.path, run_number: runNumber,
    event: opts.event ?? "push", head_branch: opts.branch ?? "main", head_sha: sha, display_title: "Added run", commit_message: "Added run",
    commit_author: actor, created_at: iso(created), pull_requests: [], attempts: [],
  };
  const a: SimRunAttempt = {
    run_attempt: 1, status: "queued", conclusion: null, created_at: run.created_at, run_started_at: run.created_at, updated_at: run.created_at,
    actor, triggering_actor: actor, rerun_mode: "all", planned_outcome: opts.outcome ?? "success",
    observed_at: opts.observed_at ?? iso(created + 30 * DAY), min_queue_seconds: 0, min_duration_seconds: 0,
  };
  settleAttempt(ds, run, a);
  run.attempts.push(a);
  ds.runs.push(run);
  return run;
}
