/** GitHub REST API simulator: seeded dataset (ground truth) and the HTTP server that serves it. */
export {
  DEFAULT_ANCHOR, DEFAULT_SEED, JOB_ID_BLOCK, addRunToDataset, allJobsOf, findRun, generateDataset, iso, jobsOf, jobsOfAttempt, landmarks, latestAttempt,
  rerunRun, toSec,
} from "./dataset.js";
export type {
  Dataset, DatasetOptions, Landmarks, RunConclusion, RunnerKind, SimAccount, SimJob, SimJobTemplate, SimPackage, SimPackageVersion, SimPullRequestRef, SimRepo,
  SimRun, SimRunAttempt, SimStep, SimWorkflow,
} from "./dataset.js";
export { operationsDisabledForApps, parseCreated, startSimulator, verifyAppJwt } from "./server.js";
export type { ArtifactDownload, CreatedRange, FaultHook, Reply, RequestContext, Simulator, SimulatorApp, SimulatorOptions, SimulatorStats } from "./server.js";
export { HookStore, isSuccessful, signBody } from "./hooks.js";
export type { HookDelivery, HookScope, HooksOptions, PushOptions, PushRender, PushResult, RedeliveryOutcome, RedeliveryRequest, SimHook } from "./hooks.js";
export { artifactTruth, artifactsOfRun, findArtifact, HUGE_CASE_BYTES } from "./artifacts.js";
export type { ArtifactTruth, SimArtifact, SimCoverage, SimTestCase } from "./artifacts.js";
