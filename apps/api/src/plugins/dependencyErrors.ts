import { AppError } from "@scheduler/core";
import { sqlStateOf } from "@scheduler/db";

/** Seconds a client is asked to wait before trying a 503 again (`Retry-After`). */
const DEPENDENCY_RETRY_AFTER_SECONDS = 1;

/**
 * SQLSTATEs that mean "the database could not serve this now", not "the request is
 * wrong": connection exceptions (class 08), statement timeout or cancel (57014), admin
 * or crash shutdown (57P01…57P03), cannot connect now (57P03), too many connections
 * (53300).
 */
const UNAVAILABLE_STATES = new Set(["57014", "57P01", "57P02", "57P03", "53300"]);
/** lock_not_available: a lock wait passed lock_timeout, or NOWAIT found it held. */
const LOCK_NOT_AVAILABLE = "55P03";

/** Socket codes of a connection to PostgreSQL or Redis that failed or went away. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"]);
/**
 * Failures that carry no code: pg's connect timeout and pool wait ("timeout exceeded
 * when trying to connect"), a connection that ended mid-query, ioredis with the
 * connection closed or a command past its timeout.
 */
const NO_CODE_MESSAGES =
  /Connection is closed|connection timeout|Connection terminated|timeout exceeded when trying to connect|Command timed out|max retries per request/i;

/**
 * The 503 a dependency failure answers (API.md §Errors), or undefined when `error` is
 * not one: LOCK_ACQUISITION_FAILED for a lock wait that timed out, SERVICE_UNAVAILABLE
 * for a statement timeout or a connection that failed, timed out or was refused. Both
 * ask the client to try again after DEPENDENCY_RETRY_AFTER_SECONDS.
 */
export function dependencyErrorOf(error: unknown): AppError | undefined {
  const details = { retryAfterSeconds: DEPENDENCY_RETRY_AFTER_SECONDS };
  const state = sqlStateOf(error);
  if (state === LOCK_NOT_AVAILABLE) {
    return new AppError("LOCK_ACQUISITION_FAILED", "a lock this request needs is held", details);
  }
  if (state !== undefined && (UNAVAILABLE_STATES.has(state) || state.startsWith("08"))) {
    return new AppError(
      "SERVICE_UNAVAILABLE",
      "the database could not serve this request now",
      details,
    );
  }
  if (state !== undefined) return undefined;
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (
      (typeof code === "string" && SOCKET_CODES.has(code)) ||
      (typeof message === "string" && NO_CODE_MESSAGES.test(message))
    ) {
      return new AppError(
        "SERVICE_UNAVAILABLE",
        "a dependency of this request is unavailable",
        details,
      );
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
