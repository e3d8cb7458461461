import { assertNever } from "./errors.js";
import { JobErrorType, type JobResult, type RetryConfig } from "./job.js";

/** Error types retried when a retryConfig names none (API.md §CreateJobRequest). */
export const DEFAULT_RETRY_ON_ERROR_TYPES: readonly JobErrorType[] = [
  "TIMEOUT",
  "NETWORK_ERROR",
  "SYSTEM_ERROR",
];

/**
 * Longest delay a retry waits, in ms: Node timers fire at once beyond 2^31 − 1 ms, so a
 * larger exponential delay without maxRetryDelayMs is held here (about 24.8 days).
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Whether an error type is retried by default (no `retryOnErrorTypes` in the job). */
export function isRetryable(type: JobErrorType): boolean {
  switch (type) {
    case "TIMEOUT":
    case "NETWORK_ERROR":
    case "SYSTEM_ERROR":
      return true;
    case "VALIDATION_ERROR":
    case "USER_ERROR":
    case "CANCELLED":
      return false;
    default:
      return assertNever(type);
  }
}

/**
 * Delay before retry `retryNumber` (1 for the first retry), in ms: `retryDelayMs`, or
 * with exponentialBackoff `retryDelayMs × 2^(n−1)`, capped by `maxRetryDelayMs`.
 */
export function retryDelayMs(config: RetryConfig, retryNumber: number): number {
  const exponent = config.exponentialBackoff ? Math.max(0, retryNumber - 1) : 0;
  const delay = config.retryDelayMs * 2 ** exponent;
  const cap = Math.min(config.maxRetryDelayMs ?? MAX_TIMER_DELAY_MS, MAX_TIMER_DELAY_MS);
  return Math.min(delay, cap);
}

/**
 * Whether a failed attempt is tried again, after `retriesDone` retries. A cancel is
 * never retried, even when a job lists CANCELLED: cancelling means stop.
 */
export function shouldRetry(
  config: RetryConfig | null | undefined,
  errorType: JobErrorType,
  retriesDone: number,
): boolean {
  if (!config || errorType === "CANCELLED" || retriesDone >= config.maxRetries) return false;
  return config.retryOnErrorTypes
    ? config.retryOnErrorTypes.includes(errorType)
    : DEFAULT_RETRY_ON_ERROR_TYPES.includes(errorType);
}

/** A failed attempt as it is recorded and judged for retry. */
export interface ClassifiedError {
  errorType: JobErrorType;
  message: string;
  /** The stack of the job's own code (a function's throw), or of an unexpected error of ours. */
  stack?: string;
  /** Partial result: a response that came back, a command's output. */
  result?: JobResult;
}

/** Socket and DNS failures, by Node's `code`: the target could not be talked to. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EHOSTDOWN",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

const VALIDATION_CODES = new Set([
  "ERR_INVALID_URL",
  "ERR_INVALID_ARG_TYPE",
  "ERR_INVALID_ARG_VALUE",
  "UND_ERR_INVALID_ARG",
]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  stack?: unknown;
  errorType?: unknown;
  result?: unknown;
  userStack?: unknown;
  cause?: unknown;
}

/**
 * Classifies whatever an attempt threw. By `errorType`, `name` and `code` (walking
 * `cause`), never by `instanceof` alone: errors that crossed a worker thread or a
 * second copy of a module lose their class (STYLE §4). Anything unknown is a
 * SYSTEM_ERROR, retried by default.
 */
export function classifyError(error: unknown): ClassifiedError {
  const top = asErrorLike(error);
  const message = messageOf(error);
  const stack = typeof top.stack === "string" ? top.stack : undefined;
  const declared = JobErrorType.safeParse(top.errorType);
  if (declared.success) {
    const classified: ClassifiedError = { errorType: declared.data, message };
    if (isJobResult(top.result)) classified.result = top.result;
    // An executor's own stack says nothing to a tenant; the function's does.
    if (typeof top.userStack === "string") classified.stack = top.userStack;
    return classified;
  }
  return { errorType: typeOfCause(error), message, ...(stack ? { stack } : {}) };
}

function typeOfCause(error: unknown): JobErrorType {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const e = asErrorLike(current);
    if (e.name === "TimeoutError") return "TIMEOUT";
    if (e.name === "AbortError") return "CANCELLED";
    if (e.name === "ZodError" || e.name === "SecretError") return "VALIDATION_ERROR";
    if (typeof e.code === "string") {
      if (NETWORK_CODES.has(e.code)) return "NETWORK_ERROR";
      if (TIMEOUT_CODES.has(e.code)) return "TIMEOUT";
      if (VALIDATION_CODES.has(e.code)) return "VALIDATION_ERROR";
    }
    current = e.cause;
  }
  return "SYSTEM_ERROR";
}

function asErrorLike(value: unknown): ErrorLike {
  return typeof value === "object" && value !== null ? (value as ErrorLike) : {};
}

function messageOf(error: unknown): string {
  const e = asErrorLike(error);
  if (typeof e.message === "string" && e.message) return e.message;
  if (typeof error === "string") return error;
  return typeof e.name === "string" ? e.name : String(error);
}

function isJobResult(value: unknown): value is JobResult {
  return typeof value === "object" && value !== null && "success" in value;
}
