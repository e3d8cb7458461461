import {
  type ExecutionMessage,
  type Failpoints,
  failpoint,
  type KeyRing,
  type Logger,
  type Metrics,
  RetryConfig,
  scrubSecrets,
  toError,
} from "@scheduler/core";
import {
  claimExecutions,
  type Db,
  type ExecutionClaim,
  type ExecutionKey,
  type ExecutionOutcome,
  finishExecution,
  finishExecutions,
  updateExecutionProgress,
} from "@scheduler/db";
import { DelayedError, type Job, UnrecoverableError } from "bullmq";
import { type AttemptResult, runAttempt } from "./attempts.js";
import { ClaimBatches } from "./claimBatches.js";
import type { DbGate } from "./dbGate.js";
import { withDbRetry } from "./dbRetry.js";
import { type ExecutorSettings, openJob } from "./executors.js";
import type { FairShare } from "./fairShare.js";
import { afterFailedWrite, firstUnrecorded, outcomeToWrite } from "./outcomeRefusals.js";
import { ProgressWriter } from "./progress.js";
import { type RunningExecutions, stopReasonOf } from "./runningExecutions.js";
import { TerminalWrites } from "./terminalWrites.js";
import type { UnrecordedOutcome, WorkerMessage } from "./workerMessage.js";

/** Counters of this process, for its heartbeat. */
export interface WorkerStats {
  active: number;
  processed: number;
  failed: number;
}

export interface ConsumerOptions {
  db: Db;
  /** Every database call of an execution waits here for a pool connection. */
  dbGate: DbGate;
  workerId: string;
  log: Logger;
  ring: KeyRing;
  settings: ExecutorSettings;
  running: RunningExecutions;
  stats: WorkerStats;
  failpoints: Failpoints;
  /** Progress is written at most this often per execution, in ms. (Default: 1000) */
  progressIntervalMs?: number;
  /** A database write is retried this long before the queue job is handed back, in ms. (Default: 60000) */
  dbGiveUpAfterMs?: number;
  /** When given, finished executions are counted and running ones gauged. */
  metrics?: Metrics;
  /** When given, each execution is admitted against its tenant's share first (docs/fairness.md). */
  fairShare?: FairShare;
}

/** The bounded labels of an execution's metrics (never its id). */
interface ExecutionLabels {
  jobType: string;
  tenantId: string;
  triggerType: string;
}

/** Counts an execution whose terminal status was recorded, once; runs also by duration. */
function observeOutcome(
  metrics: Metrics | undefined,
  labels: ExecutionLabels,
  status: string,
  errorType: string | null | undefined,
  seconds: number | null,
): void {
  if (!metrics) return;
  const { jobType: job_type, tenantId: tenant_id, triggerType: trigger_type } = labels;
  const tenant = metrics.tenantLabels ? { tenant_id } : {};
  metrics.jobExecutions.inc({ job_type, status, ...tenant });
  metrics.executions.inc({ job_type, status, trigger_type });
  if (seconds !== null) metrics.executionDuration.observe({ job_type, ...tenant }, seconds);
  if (status === "failed")
    metrics.failedJobs.inc({ job_type, error_type: errorType ?? "SYSTEM_ERROR" });
}

/** The options and what the processor keeps across executions. */
interface Consumer extends ConsumerOptions {
  claims: ClaimBatches;
  terminalWrites: TerminalWrites;
}

/** How long a handed-back queue job waits before it is delivered again, in ms. */
const HAND_BACK_DELAY_MS = 5000;

/** What becomes of the queue job after a delivery. */
type Next =
  | { kind: "done" }
  /** Delivered again after `delayMs`, with `data` as its data. */
  | { kind: "delay"; delayMs: number; data: WorkerMessage }
  /** Not delivered again: the queue job fails with this message. */
  | { kind: "drop"; reason: string };

