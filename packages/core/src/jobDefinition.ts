import type { z } from "zod";
import { type CronSchedule, nextFireTime, parseCron } from "./cron.js";
import { AppError, type ErrorCode, isAppError } from "./errors.js";
import { type CreateJobRequest, JOB_CONFIG_SCHEMAS, type JobConfig } from "./job.js";

/** One problem found in a job definition, as the validate endpoint lists it. */
export interface DefinitionProblem {
  code: ErrorCode;
  message: string;
  field: string;
}

/** A definition that passed every check, with its parsed parts. */
export interface CheckedDefinition {
  schedule: CronSchedule;
  config: JobConfig;
}

export type DefinitionCheck =
  | { ok: true; value: CheckedDefinition; problems: [] }
  | { ok: false; problems: DefinitionProblem[] };

/**
 * Checks what the request schema cannot: the zone, the cron expression, the config
 * for its jobType and the date range. Collects every problem rather than stopping at
 * the first, so `validate` can list them all.
 */
export function checkJobDefinition(request: CreateJobRequest): DefinitionCheck {
  const problems: DefinitionProblem[] = [];
  let schedule: CronSchedule | undefined;
  try {
    schedule = parseCron(request.cronExpression, request.timezone);
  } catch (error) {
    if (!isAppError(error)) throw error;
    const field = error.code === "INVALID_TIMEZONE" ? "timezone" : "cronExpression";
    problems.push({ code: error.code, message: error.message, field });
  }

  const parsed = JOB_CONFIG_SCHEMAS[request.jobType].safeParse(request.config);
  if (!parsed.success) problems.push(...configProblems(request.jobType, parsed.error));

  if (
    request.startDate &&
    request.endDate &&
    Date.parse(request.startDate) >= Date.parse(request.endDate)
  ) {
    const message = "endDate must be after startDate";
    problems.push({ code: "VALIDATION_ERROR", message, field: "endDate" });
  }

  if (problems.length > 0 || !schedule || !parsed.success) return { ok: false, problems };
  return { ok: true, value: { schedule, config: parsed.data }, problems: [] };
}

/** Like checkJobDefinition, but throws the first problem as an AppError carrying all. */
export function assertJobDefinition(request: CreateJobRequest): CheckedDefinition {
  const check = checkJobDefinition(request);
  if (check.ok) return check.value;
  const [first] = check.problems;
  throw new AppError(first!.code, first!.message, { errors: check.problems });
}

function configProblems(jobType: string, error: z.ZodError): DefinitionProblem[] {
  return error.issues.map((issue) => {
    const field = ["config", ...issue.path.map(String)].join(".");
    return {
      code: "INVALID_JOB_CONFIG",
      message: `${field} ${issue.message} (jobType '${jobType}')`,
      field,
    };
  });
}

/**
 * The first fire time of a job: strictly after `now`, and not before its startDate.
 * Null when the schedule has nothing left before endDate.
 */
export function firstExecutionAt(
  schedule: CronSchedule,
  now: Date,
  window: { startDate?: Date | null; endDate?: Date | null },
): Date | null {
  const from =
    window.startDate && window.startDate > now ? new Date(window.startDate.getTime() - 1) : now;
  const next = nextFireTime(schedule, from);
  if (!next || (window.endDate && next > window.endDate)) return null;
  return next;
}
