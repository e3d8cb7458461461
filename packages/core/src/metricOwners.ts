import type { MetricsProcess } from "./metrics.js";

const ALL: readonly MetricsProcess[] = ["api", "scheduler", "worker"];

/**
 * The processes that expose each of the service's metrics: those whose code moves it.
 * A metric a process registered but never moved would sit at zero there, and an alert
 * or panel reading it would look fine while meaning nothing. Every metric createMetrics
 * makes must be listed here (it throws otherwise), and the end-to-end metrics test
 * checks that each process moves every metric it exposes.
 */
export const METRIC_OWNERS: Readonly<Record<string, readonly MetricsProcess[]>> = {
  scheduler_job_executions_total: ["worker"],
  scheduler_execution_duration_seconds: ["worker"],
  scheduler_executions_total: ["worker"],
  scheduler_failed_jobs_total: ["worker"],
  scheduler_active_jobs: ["worker"],
  scheduler_tenant_longest_wait_seconds: ["worker"],
  scheduler_queue_size: ["api"],
  scheduler_jobs_total: ["api"],
  scheduler_workers_alive: ["api"],
  scheduler_operations_total: ["api"],
  scheduler_operation_duration_seconds: ["api"],
  scheduler_errors_total: ["api"],
  scheduler_lock_acquisitions_total: ["scheduler"],
  scheduler_lock_timeouts_total: ["scheduler"],
  scheduler_tick_duration_seconds: ["scheduler"],
  scheduler_tick_lag_seconds: ["scheduler"],
  scheduler_jobs_fired_total: ["scheduler"],
  scheduler_leader: ["scheduler"],
  scheduler_leader_changes_total: ["scheduler"],
  scheduler_partitions_dropped_total: ["scheduler"],
  scheduler_memory_usage_bytes: ALL,
  scheduler_cpu_usage_percent: ALL,
  scheduler_active_connections: ALL,
  scheduler_clock_skew_seconds: ALL,
};
