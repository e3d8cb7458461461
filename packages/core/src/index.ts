export {
  ApiConfig,
  ConfigError,
  loadConfig,
  MigrateConfig,
  SchedulerConfig,
  WorkerConfig,
} from "./config.js";
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
export { type CommandRunOptions, runCommandJob } from "./executors/command.js";
export { type FunctionRunOptions, runFunctionJob } from "./executors/function.js";
export {
  ExecutionError,
  MAX_KEPT_BODY_BYTES,
  MAX_REDIRECTS,
  type RunContext,
  runHttpJob,
  type TargetPolicy,
} from "./executors/http.js";
export { HttpAgents, type HttpAgentsOptions } from "./executors/httpAgents.js";
export type { ResourceUsage, RunHooks } from "./executors/procStat.js";
export {
  FAILPOINT_CRASH_EXIT_CODE,
  type FailpointAction,
  type Failpoints,
  failpoint,
  parseFailpoints,
} from "./failpoints.js";
export { checkDependencies, HEALTH_PROBE_TIMEOUT_MS } from "./health.js";
export {
  BURST_TIERS,
  burstTier,
  CommandJobConfig,
  CreateJobRequest,
  type ExecutionMessage,
  ExecutionStatus,
  executionMessage,
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
  queuePriority,
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
export { Lru } from "./lru.js";
export { METRIC_OWNERS } from "./metricOwners.js";
export {
  createMetrics,
  EXECUTION_DURATION_BUCKETS,
  type HealthReport,
  type Metrics,
  type MetricsOptions,
  type MetricsProcess,
  type MetricsServer,
  type MetricsServerOptions,
  OPERATION_DURATION_BUCKETS,
  type SchedulerMetrics,
  startMetricsServer,
  TICK_DURATION_BUCKETS,
  trackClockSkew,
  trackConnections,
} from "./metrics.js";
export { EXECUTION_QUEUE, redisKeys } from "./redisKeys.js";
export { RepeatingTask } from "./repeatingTask.js";
export {
  type ClassifiedError,
  classifyError,
  isRetryable,
  retryDelayMs,
  shouldRetry,
} from "./retry.js";
export { isSchedulerAlive, type SchedulerHeartbeat } from "./schedulers.js";
export {
  type ConfigOf,
  isSealedValue,
  isSecretHeader,
  type KeyRing,
  MASK,
  maskConfig,
  needsReseal,
  openConfig,
  parseKeyRing,
  resealConfig,
  type SealedValue,
  SecretError,
  scrubSecrets,
  sealConfig,
  secretValuesOf,
} from "./secrets.js";
export {
  checkJobTarget,
  FUNCTION_MODULE_EXTENSIONS,
  httpTargetProblem,
  isAllowedAddress,
  isLocalhostName,
  isValidCidr,
  resolveFunctionModule,
  resolveWorkingDirectory,
  type TargetRules,
} from "./targets.js";
export { isWorkerAlive, type WorkerHeartbeat } from "./workers.js";
