import { and, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { schedulerLocks } from "../schema.js";

/**
 * Mirrors a leadership acquisition or renewal into scheduler_locks. A row of a newer
 * epoch is never overwritten by an older one. Returns false when a newer epoch holds it.
 */
export async function recordLeadership(
  db: Db,
  lock: { lockKey: string; lockedBy: string; epoch: number; expiresAt: Date; metadata?: object },
): Promise<boolean> {
  const rows = await db
    .insert(schedulerLocks)
    .values({ ...lock, lockedAt: sql`now()`, metadata: lock.metadata ?? {} })
    .onConflictDoUpdate({
      target: schedulerLocks.lockKey,
      set: {
        lockedBy: lock.lockedBy,
        epoch: lock.epoch,
        expiresAt: lock.expiresAt,
        metadata: lock.metadata ?? {},
        lockedAt: sql`CASE WHEN ${schedulerLocks.epoch} = ${lock.epoch} THEN ${schedulerLocks.lockedAt} ELSE now() END`,
      },
      setWhere: sql`${schedulerLocks.epoch} <= ${lock.epoch}`,
    })
    .returning({ epoch: schedulerLocks.epoch });
  return rows.length > 0;
}

/**
 * Inside a claim transaction: true if no newer leader has recorded itself. Takes a
 * share lock on the row, so a newer leader's record waits for this transaction.
 */
export async function holdsCurrentEpoch(db: Db, lockKey: string, epoch: number): Promise<boolean> {
  const rows = await db
    .select({ epoch: schedulerLocks.epoch })
    .from(schedulerLocks)
    .where(eq(schedulerLocks.lockKey, lockKey))
    .for("share");
  return rows.length === 0 || rows[0]!.epoch <= epoch;
}

/** Marks the leadership record as released, if this instance still holds it. */
export async function releaseLeadership(
  db: Db,
  lockKey: string,
  lockedBy: string,
  epoch: number,
): Promise<void> {
  await db
    .update(schedulerLocks)
    .set({ expiresAt: sql`now()` })
    .where(
      and(
        eq(schedulerLocks.lockKey, lockKey),
        eq(schedulerLocks.lockedBy, lockedBy),
        eq(schedulerLocks.epoch, epoch),
        lt(sql`now()`, schedulerLocks.expiresAt),
      ),
    );
}

/** The leadership record of a lock key, for /status. */
export async function findLeadership(db: Db, lockKey: string) {
  const [row] = await db.select().from(schedulerLocks).where(eq(schedulerLocks.lockKey, lockKey));
  return row;
}
