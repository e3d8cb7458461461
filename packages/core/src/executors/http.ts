import { request } from "undici";
import type { HttpJobConfig, JobErrorType, JobResult } from "../job.js";

/** Response bodies kept in a result are cut to this many bytes. */
export const MAX_KEPT_BODY_BYTES = 64 * 1024;

/** What a run needs besides the job's config. */
export interface RunContext {
  executionId: string;
  scheduledAt: Date;
  /** 1 for the first attempt. */
  attempt: number;
  /** Aborts on the job's timeout or on cancel. */
  signal: AbortSignal;
}

/** An execution failure with its class; `result` is kept when there was a response. */
export class ExecutionError extends Error {
  override name = "ExecutionError";
  constructor(
    readonly errorType: JobErrorType,
    message: string,
    readonly result?: JobResult,
  ) {
    super(message);
  }
}

const DEFAULT_RETRY_STATUSES = (status: number) => status === 429 || status >= 500;

/** Which targets an HTTP job may reach beyond the public internet. */
export interface TargetPolicy {
  /** CIDRs allowed although not public (HTTP_JOB_ALLOWED_CIDRS). */
  allowedCidrs: readonly string[];
}

/** Runs one attempt of an HTTP job. Resolves with the JobResult or throws ExecutionError. */
export async function runHttpJob(
  config: HttpJobConfig,
  ctx: RunContext,
  _policy: TargetPolicy = { allowedCidrs: [] },
): Promise<JobResult> {
  const signal = config.timeout
    ? AbortSignal.any([ctx.signal, AbortSignal.timeout(config.timeout)])
    : ctx.signal;
  const headers: Record<string, string> = {
    ...config.headers,
    "x-scheduler-execution-id": ctx.executionId,
    "x-scheduler-scheduled-at": ctx.scheduledAt.toISOString(),
    "x-scheduler-attempt": String(ctx.attempt),
  };
  let body: string | undefined;
  if (config.body !== undefined && config.method !== "GET") {
    body = typeof config.body === "string" ? config.body : JSON.stringify(config.body);
    if (typeof config.body !== "string" && !hasHeader(headers, "content-type")) {
      headers["content-type"] = "application/json";
    }
  }

  let response: Awaited<ReturnType<typeof request>>;
  try {
    response = await request(config.url, { method: config.method, headers, body, signal });
  } catch (error) {
    throw classifyRequestError(error, signal);
  }
  const kept = await readCapped(response.body, MAX_KEPT_BODY_BYTES);
  const result: JobResult = {
    success: isExpectedStatus(config, response.statusCode),
    result: kept.text,
    metadata: { statusCode: response.statusCode, truncated: kept.truncated },
  };
  if (result.success) return result;
  const retryable = config.retryOnStatusCodes
    ? config.retryOnStatusCodes.includes(response.statusCode)
    : DEFAULT_RETRY_STATUSES(response.statusCode);
  throw new ExecutionError(
    retryable ? "SYSTEM_ERROR" : "USER_ERROR",
    `target answered HTTP ${response.statusCode}`,
    result,
  );
}

function isExpectedStatus(config: HttpJobConfig, status: number): boolean {
  return config.expectedStatusCode === undefined
    ? status >= 200 && status < 300
    : status === config.expectedStatusCode;
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

function classifyRequestError(error: unknown, signal: AbortSignal): ExecutionError {
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    if (reason?.name === "TimeoutError") return new ExecutionError("TIMEOUT", "request timed out");
    return new ExecutionError("CANCELLED", "request aborted");
  }
  const code = (error as { code?: string }).code ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (code === "UND_ERR_INVALID_ARG" || code === "ERR_INVALID_URL") {
    return new ExecutionError("VALIDATION_ERROR", `invalid request: ${message}`);
  }
  return new ExecutionError("NETWORK_ERROR", `request failed: ${code || message}`);
}

/** Reads at most `limit` bytes of a body, then drops the rest without buffering it. */
async function readCapped(
  body: AsyncIterable<Buffer> & { destroy(): unknown },
  limit: number,
): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    if (size + chunk.length > limit) {
      chunks.push(chunk.subarray(0, limit - size));
      truncated = true;
      body.destroy();
      break;
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { text: Buffer.concat(chunks).toString("utf8"), truncated };
}
