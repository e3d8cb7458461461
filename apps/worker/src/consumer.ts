import {
  ExecutionError,
  type ExecutionMessage,
  HttpJobConfig,
  type JobResult,
  type Logger,
  type RunContext,
  runHttpJob,
  toError,
} from "@scheduler/core";
import { type Db, type ExecutionOutcome, finishExecution, startExecution } from "@scheduler/db";
import type { Job } from "bullmq";

export interface ConsumerOptions {
  db: Db;
  workerId: string;
  log: Logger;
}

/** Runs one attempt of a job by its type. */
async function runExecutor(jobType: string, config: unknown, ctx: RunContext): Promise<JobResult> {
  switch (jobType) {
    case "http":
      return runHttpJob(HttpJobConfig.parse(config), ctx);
    default:
      // The API refuses job types this worker cannot run; a row of another type is
      // a configuration error, not something to retry.
      throw new ExecutionError("VALIDATION_ERROR", `job type '${jobType}' is not enabled`);
  }
}

/** How a thrown attempt is recorded: its class, message and any partial result. */
function failureOf(error: unknown): ExecutionOutcome {
  if (error instanceof ExecutionError) {
    return {
      status: error.errorType === "CANCELLED" ? "cancelled" : "failed",
      errorType: error.errorType,
      errorMessage: error.message,
      result: error.result ?? null,
    };
  }
  const e = toError(error);
  return {
    status: "failed",
    errorType: "SYSTEM_ERROR",
    errorMessage: e.message,
    errorStack: e.stack,
  };
}

/**
 * The BullMQ processor (DESIGN.md step 3): pending → running, run under the job's
 * timeout, then the terminal status written to PostgreSQL before the queue job is
 * acknowledged. An execution that already ended (cancelled, or finished by an earlier
 * delivery) is not run again.
 */
export function createProcessor(options: ConsumerOptions) {
  return async (queueJob: Job<ExecutionMessage>): Promise<void> => {
    const { db, workerId } = options;
    const { executionRowId, jobId } = queueJob.data;
    const started = await startExecution(db, executionRowId, workerId);
    const log = options.log.child({ jobId, executionRowId });
    if (!started) {
      log.info("execution already ended; not run");
      return;
    }
    const { execution, job } = started;
    const ctx: RunContext = {
      executionId: execution.executionId,
      scheduledAt: execution.scheduledAt,
      attempt: execution.retryCount + 1,
      signal: AbortSignal.timeout(job.timeoutSeconds * 1000),
    };
    let outcome: ExecutionOutcome;
    try {
      const result = await runExecutor(job.jobType, job.config, ctx);
      outcome = { status: "completed", result };
    } catch (error) {
      outcome = failureOf(error);
    }
    const recorded = await finishExecution(db, executionRowId, outcome);
    log.info(
      { executionId: execution.executionId, status: outcome.status, recorded },
      "execution finished",
    );
  };
}