/**
 * The BullMQ processor (docs/worker.md): claim the execution (pending → running, or
 * skipped past maxConcurrent), run its attempt, write the terminal status before the
 * queue job is acknowledged. A retry is not waited for here: the queue job is delayed
 * until it is due and the next delivery runs it, on whichever worker takes it. When the
 * database cannot be reached for the claim or the terminal write, or the worker is
 * shutting down before the claim, the queue job is handed back (delayed) instead of
 * failed, so no accepted execution is lost; an outcome not written goes with it, so that
 * nothing runs twice for a write.
 */
export function createProcessor(consumerOptions: ConsumerOptions) {
  const { db, dbGate, workerId } = consumerOptions;
  const options: Consumer = {
    ...consumerOptions,
    claims: new ClaimBatches({
      claimBatch: (keys) => dbGate.run(() => claimExecutions(db, keys, workerId)),
    }),
    terminalWrites: new TerminalWrites({
      writeBatch: (finishes) => dbGate.run(() => finishExecutions(db, finishes)),
      writeOne: ({ key, outcome }) => dbGate.run(() => finishExecution(db, key, outcome)),
    }),
  };
  return async (queueJob: Job<ExecutionMessage>, token?: string): Promise<void> => {
    const message = queueJob.data as WorkerMessage;
    const id = message.executionRowId;
    const fair = message.unrecorded === undefined ? options.fairShare : undefined;
    if (fair && !(await fair.admitOrWait(message.tenantId, id, String(queueJob.id)))) {
      await park(fair, queueJob, message, token);
    }
    try {
      await deliver(options, queueJob, message, token);
    } finally {
      await fair
        ?.release(id)
        .catch((error) =>
          options.log.warn({ executionRowId: id, err: toError(error).message }, "lease not ended"),
        );
    }
  };
}

/**
 * Turns away a delivery over its tenant's share: the queue job waits delayed, neither
 * claimed nor counted as a retry, until a slot frees and a release promotes it (or, should
 * none, until its delay ends), then is admitted again.
 */
async function park(
  fair: FairShare,
  queueJob: Job<ExecutionMessage>,
  message: WorkerMessage,
  token: string | undefined,
): Promise<never> {
  const waitingSince = new Date(message.scheduledAt ?? queueJob.timestamp);
  await queueJob.moveToDelayed(Date.now() + fair.parkDelayMs(waitingSince), token);
  await fair.park(message.tenantId, String(queueJob.id), waitingSince);
  throw new DelayedError();
}

async function deliver(
  options: Consumer,
  queueJob: Job<ExecutionMessage>,
  message: WorkerMessage,
  token: string | undefined,
): Promise<void> {
  const id = message.executionRowId;
  // Registered before the claim: a cancel published once the row is running reaches us.
  const stop = options.running.register(id);
  options.stats.active += 1;
  let next: Next;
  try {
    next = await processExecution(options, message, stop);
  } finally {
    options.running.release(id);
    options.stats.active -= 1;
  }
  if (next.kind === "drop") throw new UnrecoverableError(next.reason);
  if (next.kind === "delay") {
    if (next.data !== message) await queueJob.updateData(next.data);
    await queueJob.moveToDelayed(Date.now() + next.delayMs, token);
    throw new DelayedError();
  }
}

type Retrying = Parameters<typeof withDbRetry>[2];

const handBack = (data: WorkerMessage): Next => ({
  kind: "delay",
  delayMs: HAND_BACK_DELAY_MS,
  data,
});

