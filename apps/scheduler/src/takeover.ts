import { type Db, findRequeueCandidates, type RequeueCandidate } from "@scheduler/db";
import { REQUEUE_AFTER_MS } from "./reconcile.js";

const PAGE = 1000;

/**
 * The executions a leader takes over when it starts leading (a new epoch): pending ones
 * whose slot is at most REQUEUE_AFTER_MS past, or still ahead. A leader enqueues an
 * execution only after its claim commits, and, with SCHEDULER_ENQUEUE_AT_SLOT, only when
 * its slot comes: one that died (kill -9) or was paused past its lock leaves the slots it
 * had claimed up to the lookahead recorded `pending` and not in the queue, and no later
 * claim records them again. Older pending executions are the reconciler's, whose pass
 * runs in the same first tick; these would otherwise wait for its next pass, one
 * RECONCILE_INTERVAL_MS later. Enqueueing one that is already queued is a no-op (its
 * queue job id is the execution's), so the previous leader's own enqueues, late or not,
 * never make a second queue job.
 */
export async function findTakenOverExecutions(db: Db): Promise<RequeueCandidate[]> {
  const found: RequeueCandidate[] = [];
  let after: RequeueCandidate | undefined;
  for (;;) {
    const page = await findRequeueCandidates(db, {
      newerThanMs: REQUEUE_AFTER_MS,
      limit: PAGE,
      after: after && { scheduledAt: after.scheduledAt, id: after.id },
    });
    found.push(...page);
    if (page.length < PAGE) return found;
    after = page.at(-1);
  }
}
