import { defineConfig } from "vitest/config";

/**
 * Shared by every package: resolve workspace packages to their TypeScript source
 * (the `@scheduler/source` export condition), so tests run unbuilt.
 */
const conditions = ["@scheduler/source", "module", "node", "development|production"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@scheduler/source"] } },
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
