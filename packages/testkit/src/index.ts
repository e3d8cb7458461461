// Everything the harness entry point offers, plus the vitest fixtures.

export { test } from "./fixtures.js";
export * from "./harness.js";
