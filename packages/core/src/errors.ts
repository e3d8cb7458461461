/**
 * The one catalog of API error codes and their HTTP statuses. docs/API.md
 * (§Errors) is the spec; `errors.test.ts` fails when the two disagree.
 */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_CRON_EXPRESSION: 400,
  INVALID_TIMEZONE: 400,
  INVALID_JOB_CONFIG: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  JOB_NOT_FOUND: 404,
  EXECUTION_NOT_FOUND: 404,
  NOT_FOUND: 404,
  JOB_ALREADY_EXISTS: 409,
  JOB_ALREADY_RUNNING: 409,
  INVALID_STATE_TRANSITION: 409,
  REQUEST_TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  QUOTA_EXCEEDED: 429,
  RATE_LIMITED: 429,
  LOCK_ACQUISITION_FAILED: 503,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** An error the API answers with its own code; anything else is INTERNAL_ERROR. */
export class AppError extends Error {
  override name = "AppError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: object = {},
  ) {
    super(message);
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof Error && value.name === "AppError" && "code" in value;
}

/** Normalises whatever a `catch` caught into an Error. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  if (typeof value === "string") return new Error(value);
  try {
    return new Error(JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
}
