import { defineConfig, mergeConfig } from "vitest/config";
import base from "../vitest.base.js";

/** The invariant checks' unit tests, and the CI subset of the drills (ci.test.ts). */
export default mergeConfig(base, defineConfig({ test: { name: "@scheduler/drills" } }));
