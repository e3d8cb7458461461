import type { LookupAddress } from "node:dns";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { Agent, request } from "undici";
import type { HttpJobConfig, JobErrorType, JobResult } from "../job.js";
import { isSecretHeader } from "../secrets.js";
import { httpTargetProblem, isAllowedAddress } from "../targets.js";
import { type HttpAgents, pinnedLookup } from "./httpAgents.js";

/** Response bodies kept in a result are cut to this many bytes. */
export const MAX_KEPT_BODY_BYTES = 64 * 1024;

/** Redirects followed in one attempt; one more fails it with USER_ERROR. */
export const MAX_REDIRECTS = 5;

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
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Fetch's "request-body-header names": meaningless once a redirect drops the body. */
const BODY_HEADERS = new Set([
  "content-type",
  "content-encoding",
  "content-language",
  "content-location",
]);

/** Which targets an HTTP job may reach beyond the public internet. */
export interface TargetPolicy {
  /** CIDRs allowed although not public (HTTP_JOB_ALLOWED_CIDRS). */
  allowedCidrs: readonly string[];
  /**
   * Resolves a host name to all its addresses. (Default: `dns.lookup` with `all`.)
   * A test seam: lets tests give DNS answers without a DNS server.
   */
  lookup?: (hostname: string) => Promise<readonly LookupAddress[]>;
  /**
   * Keep-alive connections shared between runs, each reused only for the address its
   * hop checked. (Default: none; every hop opens its own connection and closes it.)
   */
  agents?: HttpAgents;
}

interface HopRequest {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

interface HopResponse {
  statusCode: number;
  location: string | undefined;
  kept: { text: string; truncated: boolean };
}

/**
 * Runs one attempt of an HTTP job. Resolves with the JobResult or throws ExecutionError.
 *
 * Each hop (the first request and every redirect) is checked before any connection:
 * the scheme, a literal IP host, and every address DNS gives for a name must be
 * allowed by `policy`; the connection then goes to the address that was checked, so
 * DNS cannot answer differently between check and connect.
 */
export async function runHttpJob(
  config: HttpJobConfig,
  ctx: RunContext,
  policy: TargetPolicy = { allowedCidrs: [] },
): Promise<JobResult> {
  const signal = config.timeout
    ? AbortSignal.any([ctx.signal, AbortSignal.timeout(config.timeout)])
    : ctx.signal;
  let hop = firstRequest(config, ctx);
  let response: HopResponse;
  for (let redirects = 0; ; redirects++) {
    response = await sendHop(hop, redirects, config, policy, signal);
    if (response.location === undefined) break;
    if (redirects === MAX_REDIRECTS) {
      throw new ExecutionError("USER_ERROR", `more than ${MAX_REDIRECTS} redirects`);
    }
    hop = redirectedRequest(hop, response.statusCode, response.location, redirects + 1);
  }

  const result: JobResult = {
    success: isExpectedStatus(config, response.statusCode),
    result: response.kept.text,
    metadata: { statusCode: response.statusCode, truncated: response.kept.truncated },
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

function firstRequest(config: HttpJobConfig, ctx: RunContext): HopRequest {
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
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new ExecutionError("VALIDATION_ERROR", "config.url is not a valid URL");
  }
  return { url, method: config.method, headers, body };
}

/**
 * The request a redirect asks for. As browsers do (Fetch §4.4): 303 turns any method
 * into GET, and 301/302 turn POST into GET, dropping the body; 307/308 keep both.
 * Leaving the origin drops the secret headers (and Host), so a target cannot
 * redirect the job's credentials to a host of its choosing.
 */
function redirectedRequest(
  previous: HopRequest,
  status: number,
  location: string,
  redirect: number,
): HopRequest {
  let url: URL;
  try {
    url = new URL(location, previous.url);
  } catch {
    throw new ExecutionError("USER_ERROR", `redirect ${redirect} has an invalid Location`);
  }
  url.hash = "";
  const toGet =
    status === 303 || ((status === 301 || status === 302) && previous.method === "POST");
  const crossOrigin = url.origin !== previous.url.origin;
  const headers = Object.fromEntries(
    Object.entries(previous.headers).filter(([name]) => {
      const lower = name.toLowerCase();
      if (toGet && BODY_HEADERS.has(lower)) return false;
      return !(crossOrigin && (isSecretHeader(name) || lower === "host"));
    }),
  );
  return toGet
    ? { url, method: "GET", headers, body: undefined }
    : { url, method: previous.method, headers, body: previous.body };
}

async function sendHop(
  hop: HopRequest,
  redirects: number,
  config: HttpJobConfig,
  policy: TargetPolicy,
  signal: AbortSignal,
): Promise<HopResponse> {
  const where = redirects === 0 ? "config.url" : `redirect ${redirects} location`;
  const refused = httpTargetProblem(hop.url.href, policy.allowedCidrs);
  if (refused) throw new ExecutionError("VALIDATION_ERROR", `${where} ${refused}`);
  const address = await resolveChecked(hop.url, policy, signal, where);

  // The agent connects only to the checked address. Host header and TLS servername
  // still come from the URL, so virtual hosts and certificates work.
  const agent =
    policy.agents?.agentFor(hop.url.origin, address) ??
    new Agent({ connect: { lookup: pinnedLookup(address) } });
  const own = policy.agents ? undefined : agent;
  try {
    const response = await request(hop.url, {
      method: hop.method as HttpJobConfig["method"],
      headers: hop.headers,
      body: hop.body,
      signal,
      dispatcher: agent,
    });
    const location = response.headers.location;
    const followed =
      REDIRECT_STATUSES.has(response.statusCode) &&
      config.expectedStatusCode !== response.statusCode &&
      typeof location === "string";
    if (followed) {
      await response.body.dump();
      return { statusCode: response.statusCode, location, kept: { text: "", truncated: false } };
    }
    const kept = await readCapped(response.body, MAX_KEPT_BODY_BYTES);
    return { statusCode: response.statusCode, location: undefined, kept };
  } catch (error) {
    throw classifyRequestError(error, signal);
  } finally {
    await own?.destroy().catch(() => undefined);
  }
}

/**
 * The address to connect to: a literal IP host itself (checked by httpTargetProblem),
 * else the first DNS answer once every answer is allowed. A refusal names the host,
 * never the address it resolved to.
 */
async function resolveChecked(
  url: URL,
  policy: TargetPolicy,
  signal: AbortSignal,
  where: string,
): Promise<LookupAddress> {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const family = isIP(host);
  if (family !== 0) return { address: host, family };
  const resolveAll = policy.lookup ?? ((name) => dnsLookup(name, { all: true, verbatim: true }));
  let answers: readonly LookupAddress[];
  try {
    answers = await abortable(resolveAll(host), signal);
  } catch (error) {
    if (signal.aborted) throw classifyRequestError(error, signal);
    const code = (error as { code?: string }).code ?? "lookup failed";
    throw new ExecutionError("NETWORK_ERROR", `cannot resolve ${host}: ${code}`);
  }
  if (answers.length === 0) throw new ExecutionError("NETWORK_ERROR", `cannot resolve ${host}`);
  if (answers.some((a) => !isAllowedAddress(a.address, policy.allowedCidrs))) {
    throw new ExecutionError(
      "VALIDATION_ERROR",
      `${where} host ${host} resolves to an address that is not public (refused unless in HTTP_JOB_ALLOWED_CIDRS)`,
    );
  }
  return answers[0]!;
}

/** getaddrinfo cannot be cancelled; this at least lets the attempt end on time. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
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
  if (error instanceof ExecutionError) return error;
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
