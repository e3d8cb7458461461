import { randomUUID } from "node:crypto";
import {
  AppError,
  type CheckedDefinition,
  type CreateJobRequest,
  firstExecutionAt,
  parseCron,
  type UpdateJobRequest,
} from "@scheduler/core";
import {
  auditEventInsert,
  cancelJobExecutions,
  countRunningExecutions,
  type Db,
  databaseNow,
  deleteJob,
  type ExecutionRow,
  insertExecutions,
  insertJobs,
  isUniqueViolation,
  type JobRow,
  lockJob,
  type NewJobRow,
  tenantQuotaExceeded,
  updateJob,
} from "@scheduler/db";
import {
  type Actor,
  type AuditedJob,
  auditEvent,
  creationEntry,
  jobChanges,
  recordAudit,
  runEntry,
} from "./audit.js";
import type { Dispatcher } from "./dispatch.js";

/** How configs are stored and shown: secret values sealed at rest, masked in answers. */
export interface ConfigSecrets {
  /** The config to store: secret values sealed, '******' resolved against `previous`. */
  seal(jobType: string, config: unknown, previous?: unknown): unknown;
  /** The config to show: secret values as '******'. */
  mask(jobType: string, stored: unknown): unknown;
}

export interface JobServiceOptions {
  db: Db;
  dispatcher: Dispatcher;
  /** Jobs one tenant may have (TENANT_MAX_JOBS). */
  maxJobsPerTenant: number;
  /** Checks a definition beyond its shape: cron, zone, config, targets. */
  checkDefinition: (request: CreateJobRequest) => CheckedDefinition;
  secrets: ConfigSecrets;
}

const notFound = (jobId: string) => new AppError("JOB_NOT_FOUND", `no job ${jobId}`);

/**
 * Every state change of a job, shared by the tenant API and the internal API so both
 * apply the same rules. Each runs in one transaction, which also writes the change's
 * audit event, so a change that fails records none; queue signals follow the commit.
 */
export class JobService {
  constructor(private readonly options: JobServiceOptions) {}

  /**
   * Creates jobs all or nothing; `index` in an error's details names the failing one.
   * A `batch` call records one audit event listing every job it created. `checked`
   * holds what the caller's own check of each request returned, in order, so that it
   * is not checked again.
   */
  async create(
    actor: Actor,
    requests: CreateJobRequest[],
    options: { batch?: boolean; checked?: readonly CheckedDefinition[] } = {},
  ): Promise<JobRow[]> {
    const createdBy = actor.userId;
    if (!createdBy) throw new AppError("VALIDATION_ERROR", "createdBy is required");
    const now = new Date();
    const rows = requests.map((request, index) =>
      this.toNewRow(
        { tenantId: actor.tenantId, createdBy },
        request,
        now,
        index,
        requests.length,
        options.checked?.[index],
      ),
    );
    const names = new Set<string>();
    rows.forEach((row, index) => {
      if (names.has(row.name)) throw duplicateName(row.name, index, requests.length);
      names.add(row.name);
    });
    const { db, maxJobsPerTenant } = this.options;
    const entry = creationEntry(rows, options.batch ?? false, this.options.secrets.mask);
    try {
      // One statement, committed on its own: the jobs, their audit event (built from
      // the rows about to be stored; their ids are ours), and the quota check of
      // tenant_job_counts' trigger, which locks the tenant's counter row only while the
      // statement commits. A create waiting on that row counts from the version its
      // predecessor committed, so the check is exact.
      return await insertJobs(db, rows, {
        maxJobsPerTenant,
        alongside: auditEventInsert(db, auditEvent(actor, entry)),
      });
    } catch (error) {
      const quota = tenantQuotaExceeded(error);
      if (quota) {
        throw new AppError(
          "QUOTA_EXCEEDED",
          `the tenant may have at most ${maxJobsPerTenant} jobs`,
          { limit: maxJobsPerTenant, current: quota.current },
        );
      }
      if (isUniqueViolation(error, "uq_scheduled_jobs_tenant_name")) throw nameConflict();
      throw error;
    }
  }

  private toNewRow(
    owner: { tenantId: string; createdBy: string },
    request: CreateJobRequest,
    now: Date,
    index: number,
    count: number,
    checked?: CheckedDefinition,
  ): NewJobRow & AuditedJob {
    try {
      const columns = this.definitionColumns(request, now, undefined, checked);
      return { id: randomUUID(), ...columns, ...owner };
    } catch (error) {
      if (count > 1 && error instanceof AppError) {
        throw new AppError(error.code, `jobs[${index}]: ${error.message}`, {
          ...error.details,
          index,
        });
      }
      throw error;
    }
  }

