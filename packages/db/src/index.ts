export { createDb, createPool, type Db, isUniqueViolation, type PoolOptions } from "./client.js";
export { MIGRATIONS_FOLDER, runMigrations } from "./migrate.js";
export {
  type ExecutionListFilter,
  type ExecutionOutcome,
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
  advanceJobs,
  claimDueJobs,
  countActiveJobs,
  type DueJob,
  databaseNow,
  findJob,
  insertJob,
  type JobAdvance,
  type JobListFilter,
  type ListCursor,
  listJobs,
} from "./queries/jobs.js";
export { holdsCurrentEpoch, recordLeadership, releaseLeadership } from "./queries/locks.js";
export {
  type ExecutionRow,
  type JobRow,
  jobExecutions,
  type NewJobRow,
  scheduledJobs,
  schedulerLocks,
} from "./schema.js";
