import { z } from "zod";

const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);
const ms = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);

/** Settings every process shares. */
const Common = {
  /** PostgreSQL connection string. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
  /** Redis connection string. (Default: redis://127.0.0.1:6379) */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379"),
  /** Prefix of every Redis key this deployment uses, queue included. (Default: 'scheduler') */
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/)
    .default("scheduler"),
  /** pino level. (Default: 'info') */
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  NODE_ENV: z.enum(["development", "production", "test"]).default("production"),
  /** Size of this process's PostgreSQL pool. (Default: 10) */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
};

export const ApiConfig = z
  .object({
    ...Common,
    /** HTTP port of the API. (Default: 3009) */
    PORT: port(3009),
    /** Address the API binds. (Default: 0.0.0.0) */
    HOST: z.string().default("0.0.0.0"),
    /** HS256 secret for tenant JWTs; at least 32 characters. Required unless JWT_PUBLIC_KEY is set. */
    JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    /** PEM public key: when set, tenant JWTs are RS256 and JWT_SECRET is ignored. */
    JWT_PUBLIC_KEY: z.string().optional(),
    /** Prometheus port of the API process. (Default: 9464) */
    METRICS_PORT: port(9464),
  })
  .superRefine((c, ctx) => {
    if (!c.JWT_SECRET && !c.JWT_PUBLIC_KEY) {
      ctx.addIssue({
        code: "custom",
        path: ["JWT_SECRET"],
        message: "is required unless JWT_PUBLIC_KEY is set (one of JWT_SECRET, JWT_PUBLIC_KEY)",
      });
    }
  });
export type ApiConfig = z.infer<typeof ApiConfig>;

export const SchedulerConfig = z
  .object({
    ...Common,
    /** How often the leader looks for due jobs, in ms. (Default: 1000) */
    SCHEDULER_TICK_MS: ms(1000, 50),
    /** Leader lock lifetime in ms. (Default: 10000) */
    SCHEDULER_LOCK_TTL_MS: ms(10_000, 300),
    /** How often the leader renews its lock, in ms. (Default: ttl / 3) */
    SCHEDULER_LOCK_RENEW_MS: z.coerce.number().int().min(50).optional(),
    /** How far ahead of its slot a job is enqueued (with a delay to the exact ms). (Default: 2000) */
    SCHEDULER_LOOKAHEAD_MS: ms(2000, 0),
    /** Jobs claimed per transaction. (Default: 500) */
    SCHEDULER_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
    /** How often pending executions without a queue job are enqueued again, in ms. (Default: 10000) */
    RECONCILE_INTERVAL_MS: ms(10_000, 100),
    /** A slot found later than this is a misfire, handled by the job's misfirePolicy, in ms. (Default: 60000) */
    MISFIRE_THRESHOLD_MS: ms(60_000, 1000),
    /** Prometheus port of the scheduler process. (Default: 9465) */
    METRICS_PORT: port(9465),
  })
  .superRefine((c, ctx) => {
    if (
      c.SCHEDULER_LOCK_RENEW_MS !== undefined &&
      c.SCHEDULER_LOCK_RENEW_MS >= c.SCHEDULER_LOCK_TTL_MS
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["SCHEDULER_LOCK_RENEW_MS"],
        message: "must be less than SCHEDULER_LOCK_TTL_MS",
      });
    }
  });
export type SchedulerConfig = z.infer<typeof SchedulerConfig>;

export const WorkerConfig = z.object({
  ...Common,
  /** Executions one worker process runs at once. (Default: 50) */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(50),
  /** This worker's id in execution rows and heartbeats. (Default: '<hostname>-<pid>') */
  WORKER_ID: z.string().min(1).max(100).optional(),
  /** Prometheus port of the worker process. (Default: 9466) */
  METRICS_PORT: port(9466),
});
export type WorkerConfig = z.infer<typeof WorkerConfig>;

/** Thrown by loadConfig; its message names every variable that is wrong. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses the environment against a process's schema. Empty strings count as unset,
 * so `FOO=` in a .env file falls back to the default.
 */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ""));
  const parsed = schema.safeParse(cleaned);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const name = issue.path.join(".") || "(environment)";
    const message =
      issue.code === "invalid_type" && issue.input === undefined ? "is required" : issue.message;
    return `  ${name}: ${message}`;
  });
  return failConfig(lines);
}

function failConfig(lines: string[]): never {
  throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
}
