import type { ExecutionOutcome } from "@scheduler/db";
import { isTransientDbError } from "./dbRetry.js";
import type { UnrecordedOutcome } from "./workerMessage.js";

/**
 * Refusals of an outcome before it is given up for a SYSTEM_ERROR outcome. A refusal is
 * a write PostgreSQL rejects for what it holds (a constraint, a trigger, a value it cannot
 * store): writing it again cannot succeed, so it must not be retried without end. A write
 * that failed for a lost connection is not counted: that outcome is written once the
 * database is back.
 */
export const MAX_OUTCOME_REFUSALS = 3;

/** An outcome whose first write failed with `error`, to carry to the next delivery. */
export function firstUnrecorded(
  scheduledAt: Date,
  outcome: ExecutionOutcome,
  error: Error,
): UnrecordedOutcome {
  const refusals = isTransientDbError(error) ? 0 : 1;
  return { scheduledAt: scheduledAt.toISOString(), outcome, refusals, lastError: error.message };
}

/** The outcome to write on this delivery: the run's, or the SYSTEM_ERROR that replaces it. */
export function outcomeToWrite(unrecorded: UnrecordedOutcome): ExecutionOutcome {
  if (unrecorded.refusals < MAX_OUTCOME_REFUSALS) return unrecorded.outcome;
  return {
    status: "failed",
    errorType: "SYSTEM_ERROR",
    errorMessage: `the execution's outcome (${unrecorded.outcome.status}) could not be stored after ${unrecorded.refusals} attempts: ${unrecorded.lastError}`,
    errorStack: null,
    result: null,
    retryCount: unrecorded.outcome.retryCount,
  };
}

/**
 * After the write of `outcomeToWrite(unrecorded)` failed with `error`: what to carry to
 * the next delivery, or undefined when even the SYSTEM_ERROR outcome was refused and the
 * queue job must not be delivered again.
 */
export function afterFailedWrite(
  unrecorded: UnrecordedOutcome,
  error: Error,
): UnrecordedOutcome | undefined {
  const refused = !isTransientDbError(error);
  if (refused && unrecorded.refusals >= MAX_OUTCOME_REFUSALS) return undefined;
  return {
    ...unrecorded,
    refusals: unrecorded.refusals + (refused ? 1 : 0),
    lastError: error.message,
  };
}
