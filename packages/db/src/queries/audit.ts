import { and, desc, eq, gte, lt, lte, or, type SQL } from "drizzle-orm";
import type { Db } from "../client.js";
import { type AuditEventRow, auditEvents, type NewAuditEventRow } from "../schema.js";

/** Records one audit event; call it in the transaction of the change it describes. */
export async function insertAuditEvent(db: Db, event: NewAuditEventRow): Promise<void> {
  await db.insert(auditEvents).values(event);
}

/** The INSERT of one audit event, to run inside another statement (see insertJobs). */
export function auditEventInsert(db: Db, event: NewAuditEventRow): SQL {
  return db.insert(auditEvents).values(event).getSQL();
}

export interface AuditListFilter {
  action?: string;
  targetId?: string;
  /** at ≥ from */
  from?: Date;
  /** at ≤ to */
  to?: Date;
}

/** Position after which a page starts: the last event of the previous page. */
export interface AuditCursor {
  at: Date;
  id: string;
}

/**
 * A tenant's audit events, newest first, `limit` rows after `cursor`. The cursor's
 * instant is also an upper bound on `at`, so a later page starts in the index at its
 * position and skips the newer partitions.
 */
export async function listAuditEvents(
  db: Db,
  tenantId: string,
  filter: AuditListFilter,
  page: { limit: number; cursor?: AuditCursor },
): Promise<AuditEventRow[]> {
  const t = auditEvents;
  const conditions = [eq(t.tenantId, tenantId)];
  if (filter.action) conditions.push(eq(t.action, filter.action));
  if (filter.targetId) conditions.push(eq(t.targetId, filter.targetId));
  if (filter.from) conditions.push(gte(t.at, filter.from));
  if (filter.to) conditions.push(lte(t.at, filter.to));
  if (page.cursor) {
    const { at, id } = page.cursor;
    conditions.push(lte(t.at, at), or(lt(t.at, at), lt(t.id, id))!);
  }
  return db
    .select()
    .from(t)
    .where(and(...conditions))
    .orderBy(desc(t.at), desc(t.id))
    .limit(page.limit);
}
