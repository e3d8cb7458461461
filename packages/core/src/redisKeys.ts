/** Every Redis key and queue name the service uses, from one prefix. */
export function redisKeys(prefix: string) {
  return {
    /** BullMQ's own key prefix; its keys are `<prefix>:bull:<queue>:…`. */
    bullPrefix: `${prefix}:bull`,
    /** `SET NX PX` lock naming the leading scheduler instance. */
    leaderLock: `${prefix}:scheduler:leader`,
    /** `INCR`ed on every leader acquisition: the fencing epoch. */
    leaderEpoch: `${prefix}:scheduler:epoch`,
    /** Short-lived key the health check sets and deletes to prove locking works. */
    healthCheck: `${prefix}:health:lock`,
  };
}

/** The one queue that carries executions to the workers. */
export const EXECUTION_QUEUE = "executions";
