import { AppError } from "@scheduler/core";
import {
  type CancelledExecution,
  cancelExecution,
  type Db,
  type ExecutionRow,
  findExecution,
} from "@scheduler/db";
import { type Actor, recordAudit } from "./audit.js";
import type { Dispatcher } from "./dispatch.js";
import type { JobService } from "./jobService.js";

const notFound = (id: string) => new AppError("EXECUTION_NOT_FOUND", `no execution ${id}`);

/** State changes of one execution: cancel and retry. */
export class ExecutionService {
  constructor(
    private readonly db: Db,
    private readonly dispatcher: Dispatcher,
    private readonly jobs: JobService,
  ) {}

  /**
   * pending → cancelled at once; running → cancelled, with the worker told to abort
   * (`wasRunning`: the API answers 202). A finished execution is a 409. The cancel and
   * its audit event commit together.
   */
  async cancel(
    actor: Actor,
    id: string,
  ): Promise<{ execution: ExecutionRow; wasRunning: boolean }> {
    const cancelled: CancelledExecution = await this.db.transaction(async (tx) => {
      const outcome = await cancelExecution(tx, actor.tenantId, id);
      if (!outcome.found) throw notFound(id);
      if (!outcome.cancelled) {
        throw new AppError(
          "INVALID_STATE_TRANSITION",
          `execution ${id} is ${outcome.current.status}; only pending or running ones can be cancelled`,
        );
      }
      await recordAudit(tx, actor, {
        action: "execution.cancel",
        targetType: "execution",
        targetId: id,
        changes: { status: { from: outcome.cancelled.previousStatus, to: "cancelled" } },
      });
      return outcome.cancelled;
    });
    await this.dispatcher.cancel([cancelled]);
    return {
      execution: cancelled.execution,
      wasRunning: cancelled.previousStatus === "running",
    };
  }

  /** A failed or cancelled execution runs again as a new execution (triggerType 'retry'). */
  async retry(actor: Actor, id: string): Promise<ExecutionRow> {
    const execution = await findExecution(this.db, actor.tenantId, id);
    if (!execution) throw notFound(id);
    // A finished execution never changes status again, so this check cannot go stale.
    if (execution.status !== "failed" && execution.status !== "cancelled") {
      throw new AppError(
        "INVALID_STATE_TRANSITION",
        `execution ${id} is ${execution.status}; only failed or cancelled ones can be retried`,
      );
    }
    return this.jobs.trigger(actor, execution.jobId, { retryOf: execution });
  }
}
