/** Every Redis key and queue name the service uses, from one prefix. */
export function redisKeys(prefix: string) {
  return {
    /** BullMQ's own key prefix; its keys are `<prefix>:bull:<queue>:…`. */
    bullPrefix: `${prefix}:bull`,
    /** `SET NX PX` lock naming the leading scheduler instance. */
    leaderLock: `${prefix}:scheduler:leader`,
    /** `INCR`ed on every leader acquisition: the fencing epoch. */
    leaderEpoch: `${prefix}:scheduler:epoch`,
    /** Pub/sub channel of cancel requests; each message is a job_executions.id. */
    cancelChannel: `${prefix}:cancel`,
    /** ZSET of worker ids scored by their last heartbeat (epoch ms). */
    workersIndex: `${prefix}:workers`,
    /** One worker's last heartbeat, a JSON WorkerHeartbeat, expiring after 3 heartbeats. */
    workerHeartbeat: (workerId: string) => `${prefix}:workers:${workerId}`,
    /** ZSET of scheduler instance ids scored by their last heartbeat (epoch ms). */
    schedulersIndex: `${prefix}:schedulers`,
    /** One scheduler instance's last heartbeat, a JSON SchedulerHeartbeat, expiring after 3 periods. */
    schedulerHeartbeat: (instanceId: string) => `${prefix}:schedulers:${instanceId}`,
    /** Tenant fairness (docs/fairness.md): ZSET of running execution ids scored by lease expiry (epoch ms). */
    fairLeases: `${prefix}:fair:leases`,
    /** HASH execution id → tenant id of every lease in fairLeases. */
    fairLeaseTenants: `${prefix}:fair:leaseTenants`,
    /** HASH tenant id → executions it runs now (leases not expired). */
    fairRunning: `${prefix}:fair:running`,
    /** ZSET of '<worker id>|<slots>' scored by expiry (epoch ms): the cluster's running slots. */
    fairWorkers: `${prefix}:fair:workers`,
    /** HASH tenant id → queue jobs it has parked (turned away, waiting for a slot). */
    fairParkedCounts: `${prefix}:fair:parkedCounts`,
    /** Prefix of fairParked; a tenant id follows it. */
    fairParkedPrefix: `${prefix}:fair:parked:`,
    /** ZSET of one tenant's parked queue job ids scored by when their wait began (epoch ms). */
    fairParked: (tenantId: string) => `${prefix}:fair:parked:${tenantId}`,
    /** Per-tenant request counter of one rate-limit window. */
    rateLimit: (tenantId: string, window: number) => `${prefix}:ratelimit:${tenantId}:${window}`,
    /**
     * Short-lived key one health probe sets and deletes to prove locking works; one per
     * probe, so concurrent probes never see each other's key.
     */
    healthCheck: (probeId: string) => `${prefix}:health:lock:${probeId}`,
  };
}

/** The one queue that carries executions to the workers. */
export const EXECUTION_QUEUE = "executions";
