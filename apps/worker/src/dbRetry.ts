import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@scheduler/core";

/**
 * SQLSTATE classes and codes worth trying again: connection exceptions (08), insufficient
 * resources (53), operator intervention such as admin shutdown or a statement timeout
 * (57), serialization failure and deadlock (40001, 40P01), lock not available (55P03).
 */
const TRANSIENT_CLASSES = new Set(["08", "53", "57"]);
const TRANSIENT_CODES = new Set(["40001", "40P01", "55P03"]);

/** Failures of our own code: retrying them only delays the report. */
const PROGRAMMING_ERRORS = new Set(["TypeError", "ReferenceError", "RangeError", "SyntaxError"]);

/**
 * Whether a database call failed for a reason that may pass: a transient SQLSTATE, or no
 * SQLSTATE at all from a connection that failed before the server answered (refused,
 * reset, pool timeout). A permanent SQLSTATE or a programming error is not.
 */
export function isTransientDbError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) {
      return TRANSIENT_CLASSES.has(code.slice(0, 2)) || TRANSIENT_CODES.has(code);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return !PROGRAMMING_ERRORS.has((error as { name?: string } | null)?.name ?? "");
}

/**
 * Runs a database call, retrying transient failures with backoff (0.2 s doubling to 5 s)
 * for up to `giveUpAfterMs`; then, or on a permanent error, throws the last error.
 */
export async function withDbRetry<T>(
  what: string,
  call: () => Promise<T>,
  options: { log: Logger; giveUpAfterMs: number },
): Promise<T> {
  const deadline = Date.now() + options.giveUpAfterMs;
  for (let delayMs = 200; ; delayMs = Math.min(delayMs * 2, 5000)) {
    try {
      return await call();
    } catch (error) {
      if (!isTransientDbError(error) || Date.now() + delayMs > deadline) throw error;
      options.log.warn(
        { err: (error as Error).message, retryInMs: delayMs },
        `${what} failed; retrying`,
      );
      await sleep(delayMs);
    }
  }
}
