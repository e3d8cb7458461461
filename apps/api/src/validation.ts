import {
  CreateJobRequest,
  type DefinitionProblem,
  nextFireTimes,
  parseCron,
} from "@scheduler/core";
import type { DefinitionChecker } from "./definitions.js";

/** The answer of the validate endpoints (API.md: Validation). */
export interface ValidationResponse {
  valid: boolean;
  errors: DefinitionProblem[];
  nextExecutions: string[];
}

/**
 * Validates a definition without storing anything. Shape errors are listed like the
 * others (code VALIDATION_ERROR) rather than answered with 400: validating is the
 * point of the call. Fire times are listed whenever the expression and zone are valid.
 */
export function validateDefinition(
  definitions: DefinitionChecker,
  body: unknown,
  window: { count: number; from: Date },
): ValidationResponse {
  const parsed = CreateJobRequest.safeParse(body);
  if (!parsed.success) {
    const errors = parsed.error.issues.map((issue) => ({
      code: "VALIDATION_ERROR" as const,
      message: issue.message,
      field: issue.path.map(String).join(".") || "body",
    }));
    return { valid: false, errors, nextExecutions: fireTimes(body, window) };
  }
  const check = definitions.check(parsed.data);
  return {
    valid: check.ok,
    errors: check.problems,
    nextExecutions: fireTimes(parsed.data, window),
  };
}

function fireTimes(body: unknown, window: { count: number; from: Date }): string[] {
  const { cronExpression, timezone = "UTC" } = (body ?? {}) as {
    cronExpression?: unknown;
    timezone?: unknown;
  };
  if (typeof cronExpression !== "string" || typeof timezone !== "string") return [];
  try {
    const schedule = parseCron(cronExpression, timezone);
    return nextFireTimes(schedule, window.from, window.count).map((d) => d.toISOString());
  } catch {
    return [];
  }
}