  /** The columns a definition decides, with its first fire time from `now`. */
  private definitionColumns(
    request: CreateJobRequest,
    now: Date,
    previous?: JobRow,
    checked?: CheckedDefinition,
  ) {
    const { schedule, config } = checked ?? this.options.checkDefinition(request);
    const startDate = request.startDate ? new Date(request.startDate) : null;
    const endDate = request.endDate ? new Date(request.endDate) : null;
    const nextExecutionAt = firstExecutionAt(schedule, now, { startDate, endDate });
    return {
      name: request.name,
      description: request.description ?? null,
      cronExpression: request.cronExpression,
      timezone: request.timezone,
      jobType: request.jobType,
      config: this.options.secrets.seal(request.jobType, config, previous?.config),
      retryConfig: request.retryConfig ?? null,
      timeoutSeconds: request.timeout,
      maxConcurrent: request.maxConcurrent,
      priority: request.priority,
      misfirePolicy: request.misfirePolicy,
      startDate,
      endDate,
      maxExecutions: request.maxExecutions ?? null,
      tags: request.tags,
      status: nextExecutionAt ? ("active" as const) : ("inactive" as const),
      nextExecutionAt,
    };
  }

  /**
   * Applies a partial update. The schedule is recomputed from now for an active job;
   * a paused or inactive job keeps its status.
   */
  async update(actor: Actor, jobId: string, patch: UpdateJobRequest): Promise<JobRow> {
    return withNameConflict(() =>
      this.inTransaction(actor, jobId, async (tx, job) => {
        // Unchanged secrets travel as '******' and are resolved against the stored config.
        const current = {
          ...toDefinition(job),
          config: this.options.secrets.mask(job.jobType, job.config),
        };
        const merged = { ...current, ...stripUndefined(patch) } as CreateJobRequest;
        const columns = this.definitionColumns(merged, await databaseNow(tx), job);
        const keepStatus = job.status !== "active";
        const values = keepStatus
          ? {
              ...columns,
              status: job.status,
              nextExecutionAt: job.status === "paused" ? null : job.nextExecutionAt,
            }
          : columns;
        const updated = (await updateJob(tx, actor.tenantId, jobId, values))!;
        await this.audit(tx, actor, "job.update", job, updated);
        return updated;
      }),
    );
  }

  /** Deletes a job after cancelling its pending and running executions. */
  async remove(actor: Actor, jobId: string): Promise<void> {
    const cancelled = await this.options.db.transaction(async (tx) => {
      const job = await lockJob(tx, actor.tenantId, jobId);
      if (!job) throw notFound(jobId);
      const cancelled = await cancelJobExecutions(tx, jobId);
      await this.audit(tx, actor, "job.delete", job, undefined, {
        cancelledExecutions: cancelled.length,
      });
      // Last: the delete's trigger locks the tenant's counter row until commit.
      await deleteJob(tx, actor.tenantId, jobId);
      return cancelled;
    });
    await this.options.dispatcher.cancel(cancelled);
  }

  /** active → paused (idempotent); pending runs scheduled after now are cancelled. */
  async pause(actor: Actor, jobId: string): Promise<JobRow> {
    let cancelled: Awaited<ReturnType<typeof cancelJobExecutions>> = [];
    const row = await this.inTransaction(actor, jobId, async (tx, job) => {
      if (job.status === "paused") {
        await this.audit(tx, actor, "job.pause", job, job);
        return job;
      }
      assertTransition(
        job.status === "active",
        `job ${jobId} is ${job.status}; only an active job can be paused`,
      );
      cancelled = await cancelJobExecutions(tx, jobId, { onlyPendingAfter: await databaseNow(tx) });
      const paused = (await updateJob(tx, actor.tenantId, jobId, {
        status: "paused",
        nextExecutionAt: null,
      }))!;
      await this.audit(tx, actor, "job.pause", job, paused, {
        cancelledExecutions: cancelled.length,
      });
      return paused;
    });
    await this.options.dispatcher.cancel(cancelled);
    return row;
  }

  /** paused → active, next run computed from now: no catch-up for the pause (idempotent). */
  async resume(actor: Actor, jobId: string): Promise<JobRow> {
    return this.inTransaction(actor, jobId, async (tx, job) => {
      if (job.status === "active") {
        await this.audit(tx, actor, "job.resume", job, job);
        return job;
      }
      assertTransition(
        job.status === "paused",
        `job ${jobId} is ${job.status}; only a paused job can be resumed`,
      );
      const schedule = parseCron(job.cronExpression, job.timezone);
      const next = firstExecutionAt(schedule, await databaseNow(tx), job);
      const reachedMax = job.maxExecutions !== null && job.executionCount >= job.maxExecutions;
      const status = next && !reachedMax ? "active" : "inactive";
      const resumed = (await updateJob(tx, actor.tenantId, jobId, {
        status,
        nextExecutionAt: status === "active" ? next : null,
      }))!;
      await this.audit(tx, actor, "job.resume", job, resumed);
      return resumed;
    });
  }

