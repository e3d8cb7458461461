export { ApiConfig, ConfigError, loadConfig, SchedulerConfig, WorkerConfig } from "./config.js";
export {
  assertTimezone,
  type CronSchedule,
  nextFireTime,
  nextFireTimes,
  parseCron,
} from "./cron.js";
export {
  AppError,
  assertNever,
  ERROR_STATUS,
  type ErrorCode,
  isAppError,
  toError,
} from "./errors.js";
export {
  ExecutionError,
  MAX_KEPT_BODY_BYTES,
  type RunContext,
  runHttpJob,
  type TargetPolicy,
} from "./executors/http.js";
export {
  CommandJobConfig,
  CreateJobRequest,
  type ExecutionMessage,
  ExecutionStatus,
  FunctionJobConfig,
  HttpJobConfig,
  JOB_CONFIG_SCHEMAS,
  type JobConfig,
  JobErrorType,
  type JobResult,
  JobStatus,
  JobType,
  MisfirePolicy,
  queueJobId,
  RetryConfig,
  scheduledExecutionId,
  TriggerType,
  UpdateJobRequest,
} from "./job.js";
export {
  assertJobDefinition,
  type CheckedDefinition,
  checkJobDefinition,
  type DefinitionCheck,
  type DefinitionProblem,
  firstExecutionAt,
} from "./jobDefinition.js";
export { createLogger, type Logger, REDACT_PATHS } from "./logger.js";
export { EXECUTION_QUEUE, redisKeys } from "./redisKeys.js";
export { isWorkerAlive, type WorkerHeartbeat } from "./workers.js";
