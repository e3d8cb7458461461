import { describe, expect, it } from "vitest";
import { ApiConfig, ConfigError, loadConfig, SchedulerConfig, WorkerConfig } from "./config.js";

const DATABASE_URL = "postgres://postgres@127.0.0.1:5432/scheduler";
const JWT_SECRET = "x".repeat(32);
const CONFIG_ENCRYPTION_KEY = `k1:${Buffer.alloc(32).toString("base64")}`;

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("fills every default of the scheduler", () => {
    const config = loadConfig(SchedulerConfig, { DATABASE_URL });
    expect(config).toMatchObject({
      REDIS_URL: "redis://127.0.0.1:6379",
      REDIS_KEY_PREFIX: "scheduler",
      SCHEDULER_TICK_MS: 1000,
      SCHEDULER_LOCK_TTL_MS: 10_000,
      MISFIRE_THRESHOLD_MS: 60_000,
      METRICS_PORT: 9465,
      METRICS_HOST: "127.0.0.1",
      METRICS_TENANT_LABELS: false,
    });
  });

  it.each([
    ["api", ApiConfig, { JWT_SECRET, CONFIG_ENCRYPTION_KEY }],
    ["scheduler", SchedulerConfig, {}],
    ["worker", WorkerConfig, { CONFIG_ENCRYPTION_KEY }],
  ] as const)(
    "keeps the %s metrics on loopback and free of tenant ids unless told",
    (_, schema, env) => {
      expect(loadConfig(schema, { DATABASE_URL, ...env })).toMatchObject({
        METRICS_HOST: "127.0.0.1",
        METRICS_TENANT_LABELS: false,
      });
      const opened = loadConfig(schema, {
        DATABASE_URL,
        ...env,
        METRICS_HOST: "0.0.0.0",
        METRICS_TENANT_LABELS: "true",
      });
      expect(opened).toMatchObject({ METRICS_HOST: "0.0.0.0", METRICS_TENANT_LABELS: true });
    },
  );

  it("coerces numbers and treats empty strings as unset", () => {
    const config = loadConfig(WorkerConfig, {
      DATABASE_URL,
      CONFIG_ENCRYPTION_KEY,
      WORKER_CONCURRENCY: "8",
      WORKER_ID: "",
      COMMAND_JOB_ALLOWED: "echo, sleep",
    });
    expect(config.WORKER_CONCURRENCY).toBe(8);
    expect(config.WORKER_ID).toBeUndefined();
    expect(config.COMMAND_JOB_ALLOWED).toEqual(["echo", "sleep"]);
  });

  it("tenant fairness is off by default; weights must read 'tenantId=weight,…'", () => {
    const base = { DATABASE_URL, CONFIG_ENCRYPTION_KEY };
    expect(loadConfig(WorkerConfig, base)).toMatchObject({
      TENANT_FAIRNESS: false,
      TENANT_MAX_CONCURRENT: 0,
      WORKER_FAIR_HEADROOM: 40,
    });
    const set = loadConfig(WorkerConfig, {
      ...base,
      TENANT_FAIRNESS: "true",
      TENANT_WEIGHTS: "t-1=2,t-2=0.5",
      TENANT_MAX_CONCURRENT: "50",
    });
    expect(set).toMatchObject({
      TENANT_FAIRNESS: true,
      TENANT_WEIGHTS: "t-1=2,t-2=0.5",
      TENANT_MAX_CONCURRENT: 50,
    });
    expect(
      messageOf(() => loadConfig(WorkerConfig, { ...base, TENANT_WEIGHTS: "t-1:2" })),
    ).toContain("TENANT_WEIGHTS");
  });

  it.each([
    ["a missing DATABASE_URL", SchedulerConfig, {}, "DATABASE_URL: is required"],
    [
      "a DATABASE_URL that is not postgres",
      SchedulerConfig,
      { DATABASE_URL: "mysql://x/y" },
      "DATABASE_URL",
    ],
    [
      "a PORT that is not a number",
      ApiConfig,
      { DATABASE_URL, CONFIG_ENCRYPTION_KEY, JWT_SECRET, PORT: "http" },
      "PORT",
    ],
    [
      "a short JWT_SECRET",
      ApiConfig,
      { DATABASE_URL, CONFIG_ENCRYPTION_KEY, JWT_SECRET: "short" },
      "JWT_SECRET: must be at least 32 characters",
    ],
    [
      "no JWT_SECRET and no JWT_PUBLIC_KEY",
      ApiConfig,
      { DATABASE_URL, CONFIG_ENCRYPTION_KEY },
      "one of JWT_SECRET, JWT_PUBLIC_KEY",
    ],
    [
      "a renew period not under the ttl",
      SchedulerConfig,
      { DATABASE_URL, SCHEDULER_LOCK_TTL_MS: "1000", SCHEDULER_LOCK_RENEW_MS: "1000" },
      "SCHEDULER_LOCK_RENEW_MS: must be less than SCHEDULER_LOCK_TTL_MS",
    ],
    [
      "a malformed CONFIG_ENCRYPTION_KEY",
      WorkerConfig,
      { DATABASE_URL, CONFIG_ENCRYPTION_KEY: "k1:short" },
      "CONFIG_ENCRYPTION_KEY: must be comma-separated",
    ],
    [
      "a CIDR that is not one",
      WorkerConfig,
      { DATABASE_URL, CONFIG_ENCRYPTION_KEY, HTTP_JOB_ALLOWED_CIDRS: "10.0.0.0/8, 300.1.1.1/33" },
      "HTTP_JOB_ALLOWED_CIDRS: must be comma-separated CIDRs",
    ],
    [
      "a negative concurrency",
      WorkerConfig,
      { DATABASE_URL, CONFIG_ENCRYPTION_KEY, WORKER_CONCURRENCY: "-1" },
      "WORKER_CONCURRENCY",
    ],
  ])("names the variable for %s", (_case, schema, env, expected) => {
    expect(messageOf(() => loadConfig(schema, env))).toContain(expected);
  });
});
