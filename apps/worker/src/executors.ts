import {
  assertNever,
  type CommandJobConfig,
  type FunctionJobConfig,
  type HttpAgents,
  type HttpJobConfig,
  type JobResult,
  JobType,
  type KeyRing,
  openConfig,
  type RunContext,
  type RunHooks,
  runCommandJob,
  runFunctionJob,
  runHttpJob,
  secretValuesOf,
} from "@scheduler/core";

/** A job's config opened for a run, tagged by its type. */
export type OpenedJob =
  | { jobType: "http"; config: HttpJobConfig }
  | { jobType: "function"; config: FunctionJobConfig }
  | { jobType: "command"; config: CommandJobConfig };

/** What the deployment lets jobs do (from WorkerConfig). */
export interface ExecutorSettings {
  allowedCidrs: readonly string[];
  functionsDir: string;
  allowedCommands: readonly string[];
  workdirRoot: string;
  killGraceMs: number;
  /** Keep-alive connections of HTTP jobs, shared by every execution of the process. */
  httpAgents?: HttpAgents;
}

/**
 * Opens a stored config (decrypts its secret fields, validates it for its type) and lists
 * the secret values to scrub from whatever the run produces. Throws an Error whose
 * message names the field, never a value.
 */
export function openJob(
  jobType: string,
  stored: unknown,
  ring: KeyRing,
): { job: OpenedJob; secrets: string[] } {
  const type = JobType.safeParse(jobType);
  if (!type.success) throw new Error(`job type '${jobType}' is not known to this worker`);
  const job = { jobType: type.data, config: openConfig(type.data, stored, ring) } as OpenedJob;
  return { job, secrets: secretValuesOf(job.jobType, job.config) };
}

/** Runs one attempt of a job with the executor of its type. */
export function runExecutor(
  job: OpenedJob,
  ctx: RunContext,
  settings: ExecutorSettings,
  hooks: RunHooks,
): Promise<JobResult> {
  switch (job.jobType) {
    case "http":
      return runHttpJob(job.config, ctx, {
        allowedCidrs: settings.allowedCidrs,
        agents: settings.httpAgents,
      });
    case "function":
      return runFunctionJob(job.config, ctx, {
        functionsDir: settings.functionsDir,
        killGraceMs: settings.killGraceMs,
        ...hooks,
      });
    case "command":
      return runCommandJob(job.config, ctx, {
        allowedCommands: settings.allowedCommands,
        workdirRoot: settings.workdirRoot,
        killGraceMs: settings.killGraceMs,
        ...hooks,
      });
    default:
      return assertNever(job);
  }
}
