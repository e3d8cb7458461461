export { createDb, createPool, type Db, isUniqueViolation, type PoolOptions } from "./client.js";
export { MIGRATIONS_FOLDER, runMigrations } from "./migrate.js";
export {
  advanceJobs,
  claimDueJobs,
  type DueJob,
  databaseNow,
  type JobAdvance,
} from "./queries/claims.js";
export {
  claimExecution,
  type ExecutionClaim,
  failOrphanedExecution,
  findCancelledExecutionIds,
  findOrphanedExecutions,
  type OrphanedExecution,
  type RunnableJob,
  recordRetry,
  updateExecutionProgress,
} from "./queries/executionRuns.js";
export {
  type CancelledExecution,
  cancelExecution,
  cancelJobExecutions,
  countRunningExecutions,
  type ExecutionListFilter,
  type ExecutionOutcome,
  type ExecutionStats,
  executionStats,
  findExecution,
  findStalePendingExecutions,
  finishExecution,
  insertExecutions,
  listExecutions,
  type NewExecution,
  type StartedExecution,
  startExecution,
} from "./queries/executions.js";
export {
  countActiveJobs,
  countJobsByStatus,
  countTenantJobs,
  deleteJob,
  findJob,
  insertJob,
  insertJobs,
  type JobListFilter,
  type ListCursor,
  listJobs,
  lockJob,
  lockTenantJobs,
  updateJob,
} from "./queries/jobs.js";
export {
  findLeadership,
  holdsCurrentEpoch,
  recordLeadership,
  releaseLeadership,
} from "./queries/locks.js";
export {
  type ExecutionRow,
  type JobRow,
  jobExecutions,
  type NewJobRow,
  scheduledJobs,
  schedulerLocks,
} from "./schema.js";
