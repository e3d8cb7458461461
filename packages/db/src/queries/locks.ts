import { and, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { schedulerLocks } from "../schema.js";

/** The epoch last recorded under `lockKey`; 0 when none was ever recorded. */
export async function leadershipEpoch(db: Db, lockKey: string): Promise<number> {
  const [row] = await db
    .select({ epoch: schedulerLocks.epoch })
    .from(schedulerLocks)
    .where(eq(schedulerLocks.lockKey, lockKey));
  return row?.epoch ?? 0;
}

/**
 * Records a new leadership (its fencing epoch) in scheduler_locks, replacing the
 * previous holder's row and its metadata. A row of a newer epoch is never overwritten
 * by an older one. Returns false when a newer epoch holds it.
 *
 * Takes the row FOR UPDATE first: that waits for every claim transaction of the
 * previous leader (they hold it FOR KEY SHARE, fenceClaim), so none commits after this
 * record. The upsert alone would lock the row only FOR NO KEY UPDATE, which does not.
 */
export async function recordLeadership(
  db: Db,
  lock: { lockKey: string; lockedBy: string; epoch: number; expiresAt: Date; metadata?: object },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx
      .select({ epoch: schedulerLocks.epoch })
      .from(schedulerLocks)
      .where(eq(schedulerLocks.lockKey, lock.lockKey))
      .for("update");
    const rows = await tx
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
  });
}

/**
 * A renewal: moves expires_at of this instance's leadership. Returns false when the
 * row no longer names this epoch (a newer leader recorded itself).
 */
export async function renewLeadership(
  db: Db,
  lock: { lockKey: string; lockedBy: string; epoch: number; expiresAt: Date },
): Promise<boolean> {
  const rows = await db
    .update(schedulerLocks)
    .set({ expiresAt: lock.expiresAt })
    .where(
      and(
        eq(schedulerLocks.lockKey, lock.lockKey),
        eq(schedulerLocks.lockedBy, lock.lockedBy),
        eq(schedulerLocks.epoch, lock.epoch),
      ),
    )
    .returning({ epoch: schedulerLocks.epoch });
  return rows.length > 0;
}

/**
 * First statement of a claim transaction: the database clock if `epoch` is the
 * recorded leadership, null if not (a newer leader exists, or this one never got
 * recorded). Holds the row FOR KEY SHARE, so a newer leader's record (FOR UPDATE) waits
 * for this transaction and every claim after that record sees it, while the leader's
 * own renewals and tick numbers (plain UPDATEs, FOR NO KEY UPDATE) never wait for claims.
 */
export async function fenceClaim(db: Db, lockKey: string, epoch: number): Promise<Date | null> {
  const rows = await db
    .select({ epoch: schedulerLocks.epoch, now: sql<string>`now()` })
    .from(schedulerLocks)
    .where(eq(schedulerLocks.lockKey, lockKey))
    .for("key share");
  const row = rows[0];
  return row !== undefined && row.epoch === epoch ? new Date(row.now) : null;
}

/**
 * Merges `stats` into the metadata of this epoch's leadership row (what `/status`
 * shows of the last tick). Does nothing once a newer leader recorded itself.
 */
export async function recordTickStats(
  db: Db,
  lockKey: string,
  epoch: number,
  stats: Record<string, unknown>,
): Promise<void> {
  await db
    .update(schedulerLocks)
    .set({ metadata: sql`${schedulerLocks.metadata} || ${JSON.stringify(stats)}::jsonb` })
    .where(and(eq(schedulerLocks.lockKey, lockKey), eq(schedulerLocks.epoch, epoch)));
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
