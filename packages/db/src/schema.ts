import { sql } from "drizzle-orm";
import {
  bigint,
  date,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";

/** Millisecond precision, as JS Dates have: a cursor built from a Date matches its row exactly. */
const instant = (name: string) =>
  timestamp(name, { withTimezone: true, mode: "date", precision: 3 });

/** Job definitions: one row per recurring job of a tenant. */
export const scheduledJobs = pgTable(
  "scheduled_jobs",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    name: varchar("name", { length: 200 }).notNull(),
    description: text("description"),
    cronExpression: varchar("cron_expression", { length: 100 }).notNull(),
    timezone: varchar("timezone", { length: 50 }).notNull().default("UTC"),
    jobType: varchar("job_type", { length: 50 }).notNull(),
    config: jsonb("config").notNull(),
    retryConfig: jsonb("retry_config"),
    timeoutSeconds: integer("timeout_seconds").notNull().default(300),
    maxConcurrent: integer("max_concurrent").notNull().default(1),
    status: varchar("status", { length: 20 }).notNull().default("active"),
    priority: integer("priority").notNull().default(0),
    misfirePolicy: varchar("misfire_policy", { length: 20 }).notNull().default("fire_once"),
    startDate: instant("start_date"),
    endDate: instant("end_date"),
    maxExecutions: integer("max_executions"),
    executionCount: integer("execution_count").notNull().default(0),
    tenantId: uuid("tenant_id").notNull(),
    createdBy: uuid("created_by").notNull(),
    tags: jsonb("tags").$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    createdAt: instant("created_at").notNull().defaultNow(),
    updatedAt: instant("updated_at").notNull().defaultNow(),
    lastExecutionAt: instant("last_execution_at"),
    nextExecutionAt: instant("next_execution_at"),
  },
  (t) => [
    index("idx_scheduled_jobs_next_execution")
      .on(t.nextExecutionAt)
      .where(sql`${t.status} = 'active'`),
    uniqueIndex("uq_scheduled_jobs_tenant_name").on(t.tenantId, t.name),
    // Ascending, scanned backward for `ORDER BY created_at DESC, id DESC`: drizzle's
    // `.desc()` emits DESC NULLS LAST, which that ORDER BY (NULLS FIRST) cannot use.
    index("idx_scheduled_jobs_tenant_created").on(t.tenantId, t.createdAt, t.id),
  ],
);

/**
 * How many jobs each tenant has: kept by triggers on scheduled_jobs (migrations/0003) in
 * the transaction that adds or removes them, so the quota check reads one row instead
 * of counting the tenant's jobs.
 */
export const tenantJobCounts = pgTable("tenant_job_counts", {
  tenantId: uuid("tenant_id").primaryKey(),
  jobCount: integer("job_count").notNull(),
});

/**
 * One row per run of a job: scheduled slot, manual trigger or retry. Range-partitioned
 * by month on scheduled_at (migrations/0001, docs/history.md): drizzle cannot express
 * that, so every key below includes scheduled_at, as a partitioned table requires.
 * Indexes are ascending and scanned backward for the lists' `scheduled_at DESC, id DESC`.
 */
export const jobExecutions = pgTable(
  "job_executions",
  {
    id: uuid("id").notNull().defaultRandom(),
    jobId: uuid("job_id")
      .notNull()
      .references(() => scheduledJobs.id, { onDelete: "cascade" }),
    executionId: varchar("execution_id", { length: 100 }).notNull(),
    triggerType: varchar("trigger_type", { length: 20 }).notNull(),
    triggeredBy: uuid("triggered_by"),
    status: varchar("status", { length: 20 }).notNull(),
    progress: integer("progress").notNull().default(0),
    scheduledAt: instant("scheduled_at").notNull(),
    startedAt: instant("started_at"),
    completedAt: instant("completed_at"),
    durationMs: integer("duration_ms"),
    result: jsonb("result"),
    errorType: varchar("error_type", { length: 30 }),
    errorMessage: text("error_message"),
    errorStack: text("error_stack"),
    retryCount: integer("retry_count").notNull().default(0),
    workerId: varchar("worker_id", { length: 100 }),
    memoryPeakMb: integer("memory_peak_mb"),
    cpuTimeMs: integer("cpu_time_ms"),
    tenantId: uuid("tenant_id").notNull(),
    createdAt: instant("created_at").notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "job_executions_id_scheduled_at_pk", columns: [t.id, t.scheduledAt] }),
    // A scheduled execution id embeds its slot and a manual one a uuid, so adding the
    // partition key keeps execution ids unique in practice.
    unique("job_executions_execution_id_scheduled_at_unique").on(t.executionId, t.scheduledAt),
    // A scheduled slot produces at most one execution, ever (INV-1); the key already
    // includes scheduled_at, so the guarantee holds across partitions.
    uniqueIndex("uq_job_executions_scheduled_slot")
      .on(t.jobId, t.scheduledAt)
      .where(sql`${t.triggerType} = 'scheduled'`),
    // The history lists, one per filter of API.md that a plain walk could not serve.
    index("idx_job_executions_tenant_scheduled").on(t.tenantId, t.scheduledAt, t.id),
    index("idx_job_executions_tenant_status").on(t.tenantId, t.status, t.scheduledAt, t.id),
    index("idx_job_executions_tenant_trigger").on(t.tenantId, t.triggerType, t.scheduledAt, t.id),
    index("idx_job_executions_job_scheduled").on(t.jobId, t.scheduledAt, t.id),
    // Executions in flight: the worker's concurrency checks, the reconciler and the
    // reaper look only at these, a few thousand rows among tens of millions.
    index("idx_job_executions_in_flight")
      .on(t.status, t.jobId)
      .where(sql`${t.status} IN ('pending', 'running')`),
  ],
);

