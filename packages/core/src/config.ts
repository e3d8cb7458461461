import { z } from "zod";
import { parseFailpoints } from "./failpoints.js";
import { isValidCidr } from "./targets.js";

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
  /**
   * Address the metrics port (METRICS_PORT: /metrics, /health, /livez, /readyz) binds. It
   * has no authentication, so only this host reaches it unless set. (Default: 127.0.0.1)
   */
  METRICS_HOST: z.string().min(1).default("127.0.0.1"),
  /**
   * Label execution series with `tenant_id`: one tenant's activity becomes visible to
   * whoever reads the metrics, and series grow with the tenants. (Default: false)
   */
  METRICS_TENANT_LABELS: z.stringbool().default(false),
};

const commaList = z
  .string()
  .transform((v) =>
    v
      .split(",")
      .map((item) => item.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string()));

/** Key ring entry `<keyId>:<base64 of 32 bytes>`. */
const ENCRYPTION_KEY_ENTRY = /^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{43}=$/;

/** What decides which job targets are allowed and how secrets are kept: api and worker. */
const JobTargets = {
  /**
   * AES-256-GCM key ring for secret config fields: comma-separated `<keyId>:<base64 32 bytes>`.
   * The first key encrypts; every key decrypts, so keys can be rotated.
   */
  CONFIG_ENCRYPTION_KEY: z
    .string()
    .refine((v) => v.split(",").every((entry) => ENCRYPTION_KEY_ENTRY.test(entry.trim())), {
      message: "must be comma-separated '<keyId>:<base64 of 32 bytes>' entries",
    }),
  /** CIDRs HTTP jobs may reach although not public, comma-separated. (Default: none) */
  HTTP_JOB_ALLOWED_CIDRS: commaList
    .refine((cidrs) => cidrs.every(isValidCidr), {
      message: "must be comma-separated CIDRs such as 10.0.0.0/8",
    })
    .default([]),
  /** Executables command jobs may run, comma-separated bare names. (Default: none: command jobs disabled) */
  COMMAND_JOB_ALLOWED: commaList.default([]),
  /** Command jobs' working directories must lie under this. (Default: /tmp/scheduler-jobs) */
  COMMAND_JOB_WORKDIR_ROOT: z.string().min(1).default("/tmp/scheduler-jobs"),
  /** The operator's function registry. (Default: ./functions, from the process's working directory) */
  FUNCTIONS_DIR: z.string().min(1).default("./functions"),
};

/** How long history is kept: the processes that run partition maintenance. */
const Retention = {
  /**
   * Days of execution history and audit trail kept. A month's partitions are dropped
   * whole once every instant in them is older than this. (Default: 90)
   */
  EXECUTION_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(90),
};

/** `pnpm migrate` (packages/db migrateCli.ts): migrations, then partition maintenance. */
export const MigrateConfig = z.object({ DATABASE_URL: Common.DATABASE_URL, ...Retention });
export type MigrateConfig = z.infer<typeof MigrateConfig>;

