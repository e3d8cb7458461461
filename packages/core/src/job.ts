import { z } from "zod";

export const JobType = z.enum(["http", "function", "command"]);
export type JobType = z.infer<typeof JobType>;

export const JobStatus = z.enum(["active", "paused", "inactive"]);
export type JobStatus = z.infer<typeof JobStatus>;

export const MisfirePolicy = z.enum(["fire_once", "skip", "fire_all"]);
export type MisfirePolicy = z.infer<typeof MisfirePolicy>;

export const JobErrorType = z.enum([
  "TIMEOUT",
  "NETWORK_ERROR",
  "VALIDATION_ERROR",
  "SYSTEM_ERROR",
  "USER_ERROR",
  "CANCELLED",
]);
export type JobErrorType = z.infer<typeof JobErrorType>;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What an HTTP/1.1 field value can carry: tab, visible ASCII, space, and Latin-1 bytes. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Header names the executor sets itself on every request (API.md: HttpJobConfig). */
const RESERVED_HEADER = /^x-scheduler-/i;

const HttpHeaders = z.record(
  z
    .string()
    .regex(HEADER_NAME, "is not a valid header name")
    .refine((name) => !RESERVED_HEADER.test(name), {
      message: "is reserved: X-Scheduler-* headers are set by the scheduler",
    }),
  z
    .string()
    .max(8192)
    .regex(HEADER_VALUE, "may hold only tab, printable ASCII and Latin-1 (no CR, LF or NUL)"),
);

export const HttpJobConfig = z.strictObject({
  url: z
    .url({ protocol: /^https?$/, error: "must be an http or https URL" })
    .max(2048, "must be at most 2048 characters"),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
  headers: HttpHeaders.optional(),
  body: z.unknown().optional(),
  /** Per-request timeout in ms; the job's `timeout` (seconds) still bounds the attempt. */
  timeout: z.int().min(1).max(86_400_000).optional(),
  expectedStatusCode: z.int().min(100).max(599).optional(),
  retryOnStatusCodes: z.array(z.int().min(100).max(599)).max(100).optional(),
});
export type HttpJobConfig = z.infer<typeof HttpJobConfig>;

export const FunctionJobConfig = z.strictObject({
  modulePath: z
    .string()
    .min(1)
    .max(200)
    .refine((p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), {
      message: "must be a path inside the function registry (no absolute path, no '..')",
    }),
  functionName: z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, "must be an identifier"),
  parameters: z.unknown().optional(),
  timeout: z.int().min(1).max(86_400_000).optional(),
});
export type FunctionJobConfig = z.infer<typeof FunctionJobConfig>;

const noNul = (value: string) => !value.includes("\0");
const NO_NUL = { message: "may not contain a NUL byte" };

const FORBIDDEN_ENV = /^(PATH|NODE_OPTIONS|BASH_ENV|ENV|LD_.*|DYLD_.*)$/;

export const CommandJobConfig = z.strictObject({
  command: z
    .string()
    .min(1)
    .max(200)
    .refine((c) => !c.includes("/"), { message: "must be a bare command name (no '/')" }),
  // spawn() refuses a NUL byte with an error that quotes the value: refused here instead.
  args: z.array(z.string().max(4096).refine(noNul, NO_NUL)).max(100).optional(),
  workingDirectory: z.string().min(1).max(1024).optional(),
  environment: z
    .record(
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "is not a valid variable name")
        .refine((k) => !FORBIDDEN_ENV.test(k), { message: "may not be set by a job" }),
      z.string().max(8192).refine(noNul, NO_NUL),
    )
    .optional(),
  timeout: z.int().min(1).max(86_400_000).optional(),
});
export type CommandJobConfig = z.infer<typeof CommandJobConfig>;

export const JOB_CONFIG_SCHEMAS = {
  http: HttpJobConfig,
  function: FunctionJobConfig,
  command: CommandJobConfig,
} as const;

export type JobConfig = HttpJobConfig | FunctionJobConfig | CommandJobConfig;

export const RetryConfig = z.strictObject({
  maxRetries: z.int().min(0).max(20),
  retryDelayMs: z.int().min(0).max(86_400_000),
  exponentialBackoff: z.boolean(),
  retryOnErrorTypes: z.array(JobErrorType).optional(),
  maxRetryDelayMs: z.int().min(0).max(86_400_000).optional(),
});
export type RetryConfig = z.infer<typeof RetryConfig>;

const isoInstant = z.iso.datetime({ offset: true, error: "must be an ISO-8601 instant" });

/** The fields of a job definition, without defaults (an update names only what changes). */
const jobFields = {
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).nullable(),
  cronExpression: z.string().max(100),
  /** IANA zone name. (Default: 'UTC') */
  timezone: z.string().max(50),
  jobType: JobType,
  config: z.record(z.string(), z.unknown()),
  retryConfig: RetryConfig.nullable(),
  /** Hard limit of one attempt, in seconds. (Default: 300) */
  timeout: z.int().min(1).max(86_400),
  /** (Default: 1) */
  maxConcurrent: z.int().min(1).max(1000),
  /** 0..100, higher runs first when the queue is backed up. (Default: 0) */
  priority: z.int().min(0).max(100),
  /** (Default: 'fire_once') */
  misfirePolicy: MisfirePolicy,
  startDate: isoInstant.nullable(),
  endDate: isoInstant.nullable(),
  maxExecutions: z.int().min(1).nullable(),
  tags: z.array(z.string().min(1).max(50)).max(20),
};