/**
 * Counts and durations of ended executions (completed, failed, cancelled, skipped) per
 * tenant, job, UTC day of scheduled_at, status and duration bucket, kept by triggers on
 * job_executions in the writing transaction (migrations/0001). Rows with job_id
 * ALL_JOBS are the tenant's totals. Partitioned by month on day, like the history.
 */
export const executionRollups = pgTable(
  "execution_rollups",
  {
    tenantId: uuid("tenant_id").notNull(),
    /** A job's id, or ALL_JOBS for the row summing the tenant's jobs. */
    jobId: uuid("job_id").notNull(),
    /** UTC day of the executions' scheduled_at. */
    day: date("day", { mode: "string" }).notNull(),
    status: varchar("status", { length: 20 }).notNull(),
    /** durationBucket() of completed and failed executions' duration; -1 for the others. */
    durationBucket: smallint("duration_bucket").notNull(),
    executions: integer("executions").notNull(),
    durationSumMs: bigint("duration_sum_ms", { mode: "number" }).notNull(),
    timeouts: integer("timeouts").notNull(),
    retried: integer("retried").notNull(),
  },
  (t) => [
    primaryKey({
      name: "execution_rollups_pk",
      columns: [t.tenantId, t.jobId, t.day, t.status, t.durationBucket],
    }),
  ],
);

/**
 * The audit trail: one row per state-changing API call, written in the transaction of
 * the change. Partitioned by month on `at` and kept as long as the history.
 */
export const auditEvents = pgTable(
  "audit_events",
  {
    id: uuid("id").notNull().defaultRandom(),
    at: instant("at").notNull().defaultNow(),
    tenantId: uuid("tenant_id").notNull(),
    /** 'user' (tenant API) or 'service' (internal API). */
    actorType: varchar("actor_type", { length: 20 }).notNull(),
    /** The user: the token's subject, or the one an internal caller named; null if none. */
    actorId: uuid("actor_id"),
    action: varchar("action", { length: 50 }).notNull(),
    targetType: varchar("target_type", { length: 20 }).notNull(),
    /** Null for a call with several targets (batch create: ids in `changes`). */
    targetId: uuid("target_id"),
    requestId: varchar("request_id", { length: 200 }),
    changes: jsonb("changes").notNull().default(sql`'{}'::jsonb`),
  },
  (t) => [
    primaryKey({ name: "audit_events_id_at_pk", columns: [t.id, t.at] }),
    index("idx_audit_events_tenant_at").on(t.tenantId, t.at, t.id),
    index("idx_audit_events_tenant_action").on(t.tenantId, t.action, t.at, t.id),
    index("idx_audit_events_tenant_target").on(t.tenantId, t.targetId, t.at, t.id),
  ],
);

/** The leadership record, mirrored from the Redis lock for `/status` and fencing. */
export const schedulerLocks = pgTable("scheduler_locks", {
  lockKey: varchar("lock_key", { length: 200 }).primaryKey(),
  lockedBy: varchar("locked_by", { length: 100 }).notNull(),
  lockedAt: instant("locked_at").notNull().defaultNow(),
  expiresAt: instant("expires_at").notNull(),
  /** Fencing epoch of the holder: a tick of a lower epoch changes nothing. */
  epoch: bigint("epoch", { mode: "number" }).notNull().default(0),
  metadata: jsonb("metadata").notNull().default(sql`'{}'::jsonb`),
});

export type JobRow = typeof scheduledJobs.$inferSelect;
export type NewJobRow = typeof scheduledJobs.$inferInsert;
export type ExecutionRow = typeof jobExecutions.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export type NewAuditEventRow = typeof auditEvents.$inferInsert;
