/**
 * What every scheduler instance, leader or follower, writes to Redis every lock renewal
 * period under `redisKeys(prefix).schedulerHeartbeat(id)` (expiring after three periods),
 * with its id in the `schedulersIndex` ZSET scored by the heartbeat's epoch ms. The
 * `/status` endpoint reads it to list the instances.
 */
export interface SchedulerHeartbeat {
  /** Instance id, as in scheduler_locks.locked_by. */
  id: string;
  host: string;
  pid: number;
  /** ISO-8601 UTC. */
  startedAt: string;
  /** ISO-8601 UTC. */
  lastHeartbeatAt: string;
  /** True while this instance holds the leader lock and may claim. */
  leader: boolean;
  /** Fencing epoch of its leadership; 0 when following. */
  epoch: number;
  /** The heartbeat period in ms, so a reader can tell a live instance from a dead one. */
  heartbeatMs: number;
}

/** A scheduler instance counts as alive while its last heartbeat is younger than three periods. */
export function isSchedulerAlive(heartbeat: SchedulerHeartbeat, now: Date): boolean {
  return now.getTime() - Date.parse(heartbeat.lastHeartbeatAt) < 3 * heartbeat.heartbeatMs;
}
