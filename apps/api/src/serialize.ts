import { AppError } from "@scheduler/core";
import type { AuditEventRow, ExecutionRow, JobRow } from "@scheduler/db";

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A job as API.md's JobResponse; `mask` shows its secret config values as '******'. */
export function toJobResponse(row: JobRow, mask: (jobType: string, stored: unknown) => unknown) {
  return {
    id: row.id,
    tenantId: row.tenantId,
    name: row.name,
    description: row.description,
    cronExpression: row.cronExpression,
    timezone: row.timezone,
    jobType: row.jobType,
    config: mask(row.jobType, row.config),
    retryConfig: row.retryConfig,
    timeout: row.timeoutSeconds,
    maxConcurrent: row.maxConcurrent,
    priority: row.priority,
    misfirePolicy: row.misfirePolicy,
    status: row.status,
    startDate: iso(row.startDate),
    endDate: iso(row.endDate),
    maxExecutions: row.maxExecutions,
    executionCount: row.executionCount,
    tags: row.tags,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    lastExecutionAt: iso(row.lastExecutionAt),
    nextExecutionAt: iso(row.nextExecutionAt),
  };
}

/** An execution as API.md's Execution. */
export function toExecutionResponse(row: ExecutionRow) {
  return {
    id: row.id,
    jobId: row.jobId,
    tenantId: row.tenantId,
    executionId: row.executionId,
    triggerType: row.triggerType,
    triggeredBy: row.triggeredBy,
    status: row.status,
    progress: row.progress,
    scheduledAt: row.scheduledAt.toISOString(),
    startedAt: iso(row.startedAt),
    completedAt: iso(row.completedAt),
    durationMs: row.durationMs,
    result: row.result,
    errorType: row.errorType,
    errorMessage: row.errorMessage,
    errorStack: row.errorStack,
    retryCount: row.retryCount,
    workerId: row.workerId,
    memoryPeakMb: row.memoryPeakMb,
    cpuTimeMs: row.cpuTimeMs,
    createdAt: row.createdAt.toISOString(),
  };
}

/** An audit event as API.md's GET /audit lists it. */
export function toAuditEventResponse(row: AuditEventRow) {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actor: { type: row.actorType, id: row.actorId },
    action: row.action,
    targetType: row.targetType,
    targetId: row.targetId,
    requestId: row.requestId,
    changes: row.changes,
  };
}

/**
 * Where a page ends: the instant its list is ordered by (a job's createdAt, an
 * execution's scheduledAt, an audit event's at) and the row's id, the tiebreaker.
 */
export interface PagePosition {
  at: Date;
  id: string;
}

/** Opaque list cursor: the position of the last row of a page. */
export function encodeCursor(position: PagePosition): string {
  return Buffer.from(JSON.stringify([position.at.getTime(), position.id])).toString("base64url");
}

/** The range of a JavaScript Date, in ms either side of the epoch. */
const MAX_DATE_MS = 8.64e15;
const isUuid = (id: unknown): id is string =>
  typeof id === "string" && /^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(id);

export function decodeCursor(cursor: string | undefined): PagePosition | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    // Only what toPage could have written: a crafted cursor must not reach SQL as an
    // id PostgreSQL refuses or a time it cannot hold (that answered 500).
    if (
      typeof ms === "number" &&
      Number.isSafeInteger(ms) &&
      Math.abs(ms) <= MAX_DATE_MS &&
      isUuid(id)
    ) {
      return { at: new Date(ms), id };
    }
  } catch {
    // falls through to the error below
  }
  throw new AppError("VALIDATION_ERROR", "cursor is not one this API returned", {
    issues: [{ field: "querystring.cursor", message: "is invalid" }],
  });
}

/**
 * One page of a list: `limit + 1` rows were asked for, to know whether more follow.
 * `positionOf` gives a row's place in the list's order.
 */
export function toPage<Row, Out>(
  rows: Row[],
  limit: number,
  map: (row: Row) => Out,
  positionOf: (row: Row) => PagePosition,
): { data: Out[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(map),
    nextCursor: rows.length > limit && last ? encodeCursor(positionOf(last)) : null,
  };
}
