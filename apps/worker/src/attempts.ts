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
  /** Retries counted so far, this attempt's included (its attempt number is this + 1). */
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
}

/** How an attempt ended: the execution's outcome, or a retry to run after `delayMs`. */
export type AttemptResult =
  | { kind: "finished"; outcome: ExecutionOutcome }
  /** The attempts' usage so far goes with the retry, to be summed with the next. */
  | { kind: "retry"; delayMs: number; usage: ResourceUsage };

/**
 * Runs the execution's next attempt. When it fails and retryConfig retries that failure
 * (API.md), the result is a retry after `retryDelayMs(config, n)` for retry n: the caller
 * waits outside the process (a delayed queue job; docs/worker.md, "Retries"), and the
 * next delivery counts the retry when it claims the execution again. Each attempt gets
 * the job's full timeout. `usedBefore` is what earlier attempts of it used.
 */
export async function runAttempt(
  plan: AttemptPlan,
  hooks: AttemptHooks,
  usedBefore?: ResourceUsage,
): Promise<AttemptResult> {
  const usage = new UsageTotal();
  if (usedBefore) usage.add(usedBefore);
  const { retryCount } = plan;
  const finished = (outcome: ExecutionOutcome): AttemptResult => ({
    kind: "finished",
    outcome: { ...outcome, retryCount, ...usage.total() },
  });
  const attempt = await runOne(plan, retryCount, hooks, usage);
  if (attempt.ok) return finished({ status: "completed", result: attempt.result });
  if (hooks.stop.aborted || !shouldRetry(plan.retryConfig, attempt.failure.errorType, retryCount)) {
    return finished(failedOutcome(attempt.failure, stopReasonOf(hooks.stop)));
  }
  return {
    kind: "retry",
    delayMs: retryDelayMs(plan.retryConfig!, retryCount + 1),
    usage: usage.total(),
  };
}

type Attempt = { ok: true; result: JobResult } | { ok: false; failure: ClassifiedError };

async function runOne(
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