async function processExecution(
  options: Consumer,
  message: WorkerMessage,
  stop: AbortSignal,
): Promise<Next> {
  const id = message.executionRowId;
  const log = options.log.child({ jobId: message.jobId, executionRowId: id });
  const retrying: Retrying = { log, giveUpAfterMs: options.dbGiveUpAfterMs ?? 60_000 };
  if (stopReasonOf(stop) === "shutdown") return handBack(message);
  if (message.unrecorded) return writeUnrecorded(options, message, message.unrecorded, log);
  const claim = await claimOrGiveUp(options, message, log, retrying);
  if (claim === undefined) return handBack(message);
  if (claim.kind === "gone") {
    log.info("execution already ended; not run");
    return { kind: "done" };
  }
  if (claim.kind === "skipped") {
    options.stats.processed += 1;
    const { jobType, triggerType } = claim;
    const labels = { jobType, tenantId: message.tenantId, triggerType };
    observeOutcome(options.metrics, labels, "skipped", null, null);
    log.info({ reason: claim.errorMessage }, "execution skipped");
    return { kind: "done" };
  }
  if (claim.redelivered && message.retry) {
    log.info({ retryCount: claim.execution.retryCount }, "retry due; running it");
  } else if (claim.redelivered) {
    log.warn("execution delivered again after its worker stopped; attempt re-runs");
  }
  await failpoint(options.failpoints, "worker.after_start_before_run");
  const labels = {
    jobType: claim.job.jobType,
    tenantId: message.tenantId,
    triggerType: claim.execution.triggerType,
  };
  const startedAt = performance.now();
  options.metrics?.activeJobs.inc({ job_type: labels.jobType });
  let ran: Awaited<ReturnType<typeof runClaimed>>;
  try {
    ran = await runClaimed(options, claim, message.retry, stop, log);
  } finally {
    options.metrics?.activeJobs.dec({ job_type: labels.jobType });
  }
  const seconds = (performance.now() - startedAt) / 1000;
  if (ran.result.kind === "retry") {
    const { delayMs, usage } = ran.result;
    log.info(
      { retryCount: claim.execution.retryCount + 1, delayMs },
      "attempt failed; retry delayed",
    );
    return { kind: "delay", delayMs, data: { ...message, retry: usage, unrecorded: undefined } };
  }
  await failpoint(options.failpoints, "worker.after_run_before_status_write");
  // Secrets the job's own config holds never reach the database or a log line.
  const stored = scrubSecrets(ran.result.outcome, ran.secrets);
  const recorded = await recordOutcome(options, claim.execution, stored, log, retrying);
  if (recorded instanceof Error) {
    const unrecorded = firstUnrecorded(claim.execution.scheduledAt, stored, recorded);
    return handBack({ ...message, unrecorded });
  }
  if (recorded) observeOutcome(options.metrics, labels, stored.status, stored.errorType, seconds);
  await failpoint(options.failpoints, "worker.after_status_write_before_ack");
  return { kind: "done" };
}

/**
 * A delivery after a failed terminal write: the outcome carried in the queue job is
 * written (the job is not run again), or, once the database has refused it
 * MAX_OUTCOME_REFUSALS times, a SYSTEM_ERROR outcome in its place. Should even that be
 * refused, the queue job is dropped: a poison message is never delivered without end.
 */
async function writeUnrecorded(
  options: Consumer,
  message: WorkerMessage,
  unrecorded: UnrecordedOutcome,
  log: Logger,
): Promise<Next> {
  const key = { id: message.executionRowId, scheduledAt: new Date(unrecorded.scheduledAt) };
  const outcome = outcomeToWrite(unrecorded);
  const retrying: Retrying = { log, giveUpAfterMs: options.dbGiveUpAfterMs ?? 60_000 };
  const recorded = await recordOutcome(options, key, outcome, log, retrying);
  if (!(recorded instanceof Error)) return { kind: "done" };
  const next = afterFailedWrite(unrecorded, recorded);
  if (next === undefined) {
    log.error(
      { err: recorded.message },
      "even the SYSTEM_ERROR outcome was refused; the queue job is dropped",
    );
    return { kind: "drop", reason: `outcome refused: ${recorded.message}` };
  }
  return handBack({ ...message, unrecorded: next });
}

