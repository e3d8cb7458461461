import { defineConfig } from "vitest/config";

/** `pnpm test`: every package's tests in one run, with one closing summary line. */
export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tests/*", "drills"],
    reporters: ["default", "./scripts/summaryReporter.ts"],
  },
});
