import { sql } from "drizzle-orm";
import {
  bigint,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
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
    index("idx_scheduled_jobs_tenant_created").on(t.tenantId, t.createdAt.desc(), t.id.desc()),
  ],
);

/** One row per run of a job: scheduled slot, manual trigger or retry. */
export const jobExecutions = pgTable(
  "job_executions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    jobId: uuid("job_id")
      .notNull()
      .references(() => scheduledJobs.id, { onDelete: "cascade" }),
    executionId: varchar("execution_id", { length: 100 }).notNull().unique(),
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
    index("idx_job_executions_job_id_created").on(t.jobId, t.createdAt.desc()),
    index("idx_job_executions_status_tenant").on(t.status, t.tenantId),
    // A scheduled slot produces at most one execution, ever (INV-1).
    uniqueIndex("uq_job_executions_scheduled_slot")
      .on(t.jobId, t.scheduledAt)
      .where(sql`${t.triggerType} = 'scheduled'`),
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
