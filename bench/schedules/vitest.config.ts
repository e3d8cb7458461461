import { fileURLToPath } from "node:url";
import { defineConfig, mergeConfig } from "vitest/config";
import base from "../../vitest.base.js";

/**
 * The burst benchmark runs under vitest only to use @scheduler/testkit (a database and
 * a Redis prefix of its own); it is not part of `pnpm test`.
 */
export default mergeConfig(
  base,
  defineConfig({
    test: {
      root: fileURLToPath(new URL(".", import.meta.url)),
      include: ["*.bench.ts"],
      testTimeout: 30 * 60_000,
      hookTimeout: 60_000,
    },
  }),
);
