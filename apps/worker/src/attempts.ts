import { setTimeout as sleep } from "node:timers/promises";
import {
  type ClassifiedError,
  classifyError,
  type JobResult,
  type ResourceUsage,
  type RetryConfig,
  type RunContext,
  retryDelayMs,
  shouldRetry,
} from "@scheduler/core";
import type { ExecutionOutcome } from "@scheduler/db";
import { type ExecutorSettings, type OpenedJob, runExecutor } from "./executors.js";
import { type StopReason, stopReasonOf } from "./runningExecutions.js";

/** Where an executor that ignores its aborted signal is given up on, beyond the kill grace. */
const ABANDON_AFTER_ABORT_MS = 10_000;

/** One execution to run, with what decides its attempts. */
export interface AttemptPlan {
  executionId: string;
  scheduledAt: Date;
  /** Retries already counted (a redelivered execution starts above 0). */
  retryCount: number;
  job: OpenedJob;
  retryConfig: RetryConfig | null;
  /** The job's `timeout`: the hard limit of one attempt, in ms. */
  attemptTimeoutMs: number;
}

export interface AttemptHooks {
  settings: ExecutorSettings;
  /** Aborted when the execution is cancelled or the worker shuts down. */
  stop: AbortSignal;
  onProgress(percent: number): void;
  /** Before each retry: records the new retryCount; false when the execution ended meanwhile. */
  recordRetry(retryCount: number): Promise<boolean>;
}

/**
 * Runs attempts until one succeeds, the failure is not retried (retryConfig, API.md), or
 * the execution is stopped. Retries stay in the same execution: the delay before retry
 * n is `retryDelayMs(config, n)`, and each attempt gets the job's full timeout.
 */
export async function runAttempts(
  plan: AttemptPlan,
  hooks: AttemptHooks,
): Promise<ExecutionOutcome> {
  const usage = new UsageTotal();
  let retryCount = plan.retryCount;
  const done = (outcome: ExecutionOutcome): ExecutionOutcome => ({
    ...outcome,
    retryCount,
    ...usage.total(),
  });
  for (;;) {
    const attempt = await runAttempt(plan, retryCount, hooks, usage);
    if (attempt.ok) return done({ status: "completed", result: attempt.result });
    if (
      hooks.stop.aborted ||
      !shouldRetry(plan.retryConfig, attempt.failure.errorType, retryCount)
    ) {
      return done(failedOutcome(attempt.failure, stopReasonOf(hooks.stop)));
    }
    retryCount += 1;
    if (!(await hooks.recordRetry(retryCount))) return done(stoppedOutcome(undefined));
    const delayMs = retryDelayMs(plan.retryConfig!, retryCount);
    const waited = await sleep(delayMs, true, { signal: hooks.stop }).catch(() => false);
    if (!waited) return done(stoppedOutcome(hooks.stop));
  }
}

type Attempt = { ok: true; result: JobResult } | { ok: false; failure: ClassifiedError };

async function runAttempt(
  plan: AttemptPlan,
  retryCount: number,
  hooks: AttemptHooks,
  usage: UsageTotal,
): Promise<Attempt> {
  const timeout = new AbortController();
  const seconds = plan.attemptTimeoutMs / 1000;
  const timer = setTimeout(
    () =>
      timeout.abort(
        new DOMException(`attempt exceeded the job's timeout of ${seconds} s`, "TimeoutError"),
      ),
    plan.attemptTimeoutMs,
  );
  const signal = AbortSignal.any([hooks.stop, timeout.signal]);
  const ctx: RunContext = {
    executionId: plan.executionId,
    scheduledAt: plan.scheduledAt,
    attempt: retryCount + 1,
    signal,
  };
  try {
    const run = runExecutor(plan.job, ctx, hooks.settings, {
      onProgress: hooks.onProgress,
      onUsage: (u) => usage.add(u),
    });
    const abandonAfterMs = hooks.settings.killGraceMs + ABANDON_AFTER_ABORT_MS;
    return { ok: true, result: await settleAfterAbort(run, signal, abandonAfterMs) };
  } catch (error) {
    return { ok: false, failure: judge(error, hooks.stop, timeout.signal, seconds) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The executor's promise, or a rejection once `signal` has been aborted for `graceMs`:
 * every executor settles soon after an abort, and this bounds one that does not.
 */
function settleAfterAbort<T>(run: Promise<T>, signal: AbortSignal, graceMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    timer = setTimeout(
      () => giveUp(new Error(`executor did not stop within ${graceMs} ms of an abort`)),
      graceMs,
    );
  };
  let giveUp: (error: Error) => void = () => {};
  const abandoned = new Promise<never>((_, reject) => {
    giveUp = reject;
  });
  signal.addEventListener("abort", onAbort, { once: true });
  return Promise.race([run, abandoned]).finally(() => {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  });
}

/** The failure of an attempt: a stop or the attempt timeout first, the thrown error otherwise. */
function judge(
  error: unknown,
  stop: AbortSignal,
  timeout: AbortSignal,
  seconds: number,
): ClassifiedError {
  const classified = classifyError(error);
  const reason = stopReasonOf(stop);
  if (reason === "cancelled")
    return { ...classified, errorType: "CANCELLED", message: "cancelled" };
  if (reason === "shutdown") {
    return { ...classified, errorType: "SYSTEM_ERROR", message: SHUTDOWN_MESSAGE };
  }
  if (timeout.aborted) {
    return {
      ...classified,
      errorType: "TIMEOUT",
      message: `attempt exceeded the job's timeout of ${seconds} s`,
    };
  }
  return classified;
}

const SHUTDOWN_MESSAGE = "worker shut down before the execution finished";

function failedOutcome(failure: ClassifiedError, reason: StopReason | undefined): ExecutionOutcome {
  return {
    status: reason === "cancelled" ? "cancelled" : "failed",
    errorType: failure.errorType,
    errorMessage: failure.message,
    errorStack: failure.stack ?? null,
    result: failure.result ?? null,
  };
}

/** A stop between attempts (or an execution found ended, reason undefined: cancelled). */
function stoppedOutcome(stop: AbortSignal | undefined): ExecutionOutcome {
  const reason = stop ? stopReasonOf(stop) : undefined;
  if (reason === "shutdown") {
    return {
      status: "failed",
      errorType: "SYSTEM_ERROR",
      errorMessage: `${SHUTDOWN_MESSAGE} (between retries)`,
    };
  }
  return { status: "cancelled", errorType: "CANCELLED", errorMessage: "cancelled" };
}

/** CPU summed over attempts, memory as the highest peak; null when no attempt measured it. */
class UsageTotal {
  private cpuTimeMs: number | null = null;
  private memoryPeakMb: number | null = null;

  add(usage: ResourceUsage): void {
    if (usage.cpuTimeMs !== null) this.cpuTimeMs = (this.cpuTimeMs ?? 0) + usage.cpuTimeMs;
    if (usage.memoryPeakMb !== null) {
      this.memoryPeakMb = Math.max(this.memoryPeakMb ?? 0, usage.memoryPeakMb);
    }
  }

  total(): ResourceUsage {
    return { cpuTimeMs: this.cpuTimeMs, memoryPeakMb: this.memoryPeakMb };
  }
}
