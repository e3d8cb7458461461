import type { ExecutionMessage, ResourceUsage } from "@scheduler/core";
import type { ExecutionOutcome } from "@scheduler/db";

/**
 * A queue job's data as the worker leaves it when it delays the job: the scheduler's
 * message plus what the next delivery must know. Both fields live in the queue job
 * (Redis), so a retry or an unwritten outcome survives the worker that set them.
 */
export interface WorkerMessage extends ExecutionMessage {
  /**
   * Set when the job was delayed for a retry (retryConfig): what the attempts so far
   * used. The next delivery's claim counts the retry (running → running, retryCount + 1).
   */
  retry?: ResourceUsage;
  /** Set when the terminal write failed: the next delivery writes this, and runs nothing. */
  unrecorded?: UnrecordedOutcome;
}

/** An outcome the database has not taken yet. */
export interface UnrecordedOutcome {
  /** `scheduledAt` of the row, ISO 8601 (the partition key of the write). */
  scheduledAt: string;
  /** As it is to be written: secrets already scrubbed. */
  outcome: ExecutionOutcome;
  /** Writes the database refused (a permanent error; a lost connection is not counted). */
  refusals: number;
  /** The last failure's message. */
  lastError: string;
}
