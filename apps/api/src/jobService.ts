import {
  AppError,
  assertJobDefinition,
  type CreateJobRequest,
  firstExecutionAt,
} from "@scheduler/core";
import { type Db, insertJob, isUniqueViolation, type JobRow } from "@scheduler/db";

/**
 * Job types the workers of this version run. Function and command jobs need their
 * sandboxes (function registry, command allow-list) before they can be accepted.
 */
const ENABLED_JOB_TYPES: ReadonlySet<string> = new Set(["http"]);

/** Who a job is created for: the tenant and acting user, from a token or an internal call. */
export interface Actor {
  tenantId: string;
  userId: string;
}

/**
 * Validates a definition and stores it with its first fire time. Shared by the tenant
 * API and the internal API, so both apply the same rules.
 */
export async function createJob(
  db: Db,
  actor: Actor,
  request: CreateJobRequest,
  now: Date,
): Promise<JobRow> {
  const { schedule, config } = assertJobDefinition(request);
  if (!ENABLED_JOB_TYPES.has(request.jobType)) {
    throw new AppError(
      "INVALID_JOB_CONFIG",
      `jobType '${request.jobType}' is not enabled on this deployment`,
      {
        errors: [{ code: "INVALID_JOB_CONFIG", message: "job type not enabled", field: "jobType" }],
      },
    );
  }
  const startDate = request.startDate ? new Date(request.startDate) : null;
  const endDate = request.endDate ? new Date(request.endDate) : null;
  const nextExecutionAt = firstExecutionAt(schedule, now, { startDate, endDate });
  try {
    return await insertJob(db, {
      tenantId: actor.tenantId,
      createdBy: actor.userId,
      name: request.name,
      description: request.description ?? null,
      cronExpression: request.cronExpression,
      timezone: request.timezone,
      jobType: request.jobType,
      config,
      retryConfig: request.retryConfig ?? null,
      timeoutSeconds: request.timeout,
      maxConcurrent: request.maxConcurrent,
      priority: request.priority,
      misfirePolicy: request.misfirePolicy,
      startDate,
      endDate,
      maxExecutions: request.maxExecutions ?? null,
      tags: request.tags,
      status: nextExecutionAt ? "active" : "inactive",
      nextExecutionAt,
    });
  } catch (error) {
    if (isUniqueViolation(error, "uq_scheduled_jobs_tenant_name")) {
      throw new AppError("JOB_ALREADY_EXISTS", `a job named '${request.name}' already exists`);
    }
    throw error;
  }
}
