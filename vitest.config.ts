import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // DuckDB files, simulator ports and the Dataform CLI are per-test resources; two cores on CI.
    pool: "forks",
    maxWorkers: 2,
    // @actions/workflow-parser imports its schema JSON without an import attribute, which Node's ESM
    // loader refuses; letting Vite transform the package makes that import work (test/workflows.test.ts).
    server: { deps: { inline: ["@actions/workflow-parser"] } },
  },
});
