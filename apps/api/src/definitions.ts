import {
  AppError,
  type CheckedDefinition,
  type CreateJobRequest,
  checkJobDefinition,
  checkJobTarget,
  type DefinitionCheck,
  type TargetRules,
} from "@scheduler/core";

/** Checks a definition fully: core's rules plus what this deployment lets jobs target. */
export class DefinitionChecker {
  constructor(private readonly rules: TargetRules) {}

  check(request: CreateJobRequest): DefinitionCheck {
    const base = checkJobDefinition(request);
    if (!base.ok) return base;
    const problems = checkJobTarget(request.jobType, base.value.config, this.rules);
    return problems.length === 0 ? base : { ok: false, problems };
  }

  /** Throws the first problem as an AppError whose details list them all. */
  assert(request: CreateJobRequest): CheckedDefinition {
    const check = this.check(request);
    if (check.ok) return check.value;
    const [first] = check.problems;
    throw new AppError(first!.code, first!.message, { errors: check.problems });
  }
}
