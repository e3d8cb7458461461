export {
  createDb,
  createPool,
  type Db,
  isUniqueViolation,
  type PoolOptions,
  sqlStateOf,
  tenantQuotaExceeded,
} from "./client.js";
export { MIGRATIONS_FOLDER, type MigrateOptions, runMigrations } from "./migrate.js";
export {
  type AuditCursor,
  type AuditListFilter,
  auditEventInsert,
  insertAuditEvent,
  listAuditEvents,
} from "./queries/audit.js";
export {
  advanceJobs,
  claimDueJobs,
  countInFlightExecutions,
  type DueJob,
  databaseNow,
  findRequeueCandidates,
  insertSlotExecutions,
  type JobAdvance,
  type RecordedSlot,
  type RequeueCandidate,
  type RequeueCursor,
  type SlotExecution,
} from "./queries/claims.js";
export {
  CLAIM_PLAN_SETTINGS,
  type ClaimKey,
  claimExecution,
  claimExecutions,
  type ExecutionClaim,
  type RunnableJob,
} from "./queries/executionClaims.js";
export {
  type ExecutionKey,
  failOrphanedExecution,
  findCancelledExecutionIds,
  findOrphanedExecutions,
  type OrphanedExecution,
  updateExecutionProgress,
} from "./queries/executionRuns.js";
export {
  type CancelledExecution,
  cancelExecution,
  cancelJobExecutions,
  countRunningExecutions,
  type ExecutionCursor,
  type ExecutionFinish,
  type ExecutionListFilter,
  type ExecutionOutcome,
  findExecution,
  findStalePendingExecutions,
  finishExecution,
  finishExecutions,
  insertExecutions,
  listExecutions,
  type NewExecution,
  type StartedExecution,
  startExecution,
} from "./queries/executions.js";
export {
  countActiveJobs,
  countJobsByStatus,
  deleteJob,
  findJob,
  insertJob,
  insertJobs,
  type JobListFilter,
  type ListCursor,
  listJobs,
  lockJob,
  updateJob,
} from "./queries/jobs.js";
export {
  fenceClaim,
  findLeadership,
  leadershipEpoch,
  recordLeadership,
  recordTickStats,
  releaseLeadership,
  renewLeadership,
} from "./queries/locks.js";
export {
  listPartitions,
  maintainPartitions,
  PARTITION_MONTHS_AHEAD,
  type Partition,
  type PartitionMaintenanceOptions,
} from "./queries/partitions.js";
export { ALL_JOBS, durationBucket, type ExecutionStats, executionStats } from "./queries/stats.js";
export {
  type AuditEventRow,
  auditEvents,
  type ExecutionRow,
  executionRollups,
  type JobRow,
  jobExecutions,
  type NewAuditEventRow,
  type NewJobRow,
  scheduledJobs,
  schedulerLocks,
} from "./schema.js";
