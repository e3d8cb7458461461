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
  countActiveJobs,
  findJob,
  insertJob,
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
