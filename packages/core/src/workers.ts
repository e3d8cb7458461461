/**
 * What a worker process writes to Redis every WORKER_HEARTBEAT_MS, under
 * `redisKeys(prefix).workerHeartbeat(id)`, and what `GET /workers` reads.
 */
export interface WorkerHeartbeat {
  id: string;
  host: string;
  pid: number;
  concurrency: number;
  /** Executions running now. */
  active: number;
  /** Executions finished since start (any status). */
  processed: number;
  /** Executions that ended failed since start. */
  failed: number;
  startedAt: string;
  lastHeartbeatAt: string;
  /** The heartbeat period, so a reader can tell a live worker from a dead one. */
  heartbeatMs: number;
}

/** A worker counts as alive while its last heartbeat is younger than three periods. */
export function isWorkerAlive(heartbeat: WorkerHeartbeat, now: Date): boolean {
  return now.getTime() - Date.parse(heartbeat.lastHeartbeatAt) < 3 * heartbeat.heartbeatMs;
}
