import { AppError } from "@scheduler/core";
import type { ExecutionRow, JobRow, ListCursor } from "@scheduler/db";

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

/** Opaque list cursor: the (createdAt, id) of the last row of a page. */
export function encodeCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.createdAt.getTime(), row.id])).toString("base64url");
}

export function decodeCursor(cursor: string | undefined): ListCursor | undefined {
  if (cursor === undefined) return undefined;
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as unknown[];
    if (typeof ms === "number" && typeof id === "string" && /^[0-9a-f-]{36}$/i.test(id)) {
      return { createdAt: new Date(ms), id };
    }
  } catch {
    // falls through to the error below
  }
  throw new AppError("VALIDATION_ERROR", "cursor is not one this API returned", {
    issues: [{ field: "querystring.cursor", message: "is invalid" }],
  });
}

/** One page of a list: `limit + 1` rows were asked for, to know whether more follow. */
export function toPage<Row extends { createdAt: Date; id: string }, Out>(
  rows: Row[],
  limit: number,
  map: (row: Row) => Out,
): { data: Out[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map(map),
    nextCursor: rows.length > limit && last ? encodeCursor(last) : null,
  };
}
