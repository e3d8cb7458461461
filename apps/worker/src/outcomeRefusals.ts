import type { ExecutionOutcome } from "@scheduler/db";
import type { UnrecordedOutcome } from "./workerMessage.js";

/**
 * Refusals of an outcome before it is given up for a SYSTEM_ERROR outcome. A refusal is
 * a write PostgreSQL rejects for what it holds (a constraint, a trigger, a value it cannot
 * store): writing it again cannot succeed, so it must not be retried without end. A write
 * that failed for a lost connection is not counted: that outcome is written once the
 * database is back.
 */
export const MAX_OUTCOME_REFUSALS = 3;

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

/** Whether this delivery writes the replacement rather than the run's outcome. */
export function isGivenUp(unrecorded: UnrecordedOutcome): boolean {
  return unrecorded.refusals >= MAX_OUTCOME_REFUSALS;
}