  /** → inactive, cancelling pending and running executions (idempotent). */
  async stop(actor: Actor, jobId: string): Promise<JobRow> {
    let cancelled: Awaited<ReturnType<typeof cancelJobExecutions>> = [];
    const row = await this.inTransaction(actor, jobId, async (tx, job) => {
      cancelled = await cancelJobExecutions(tx, jobId);
      const stopped = (await updateJob(tx, actor.tenantId, jobId, {
        status: "inactive",
        nextExecutionAt: null,
      }))!;
      await this.audit(tx, actor, "job.stop", job, stopped, {
        cancelledExecutions: cancelled.length,
      });
      return stopped;
    });
    await this.options.dispatcher.cancel(cancelled);
    return row;
  }

  /**
   * A manual run now, paused jobs included; with `retryOf`, a retry of that (failed or
   * cancelled) execution, audited as its retry. The job row lock serialises triggers,
   * so two at once cannot both pass the maxConcurrent check.
   */
  async trigger(
    actor: Actor,
    jobId: string,
    options: { retryOf?: ExecutionRow } = {},
  ): Promise<ExecutionRow> {
    const triggerType = options.retryOf ? "retry" : "manual";
    let priority = 0;
    const execution = await this.inTransaction(actor, jobId, async (tx, job) => {
      priority = job.priority;
      const running = await countRunningExecutions(tx, jobId);
      if (running >= job.maxConcurrent) {
        throw new AppError(
          "JOB_ALREADY_RUNNING",
          `job ${jobId} already runs ${running} of at most ${job.maxConcurrent}`,
        );
      }
      const [row] = await insertExecutions(tx, [
        {
          jobId,
          tenantId: job.tenantId,
          executionId: `${jobId}:${triggerType}:${randomUUID()}`,
          triggerType,
          triggeredBy: actor.userId,
          status: "pending",
          scheduledAt: await databaseNow(tx),
        },
      ]);
      await recordAudit(tx, actor, runEntry(jobId, row!, options.retryOf));
      return row!;
    });
    await this.options.dispatcher.enqueue(execution, priority);
    return execution;
  }

  /** Records a change of one job: its changed fields, and `facts` such as executions cancelled. */
  private audit(
    tx: Db,
    actor: Actor,
    action: "job.update" | "job.delete" | "job.pause" | "job.resume" | "job.stop",
    before: JobRow,
    after: JobRow | undefined,
    facts: Record<string, unknown> = {},
  ): Promise<void> {
    const changes = { ...jobChanges(before, after, this.options.secrets.mask), ...facts };
    return recordAudit(tx, actor, { action, targetType: "job", targetId: before.id, changes });
  }

  private inTransaction<T>(
    actor: Actor,
    jobId: string,
    fn: (tx: Db, job: JobRow) => Promise<T>,
  ): Promise<T> {
    return this.options.db.transaction(async (tx) => {
      const job = await lockJob(tx, actor.tenantId, jobId);
      if (!job) throw notFound(jobId);
      return fn(tx, job);
    });
  }
}

/** Runs a write, answering the per-tenant unique name constraint as JOB_ALREADY_EXISTS. */
async function withNameConflict<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isUniqueViolation(error, "uq_scheduled_jobs_tenant_name")) throw nameConflict();
    throw error;
  }
}

function nameConflict(): AppError {
  return new AppError("JOB_ALREADY_EXISTS", "a job with that name already exists in the tenant");
}

function assertTransition(allowed: boolean, message: string): void {
  if (!allowed) throw new AppError("INVALID_STATE_TRANSITION", message);
}

function duplicateName(name: string, index: number, count: number): AppError {
  const prefix = count > 1 ? `jobs[${index}]: ` : "";
  return new AppError("JOB_ALREADY_EXISTS", `${prefix}a job named '${name}' appears twice`, {
    index,
  });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A stored job as the request that would create it (its config as stored). */
export function toDefinition(job: JobRow): CreateJobRequest {
  return {
    name: job.name,
    description: job.description,
    cronExpression: job.cronExpression,
    timezone: job.timezone,
    jobType: job.jobType as CreateJobRequest["jobType"],
    config: job.config as Record<string, unknown>,
    retryConfig: job.retryConfig as CreateJobRequest["retryConfig"],
    timeout: job.timeoutSeconds,
    maxConcurrent: job.maxConcurrent,
    priority: job.priority,
    misfirePolicy: job.misfirePolicy as CreateJobRequest["misfirePolicy"],
    startDate: job.startDate?.toISOString() ?? null,
    endDate: job.endDate?.toISOString() ?? null,
    maxExecutions: job.maxExecutions,
    tags: job.tags,
  };
}
