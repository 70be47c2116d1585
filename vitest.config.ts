import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // DuckDB files, simulator ports and the Dataform CLI are per-test resources; two cores on CI.
    pool: "forks",
    maxWorkers: 2,
  },
});
