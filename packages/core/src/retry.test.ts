import { describe, expect, it } from "vitest";
import { ExecutionError } from "./executors/http.js";
import type { RetryConfig } from "./job.js";
import {
  classifyError,
  isRetryable,
  MAX_TIMER_DELAY_MS,
  retryDelayMs,
  shouldRetry,
} from "./retry.js";

const fixed: RetryConfig = { maxRetries: 3, retryDelayMs: 1000, exponentialBackoff: false };
const exponential: RetryConfig = { maxRetries: 10, retryDelayMs: 1000, exponentialBackoff: true };

describe("retryDelayMs", () => {
  it.each([
    { name: "fixed, first retry", config: fixed, n: 1, expected: 1000 },
    { name: "fixed, third retry", config: fixed, n: 3, expected: 1000 },
    { name: "exponential, first retry", config: exponential, n: 1, expected: 1000 },
    { name: "exponential, second retry", config: exponential, n: 2, expected: 2000 },
    { name: "exponential, fourth retry", config: exponential, n: 4, expected: 8000 },
    {
      name: "exponential, capped by maxRetryDelayMs",
      config: { ...exponential, maxRetryDelayMs: 5000 },
      n: 4,
      expected: 5000,
    },
    {
      name: "fixed, capped by maxRetryDelayMs",
      config: { ...fixed, maxRetryDelayMs: 300 },
      n: 1,
      expected: 300,
    },
    { name: "zero delay", config: { ...fixed, retryDelayMs: 0 }, n: 2, expected: 0 },
    {
      name: "exponential without a cap, held to the longest timer",
      config: { ...exponential, retryDelayMs: 86_400_000 },
      n: 20,
      expected: MAX_TIMER_DELAY_MS,
    },
  ])("gives $expected ms for $name", ({ config, n, expected }) => {
    expect(retryDelayMs(config, n)).toBe(expected);
  });
});

describe("shouldRetry", () => {
  it.each([
    { name: "TIMEOUT by default", type: "TIMEOUT", done: 0, expected: true },
    { name: "NETWORK_ERROR by default", type: "NETWORK_ERROR", done: 0, expected: true },
    { name: "SYSTEM_ERROR by default", type: "SYSTEM_ERROR", done: 2, expected: true },
    { name: "not USER_ERROR by default", type: "USER_ERROR", done: 0, expected: false },
    { name: "not VALIDATION_ERROR by default", type: "VALIDATION_ERROR", done: 0, expected: false },
    { name: "not once maxRetries are used", type: "TIMEOUT", done: 3, expected: false },
  ] as const)("retries $name", ({ type, done, expected }) => {
    expect(shouldRetry(fixed, type, done)).toBe(expected);
  });

  it("retries only the listed types when retryOnErrorTypes is given", () => {
    const config: RetryConfig = { ...fixed, retryOnErrorTypes: ["USER_ERROR"] };
    expect(shouldRetry(config, "USER_ERROR", 0)).toBe(true);
    expect(shouldRetry(config, "TIMEOUT", 0)).toBe(false);
  });

  it("never retries a cancel, even when CANCELLED is listed", () => {
    expect(shouldRetry({ ...fixed, retryOnErrorTypes: ["CANCELLED"] }, "CANCELLED", 0)).toBe(false);
  });

  it("does not retry a job without a retryConfig", () => {
    expect(shouldRetry(null, "TIMEOUT", 0)).toBe(false);
  });

  it("agrees with isRetryable on the default types", () => {
    for (const type of ["TIMEOUT", "NETWORK_ERROR", "SYSTEM_ERROR", "USER_ERROR"] as const) {
      expect(shouldRetry(fixed, type, 0)).toBe(isRetryable(type));
    }
  });
});

/** An error as it arrives from a worker thread or another copy of a module: no class. */
function plain(fields: Record<string, unknown>): object {
  return { message: "boom", ...fields };
}

describe("classifyError", () => {
  it.each([
    {
      name: "an ExecutionError",
      error: new ExecutionError("USER_ERROR", "HTTP 404"),
      type: "USER_ERROR",
    },
    {
      name: "a classless error with errorType",
      error: plain({ errorType: "TIMEOUT" }),
      type: "TIMEOUT",
    },
    { name: "a refused connection", error: plain({ code: "ECONNREFUSED" }), type: "NETWORK_ERROR" },
    { name: "a DNS failure", error: plain({ code: "ENOTFOUND" }), type: "NETWORK_ERROR" },
    {
      name: "a network failure in the cause",
      error: new Error("fetch failed", { cause: plain({ code: "ECONNRESET" }) }),
      type: "NETWORK_ERROR",
    },
    { name: "a TimeoutError", error: plain({ name: "TimeoutError" }), type: "TIMEOUT" },
    {
      name: "undici's headers timeout",
      error: plain({ code: "UND_ERR_HEADERS_TIMEOUT" }),
      type: "TIMEOUT",
    },
    { name: "an AbortError", error: plain({ name: "AbortError" }), type: "CANCELLED" },
    { name: "a ZodError", error: plain({ name: "ZodError" }), type: "VALIDATION_ERROR" },
    { name: "an invalid URL", error: plain({ code: "ERR_INVALID_URL" }), type: "VALIDATION_ERROR" },
    { name: "an unknown errorType", error: plain({ errorType: "NOPE" }), type: "SYSTEM_ERROR" },
    { name: "a plain Error", error: new Error("disk full"), type: "SYSTEM_ERROR" },
    { name: "a thrown string", error: "just text", type: "SYSTEM_ERROR" },
  ])("classifies $name as $type", ({ error, type }) => {
    expect(classifyError(error).errorType).toBe(type);
  });

  it("keeps the message and the partial result of a declared failure", () => {
    const result = { success: false, metadata: { statusCode: 503 } };
    const classified = classifyError(new ExecutionError("SYSTEM_ERROR", "HTTP 503", result));
    expect(classified).toEqual({ errorType: "SYSTEM_ERROR", message: "HTTP 503", result });
  });

  it("keeps the stack of the job's own code but not an executor's", () => {
    const own = Object.assign(new ExecutionError("USER_ERROR", "bad input"), {
      userStack: "Error: bad input\n    at handler (example.mjs:3:9)",
    });
    expect(classifyError(own).stack).toContain("example.mjs");
    expect(classifyError(new ExecutionError("USER_ERROR", "x")).stack).toBeUndefined();
  });

  it("keeps the stack of an unexpected error", () => {
    expect(classifyError(new Error("disk full")).stack).toContain("disk full");
  });

  it("uses the message of a thrown string", () => {
    expect(classifyError("just text").message).toBe("just text");
  });
});
