import {
  type Db,
  type ExecutionRow,
  insertAuditEvent,
  type JobRow,
  type NewAuditEventRow,
} from "@scheduler/db";
import { z } from "zod";

/** Every action the audit trail records: one per state-changing call (API.md GET /audit). */
export const AuditAction = z.enum([
  "job.create",
  "job.batch_create",
  "job.update",
  "job.delete",
  "job.trigger",
  "job.pause",
  "job.resume",
  "job.stop",
  "execution.cancel",
  "execution.retry",
]);
export type AuditAction = z.infer<typeof AuditAction>;

/** Who acts, as the audit trail records it: the tenant API's user, or an internal service. */
export interface Actor {
  tenantId: string;
  /** The token's user, or the user an internal caller named; null when it named none. */
  userId: string | null;
  /** 'user' for a tenant token, 'service' for the internal API (X-Service-Token). */
  type: "user" | "service";
  /** The request's id (X-Request-Id, or one generated for it). */
  requestId: string;
}

/** What one call changed; `changes` never holds a secret value. */
export interface AuditEntry {
  action: AuditAction;
  targetType: "job" | "execution";
  /** Null when a call has several targets (a batch create lists them in `changes`). */
  targetId: string | null;
  changes: Record<string, unknown>;
}

/** Shows a stored config with its secret values as '******' (maskConfig). */
type Mask = (jobType: string, stored: unknown) => unknown;

/** A client may send any X-Request-Id: stored cut to the column's length, never refused. */
const REQUEST_ID_MAX = 200;

/** Writes the audit event of a change; call it inside the change's transaction. */
export async function recordAudit(tx: Db, actor: Actor, entry: AuditEntry): Promise<void> {
  await insertAuditEvent(tx, auditEvent(actor, entry));
}

/** The row of a change's audit event. */
export function auditEvent(actor: Actor, entry: AuditEntry): NewAuditEventRow {
  return {
    tenantId: actor.tenantId,
    actorType: actor.type,
    actorId: actor.userId,
    action: entry.action,
    targetType: entry.targetType,
    targetId: entry.targetId,
    requestId: actor.requestId.slice(0, REQUEST_ID_MAX),
    changes: entry.changes,
  };
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** What the audit trail shows of a job: a stored row, or one about to be stored. */
export type AuditedJob = Pick<
  JobRow,
  | "id"
  | "name"
  | "description"
  | "cronExpression"
  | "timezone"
  | "jobType"
  | "config"
  | "retryConfig"
  | "timeoutSeconds"
  | "maxConcurrent"
  | "priority"
  | "misfirePolicy"
  | "startDate"
  | "endDate"
  | "maxExecutions"
  | "tags"
  | "status"
  | "nextExecutionAt"
>;

/**
 * A job's fields as the audit trail shows them: API names, instants as ISO strings, the
 * config with every secret value masked.
 */
export function auditedFields(job: AuditedJob, mask: Mask): Record<string, unknown> {
  return {
    name: job.name,
    description: job.description,
    cronExpression: job.cronExpression,
    timezone: job.timezone,
    jobType: job.jobType,
    config: mask(job.jobType, job.config),
    retryConfig: job.retryConfig,
    timeout: job.timeoutSeconds,
    maxConcurrent: job.maxConcurrent,
    priority: job.priority,
    misfirePolicy: job.misfirePolicy,
    startDate: iso(job.startDate),
    endDate: iso(job.endDate),
    maxExecutions: job.maxExecutions,
    tags: job.tags,
    status: job.status,
    nextExecutionAt: iso(job.nextExecutionAt),
  };
}

/**
 * The fields that differ between two versions of a job, as `{ field: { from, to } }`;
 * either side may be absent (create, delete). The config counts as changed when its
 * stored form changed, so a new secret value shows although both sides read '******'.
 */
export function jobChanges(
  before: AuditedJob | undefined,
  after: AuditedJob | undefined,
  mask: Mask,
): Record<string, { from?: unknown; to?: unknown }> {
  const from = before ? auditedFields(before, mask) : {};
  const to = after ? auditedFields(after, mask) : {};
  // A create or a delete changes every field: no comparison needed. A plain loop: a
  // batch create makes this for each of its jobs.
  if (!before || !after) {
    const fields = before ? from : to;
    const changes: Record<string, { from?: unknown; to?: unknown }> = {};
    for (const field in fields) {
      changes[field] = before ? { from: fields[field] } : { to: fields[field] };
    }
    return changes;
  }
  const changes: Record<string, { from?: unknown; to?: unknown }> = {};
  for (const field of new Set([...Object.keys(from), ...Object.keys(to)])) {
    const changed =
      field === "config"
        ? JSON.stringify(before.config) !== JSON.stringify(after.config)
        : JSON.stringify(from[field]) !== JSON.stringify(to[field]);
    if (!changed) continue;
    changes[field] = {
      ...(before ? { from: from[field] } : {}),
      ...(after ? { to: to[field] } : {}),
    };
  }
  return changes;
}

/** The event of a create: one job, or a batch call listing every job it created. */
export function creationEntry(created: AuditedJob[], batch: boolean, mask: Mask): AuditEntry {
  const changes = (job: AuditedJob) => jobChanges(undefined, job, mask);
  if (!batch) {
    const [job] = created;
    return { action: "job.create", targetType: "job", targetId: job!.id, changes: changes(job!) };
  }
  return {
    action: "job.batch_create",
    targetType: "job",
    targetId: null,
    changes: { jobs: created.map((job) => ({ id: job.id, changes: changes(job) })) },
  };
}

/** The event of a manual run of a job, or of the retry of `retryOf`. */
export function runEntry(
  jobId: string,
  execution: ExecutionRow,
  retryOf?: ExecutionRow,
): AuditEntry {
  const started = {
    id: execution.id,
    executionId: execution.executionId,
    triggerType: execution.triggerType,
  };
  return retryOf
    ? {
        action: "execution.retry",
        targetType: "execution",
        targetId: retryOf.id,
        changes: { retriedBy: started },
      }
    : {
        action: "job.trigger",
        targetType: "job",
        targetId: jobId,
        changes: { execution: started },
      };
}