/** The claim, or undefined when the database stayed unreachable. */
async function claimOrGiveUp(
  options: Consumer,
  message: ExecutionMessage,
  log: Logger,
  retrying: Retrying,
): Promise<ExecutionClaim | undefined> {
  const { claims } = options;
  const key = {
    id: message.executionRowId,
    scheduledAt: message.scheduledAt === undefined ? undefined : new Date(message.scheduledAt),
  };
  try {
    return await withDbRetry("claim", () => claims.claim(key), retrying);
  } catch (error) {
    log.error(
      { err: toError(error).message },
      "execution not claimed; handing it back to the queue",
    );
    return undefined;
  }
}

/**
 * The terminal write: true when it took effect, false when the execution had ended
 * meanwhile (a cancel landed first), the error when the database stayed unreachable or
 * refused it.
 */
async function recordOutcome(
  options: Consumer,
  key: ExecutionKey,
  stored: ExecutionOutcome,
  log: Logger,
  retrying: Retrying,
): Promise<boolean | Error> {
  const { terminalWrites, stats } = options;
  let recorded: boolean;
  try {
    const write = () => terminalWrites.record({ key, outcome: stored });
    recorded = await withDbRetry("terminal write", write, retrying);
  } catch (error) {
    const err = toError(error);
    log.error({ err: err.message }, "outcome not recorded; handing the execution back");
    return err;
  }
  stats.processed += 1;
  if (stored.status === "failed") stats.failed += 1;
  const { status, errorType, errorMessage, retryCount } = stored;
  // recorded: false when the execution had ended meanwhile (a cancel landed first).
  log.info({ status, errorType, errorMessage, retryCount, recorded }, "execution finished");
  return recorded;
}

/** Opens the job's config and runs the attempts; any failure of ours becomes the outcome. */
async function runClaimed(
  options: ConsumerOptions,
  claim: Extract<ExecutionClaim, { kind: "run" }>,
  usedBefore: WorkerMessage["retry"],
  stop: AbortSignal,
  log: Logger,
): Promise<{ result: AttemptResult; secrets: string[] }> {
  const { execution, job } = claim;
  const { db, dbGate } = options;
  const failed = (errorType: string, errorMessage: string, errorStack?: string) => ({
    status: "failed" as const,
    errorType,
    errorMessage,
    errorStack: errorStack ?? null,
    retryCount: execution.retryCount,
  });
  let opened: ReturnType<typeof openJob>;
  try {
    opened = openJob(job.jobType, job.config, options.ring);
  } catch (error) {
    const message = `job config cannot be used: ${toError(error).message}`;
    return { result: finished(failed("VALIDATION_ERROR", message)), secrets: [] };
  }
  const progress = new ProgressWriter(
    (percent) => dbGate.run(() => updateExecutionProgress(db, execution, percent)),
    options.progressIntervalMs ?? 1000,
    (error) => log.warn({ err: toError(error).message }, "progress not written"),
  );
  const plan = {
    executionId: execution.executionId,
    scheduledAt: execution.scheduledAt,
    retryCount: execution.retryCount,
    job: opened.job,
    retryConfig: retryConfigOf(job.retryConfig, log),
    attemptTimeoutMs: job.timeoutSeconds * 1000,
  };
  try {
    const hooks = {
      settings: options.settings,
      stop,
      onProgress: (percent: number) => progress.report(percent),
    };
    return { result: await runAttempt(plan, hooks, usedBefore), secrets: opened.secrets };
  } catch (error) {
    const e = toError(error);
    return {
      result: finished(failed("SYSTEM_ERROR", `worker error: ${e.message}`, e.stack)),
      secrets: opened.secrets,
    };
  } finally {
    progress.close();
  }
}

function finished(outcome: ExecutionOutcome): AttemptResult {
  return { kind: "finished", outcome };
}

/** The stored retryConfig, or null (no retries) when absent or not valid. */
function retryConfigOf(stored: unknown, log: Logger): RetryConfig | null {
  if (stored === null || stored === undefined) return null;
  const parsed = RetryConfig.safeParse(stored);
  if (parsed.success) return parsed.data;
  log.warn("stored retryConfig is not valid; running without retries");
  return null;
}
