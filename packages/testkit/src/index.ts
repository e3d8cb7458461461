// Everything the harness entry point offers, plus the vitest fixtures.
export * from "./harness.js";
export { test } from "./fixtures.js";