export const ApiConfig = z
  .object({
    ...Common,
    ...JobTargets,
    /** Shared secret of the internal API (X-Service-Token). Unset: the internal API answers 401. */
    INTERNAL_SERVICE_TOKEN: z.string().min(16, "must be at least 16 characters").optional(),
    /** Jobs one tenant may have. (Default: 10000) */
    TENANT_MAX_JOBS: z.coerce.number().int().min(1).default(10_000),
    /** Requests one tenant may make per minute. (Default: 1200) */
    TENANT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(1200),
    /** HTTP port of the API. (Default: 3009) */
    PORT: port(3009),
    /** Address the API binds. (Default: 0.0.0.0) */
    HOST: z.string().default("0.0.0.0"),
    /** HS256 secret for tenant JWTs; at least 32 characters. Required unless JWT_PUBLIC_KEY is set. */
    JWT_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
    /** PEM public key: when set, tenant JWTs are RS256 and JWT_SECRET is ignored. */
    JWT_PUBLIC_KEY: z.string().optional(),
    /** When set, a tenant JWT must carry an `iss` claim equal to one of these (comma-separated). */
    JWT_ISSUER: commaList.default([]),
    /** When set, a tenant JWT's `aud` claim must name one of these (comma-separated). */
    JWT_AUDIENCE: commaList.default([]),
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
    /** How far ahead of its slot an execution is claimed (recorded). (Default: 2000) */
    SCHEDULER_LOOKAHEAD_MS: ms(2000, 0),
    /**
     * Hold an execution claimed ahead of its slot in the leader and enqueue it when its
     * slot comes, rather than at once with a BullMQ delay, whose promotion waits on
     * Redis's timer (up to 1000/hz ms late). (Default: true)
     */
    SCHEDULER_ENQUEUE_AT_SLOT: z.stringbool().default(true),
    /** Jobs claimed per transaction. (Default: 500) */
    SCHEDULER_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
    /** Claim transactions run side by side when more than a batch is due. (Default: 2) */
    SCHEDULER_CLAIM_CONCURRENCY: z.coerce.number().int().min(1).max(8).default(2),
    /** How often pending executions without a queue job are enqueued again, in ms. (Default: 10000) */
    RECONCILE_INTERVAL_MS: ms(10_000, 100),
    /** A slot found later than this is a misfire, handled by the job's misfirePolicy, in ms. (Default: 60000) */
    MISFIRE_THRESHOLD_MS: ms(60_000, 1000),
    ...Retention,
    /**
     * How often the leader runs partition maintenance (next months' partitions,
     * retention), in ms. (Default: 3600000)
     */
    PARTITION_MAINTENANCE_INTERVAL_MS: ms(3_600_000, 1000),
    /** Prometheus port of the scheduler process. (Default: 9465) */
    METRICS_PORT: port(9465),
    /**
     * Fault-test failpoints, `name:crash|pause:<ms>[,…]` (docs/reliability.md §Failpoints), honoured only
     * when NODE_ENV=test. (Default: none)
     */
    SCHEDULER_FAILPOINTS: z
      .string()
      .default("")
      .superRefine((value, ctx) => {
        try {
          parseFailpoints(value);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message });
        }
      }),
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
  ...JobTargets,
  /** After SIGTERM to a cancelled or timed-out command's process group, SIGKILL follows after this, in ms. (Default: 5000) */
  CANCEL_KILL_GRACE_MS: ms(5000, 0),
  /** How often BullMQ looks for executions whose worker died, in ms. (Default: 30000) */
  WORKER_STALLED_INTERVAL_MS: ms(30_000, 100),
  /** On SIGTERM, running executions get this long to finish before they are aborted, in ms. (Default: 30000) */
  WORKER_SHUTDOWN_GRACE_MS: ms(30_000, 0),
  /** How often a worker writes its heartbeat, in ms. (Default: 5000) */
  WORKER_HEARTBEAT_MS: ms(5000, 100),
  /**
   * Executions one worker process runs at once. (Default: 200; docs/decisions.md,
   * "Worker defaults")
   */
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(200),
  /**
   * Share running slots fairly across tenants (docs/fairness.md); false runs executions
   * in queue order. Off by default until its flood drill holds (docs/fairness.md).
   * (Default: false)
   */
  TENANT_FAIRNESS: z.stringbool().default(false),
  /** Operator weights of tenants' shares, 'tenantId=weight,…'; others weigh 1. (Default: '') */
  TENANT_WEIGHTS: z
    .string()
    .regex(/^([^,=\s]+=\d+(\.\d+)?)(,[^,=\s]+=\d+(\.\d+)?)*$/, "expected 'tenantId=weight,…'")
    .optional(),
  /** Most executions one tenant runs at once over all workers; 0 for no cap. (Default: 0) */
  TENANT_MAX_CONCURRENT: z.coerce.number().int().min(0).default(0),
  /**
   * Slots a worker takes beyond WORKER_CONCURRENCY for tenants under their share while
   * others hold every slot, and to park turned-away jobs. (Default: 40)
   */
  WORKER_FAIR_HEADROOM: z.coerce.number().int().min(1).max(1000).default(40),
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