/**
 * The body of `POST /jobs`. Shape only: the cron expression, the zone and the
 * config for its jobType are checked by `checkJobDefinition`, which answers with
 * their own error codes (INVALID_CRON_EXPRESSION, INVALID_TIMEZONE, INVALID_JOB_CONFIG).
 */
export const CreateJobRequest = z.strictObject({
  ...jobFields,
  description: jobFields.description.optional(),
  timezone: jobFields.timezone.default("UTC"),
  retryConfig: jobFields.retryConfig.optional(),
  timeout: jobFields.timeout.default(300),
  maxConcurrent: jobFields.maxConcurrent.default(1),
  priority: jobFields.priority.default(0),
  misfirePolicy: jobFields.misfirePolicy.default("fire_once"),
  startDate: jobFields.startDate.optional(),
  endDate: jobFields.endDate.optional(),
  maxExecutions: jobFields.maxExecutions.optional(),
  tags: jobFields.tags.default([]),
});
export type CreateJobRequest = z.infer<typeof CreateJobRequest>;

/** The body of `PUT /jobs/{id}`: any fields of a definition; the rest stay as stored. */
export const UpdateJobRequest = z.strictObject(jobFields).partial();
export type UpdateJobRequest = z.infer<typeof UpdateJobRequest>;

export const ExecutionStatus = z.enum([
  "pending",
  "running",
  "completed",
  "failed",
  "cancelled",
  "skipped",
]);
export type ExecutionStatus = z.infer<typeof ExecutionStatus>;

export const TriggerType = z.enum(["scheduled", "manual", "retry"]);
export type TriggerType = z.infer<typeof TriggerType>;

/** What an executor returns, stored as the execution's `result`. */
export interface JobResult {
  success: boolean;
  result?: unknown;
  metadata?: Record<string, unknown>;
}

/** The payload of one queue job: which execution row to run. */
export interface ExecutionMessage {
  /** `job_executions.id` */
  executionRowId: string;
  jobId: string;
  tenantId: string;
  /**
   * The execution's `scheduledAt`, ISO 8601: with the id it names the row within one
   * partition of the history. Absent from messages queued by earlier versions.
   */
  scheduledAt?: string;
}

/** The queue message of an execution row. */
export function executionMessage(e: {
  id: string;
  jobId: string;
  tenantId: string;
  scheduledAt: Date;
}): ExecutionMessage {
  return {
    executionRowId: e.id,
    jobId: e.jobId,
    tenantId: e.tenantId,
    scheduledAt: e.scheduledAt.toISOString(),
  };
}

/**
 * BullMQ refuses custom job ids with one ':' (its key separator), so the queue job id
 * is the executionId ('<jobId>:<epoch ms>') with ':' spelled '-'. One execution, one
 * queue id: re-enqueueing the same execution is a no-op while the queue job exists.
 */
export function queueJobId(executionId: string): string {
  return executionId.replaceAll(":", "-");
}

/** The executionId of a scheduled slot: '<jobId>:<slot epoch ms>'. */
export function scheduledExecutionId(jobId: string, scheduledAt: Date): string {
  return `${jobId}:${scheduledAt.getTime()}`;
}

/** Highest API priority (API.md: 0..100, higher runs first). */
const MAX_PRIORITY = 100;

/** Burst tiers under one API priority: tier t holds a burst's ranks 2^t − 1 … 2^(t+1) − 2. */
export const BURST_TIERS = 16;

/**
 * The burst tier of the `rank`-th (0-based) execution of one tenant due in the same
 * second: ⌊log2(rank + 1)⌋, so 0 for the first, 1 for the next 2, 2 for the next 4 …,
 * at most BURST_TIERS − 1 (ranks from 32,767 on).
 */
export function burstTier(rank: number): number {
  return Math.min(BURST_TIERS - 1, Math.floor(Math.log2(Math.max(0, Math.trunc(rank)) + 1)));
}

/**
 * BullMQ priority of an execution. BullMQ takes jobs without a priority (0) first, then
 * prioritized ones, lowest number first, FIFO within one number. The job's API priority
 * orders first: API p maps to the band (100 − p) × BURST_TIERS, so 100 → 0 (no
 * priority) and 0 → 1,600 (BullMQ allows up to 2^21). Within a band, the burst tier of
 * `rank` (the execution's place among its tenant's executions due in the same second;
 * 0 for manual runs) orders next: a tenant's 10,000 executions due at once spread over
 * tiers 0 … 13, so another tenant's few executions of that second, or the next
 * second's, are not queued behind the whole burst (docs/decisions.md). Every API
 * priority keeps its order relative to every other; the price is that all but
 * priority-100 tier-0 executions go through BullMQ's prioritized ZSET (O(log n) per add)
 * instead of the wait list.
 */
export function queuePriority(priority: number, rank = 0): number {
  const p = Math.min(MAX_PRIORITY, Math.max(0, Math.trunc(priority)));
  return (MAX_PRIORITY - p) * BURST_TIERS + burstTier(rank);
}
