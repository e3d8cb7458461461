import { randomBytes, randomUUID } from "node:crypto";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { createServer } from "node:http";
import { redisKeys } from "@scheduler/core";
import {
  freePort,
  type RunningProcess,
  signTestJwt,
  startApp,
  stopApp,
  TEST_CONFIG_ENCRYPTION_KEY,
  type TestDatabase,
  type TestRedis,
  test,
  waitFor,
} from "@scheduler/testkit";
import { afterAll, describe, expect } from "vitest";
import { TEST_FUNCTIONS_DIR } from "./workerHarness.js";

/**
 * After a full run (api, scheduler and worker as processes; jobs created through both
 * APIs, updated, run on schedule, triggered, failed and retried) no plaintext secret of
 * a job, nor a deployment secret, is in any PostgreSQL row, any Redis key under the
 * test's prefix, any line the processes logged, or any API answer.
 */

const hex = () => randomBytes(12).toString("hex");
const JWT_SECRET = `jwt-secret-${hex()}`;
const SERVICE_TOKEN = `service-token-${hex()}`;
/** A variable only the processes have: no job may see it, nothing may store it. */
const PROCESS_ONLY = `process-only-${hex()}`;

/** Every job secret of the run: names are for failure messages only. */
const secrets = {
  bearer: `tok_${hex()}`,
  apiKey: `key_${hex()}`,
  cookieSession: hex(),
  cookieCsrf: hex(),
  basicUser: `user${hex().slice(0, 6)}`,
  basicPassword: `pw_${hex()}`,
  rotated: `tok_rotated_${hex()}`,
  envFailing: `env_${hex()}`,
  envInternal: `env_internal_${hex()}`,
  nulPrefix: `nul_${hex()}`,
  refused: `refused_${hex()}`,
};
const cookie = `sid=${secrets.cookieSession}; csrf=${secrets.cookieCsrf}`;
const basic = Buffer.from(`${secrets.basicUser}:${secrets.basicPassword}`).toString("base64");

/** What must not be found: each secret, some of its encodings, and deployment secrets. */
function needles(token: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [name, value] of Object.entries({
    ...secrets,
    basicHeader: basic,
    jwtSecret: JWT_SECRET,
    serviceToken: SERVICE_TOKEN,
    processOnly: PROCESS_ONLY,
    encryptionKey: TEST_CONFIG_ENCRYPTION_KEY.split(":")[1]!,
    tenantToken: token.split(".")[2]!,
  })) {
    found[name] = value;
    if (name !== "encryptionKey" && name !== "tenantToken" && name !== "basicHeader") {
      found[`${name} in base64`] = Buffer.from(value).toString("base64");
      found[`${name} in base64url`] = Buffer.from(value).toString("base64url");
      found[`${name} in hex`] = Buffer.from(value).toString("hex");
    }
  }
  return found;
}

/** `<secret> in <where>` for each secret found in the text. */
function secretsIn(where: string, text: string, all: Record<string, string>): string[] {
  return Object.entries(all)
    .filter(([, value]) => text.includes(value))
    .map(([name]) => `${name} in ${where}`);
}

/** Every row of every table of the database, as text, by table. */
async function everyRow(database: TestDatabase): Promise<Map<string, string>> {
  const { rows: tables } = await database.pool.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg_toast%'`,
  );
  const text = new Map<string, string>();
  for (const { name } of tables) {
    const { rows } = await database.pool.query<{ row: string }>(
      `SELECT t::text AS row FROM ${name} t`,
    );
    text.set(name, rows.map((r) => r.row).join("\n"));
  }
  return text;
}

/** Every key under the test's prefix, whatever its type, with its whole value. */
async function everyKey(testRedis: TestRedis): Promise<Map<string, string>> {
  const redis = testRedis.redis;
  const dump = new Map<string, string>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${testRedis.prefix}:*`, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let value: unknown;
      if (type === "string") value = await redis.getBuffer(key).then((b) => b?.toString("latin1"));
      else if (type === "hash") value = await redis.hgetall(key);
      else if (type === "list") value = await redis.lrange(key, 0, -1);
      else if (type === "set") value = await redis.smembers(key);
      else if (type === "zset") value = await redis.zrange(key, 0, -1, "WITHSCORES");
      else if (type === "stream") value = await redis.xrange(key, "-", "+");
      else throw new Error(`key ${key} has a type the sweep cannot read: ${type}`);
      dump.set(`${type} ${key}`, JSON.stringify(value));
    }
  } while (cursor !== "0");
  return dump;
}

describe("secrets after a full run", () => {
  const processes: RunningProcess[] = [];
  let workdirRoot = "";
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
    if (workdirRoot) await rm(workdirRoot, { recursive: true, force: true });
  });

  test("are nowhere in PostgreSQL, Redis, the logs or the API's answers", async ({
    database,
    testRedis,
  }) => {
    // A target that answers with the request's headers: secrets come back in the body.
    const received: Record<string, string | string[] | undefined>[] = [];
    const target = createServer((req, res) => {
      received.push(req.headers);
      const status = req.url?.startsWith("/fail") ? 503 : 200;
      res.writeHead(status, { "content-type": "application/json" });
      // As many services do, the cookies parsed: each value on its own.
      const cookies = Object.fromEntries(
        (req.headers.cookie ?? "").split("; ").map((pair) => pair.split("=")),
      );
      res.end(JSON.stringify({ youSent: req.headers, cookies }));
    });
    target.listen(0, "127.0.0.1");
    await once(target, "listening");
    const targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}`;

    const port = await freePort();
    workdirRoot = `/tmp/scheduler-e2e-sweep-${testRedis.prefix}`;
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: testRedis.url,
      REDIS_KEY_PREFIX: testRedis.prefix,
      JWT_SECRET,
      INTERNAL_SERVICE_TOKEN: SERVICE_TOKEN,
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
      HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
      FUNCTIONS_DIR: TEST_FUNCTIONS_DIR,
      COMMAND_JOB_ALLOWED: "sh,printenv",
      COMMAND_JOB_WORKDIR_ROOT: workdirRoot,
      PORT: String(port),
      HOST: "127.0.0.1",
      // The most a deployment would log: every debug line is swept too.
      LOG_LEVEL: "debug",
      NODE_ENV: "test",
      SCHEDULER_TICK_MS: "200",
      SCHEDULER_LOCK_TTL_MS: "3000",
      WORKER_HEARTBEAT_MS: "500",
      WORKER_CONCURRENCY: "4",
      DATABASE_POOL_SIZE: "4",
      SCHEDULER_PROCESS_ONLY_SECRET: PROCESS_ONLY,
    };
    // Everything each process writes, whole (processes.ts keeps only a tail).
    const logs = new Map<string, string[]>();
    for (const name of ["api", "scheduler", "worker"] as const) {
      const p = startApp(name, env);
      processes.push(p);
      const chunks: string[] = [];
      logs.set(name, chunks);
      p.child.stdout?.on("data", (c: Buffer) => chunks.push(c.toString()));
      p.child.stderr?.on("data", (c: Buffer) => chunks.push(c.toString()));
    }
    const logText = () => [...logs.values()].map((c) => c.join("")).join("\n");
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok,
      { timeoutMs: 60_000, what: `api health\n${logText().slice(-3000)}` },
    );
    await waitFor(
      async () => (await testRedis.redis.zcard(redisKeys(testRedis.prefix).workersIndex)) > 0,
      { timeoutMs: 60_000, what: `a worker heartbeat\n${logText().slice(-3000)}` },
    );

    const tenantId = randomUUID();
    const token = signTestJwt(
      { sub: randomUUID(), tenantId, permissions: ["scheduler:admin"] },
      JWT_SECRET,
    );
    const answers: string[] = [];
    const call = async (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = { authorization: `Bearer ${token}` },
    ) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      answers.push(`${method} ${path} → ${res.status} ${text}`);
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };
    const api = "/api/v1/scheduler";
    const service = { "x-service-token": SERVICE_TOKEN };
    const yearly = "0 0 0 1 1 *";

    // Every second, with three secret headers; later updated with '******' kept and one changed.
    const scheduled = await call("POST", `${api}/jobs`, {
      name: "every-second-with-secrets",
      cronExpression: "* * * * * *",
      jobType: "http",
      config: {
        url: `${targetUrl}/echo`,
        method: "POST",
        headers: {
          Authorization: `Bearer ${secrets.bearer}`,
          "X-Api-Key": secrets.apiKey,
          Cookie: cookie,
        },
        body: { hello: "world" },
      },
    });
    expect(scheduled.status).toBe(201);
    // Basic auth against a failing target, retried once.
    const failing = await call("POST", `${api}/jobs`, {
      name: "failing-basic",
      cronExpression: yearly,
      jobType: "http",
      config: {
        url: `${targetUrl}/fail`,
        method: "GET",
        headers: { Authorization: `Basic ${basic}` },
      },
      retryConfig: { maxRetries: 1, retryDelayMs: 0, exponentialBackoff: false },
    });
    expect(failing.status).toBe(201);
    // A command printing its secret to stdout and stderr, then failing.
    const command = await call("POST", `${api}/jobs`, {
      name: "command-env",
      cronExpression: yearly,
      jobType: "command",
      config: {
        command: "sh",
        args: ["-c", 'echo "token=$TOKEN"; echo "stderr $TOKEN" >&2; exit 3'],
        environment: { TOKEN: secrets.envFailing },
      },
    });
    expect(command.status).toBe(201);
    // Through the internal API: printenv, which shows the whole environment it got.
    const internal = await call(
      "POST",
      "/internal/jobs/create",
      {
        name: "internal-printenv",
        cronExpression: yearly,
        jobType: "command",
        config: { command: "printenv", environment: { INTERNAL_TOKEN: secrets.envInternal } },
        tenantId,
        createdBy: randomUUID(),
      },
      service,
    );
    expect(internal.status).toBe(201);
    // A function that returns all of process.env it sees.
    const fn = await call("POST", `${api}/jobs`, {
      name: "function-env",
      cronExpression: yearly,
      jobType: "function",
      config: { modulePath: "envValues", functionName: "values" },
    });
    expect(fn.status).toBe(201);
    // A value spawn() cannot take (a NUL byte) must be refused, not leak through an error.
    const nul = await call("POST", `${api}/jobs`, {
      name: "command-nul",
      cronExpression: yearly,
      jobType: "command",
      config: { command: "printenv", environment: { T: `${secrets.nulPrefix}\u0000tail` } },
    });
    expect(nul.status).toBe(400);
    // Refused and validated definitions: their answers do not echo the secrets sent.
    const withSecrets = (overrides: Record<string, unknown>) => ({
      name: "refused",
      cronExpression: yearly,
      jobType: "http",
      config: {
        url: `${targetUrl}/echo`,
        method: "GET",
        headers: { Authorization: `Bearer ${secrets.refused}`, "X-Api-Key": secrets.refused },
      },
      ...overrides,
    });
    for (const [path, body] of [
      [`${api}/jobs`, withSecrets({ cronExpression: "0 0 30 2 *" })],
      [`${api}/jobs`, withSecrets({ timezone: "Mars/Olympus" })],
      [`${api}/jobs/validate`, withSecrets({})],
      [`${api}/jobs/validate`, withSecrets({ cronExpression: "nope" })],
      [
        `${api}/jobs`,
        {
          ...withSecrets({}),
          jobType: "command",
          config: { command: "sh", environment: { "BAD-NAME": secrets.refused } },
        },
      ],
    ] as const) {
      expect((await call("POST", path, body)).status, path).toBeLessThan(500);
    }

    expect((await call("POST", `${api}/jobs/${failing.json.id}/trigger`)).status).toBe(202);
    expect((await call("POST", `${api}/jobs/${command.json.id}/trigger`)).status).toBe(202);
    expect((await call("POST", `${api}/jobs/${fn.json.id}/trigger`)).status).toBe(202);
    const internalRun = await call(
      "POST",
      `/internal/jobs/${internal.json.id}/trigger`,
      { tenantId },
      service,
    );
    expect(internalRun.status).toBe(202);

    const executionsOf = async (jobId: string) =>
      (await call("GET", `${api}/jobs/${jobId}/executions?limit=200`)).json.data as {
        id: string;
        status: string;
        result: unknown;
        errorMessage: string | null;
      }[];
    const ended = (rows: { status: string }[], n: number) =>
      rows.filter((e) => ["completed", "failed"].includes(e.status)).length >= n;
    await waitFor(async () => ended(await executionsOf(scheduled.json.id), 2), {
      timeoutMs: 30_000,
      what: `two scheduled runs\n${logText().slice(-3000)}`,
    });
    const update = await call("PUT", `${api}/jobs/${scheduled.json.id}`, {
      config: {
        url: `${targetUrl}/echo`,
        method: "POST",
        headers: {
          Authorization: `Bearer ${secrets.rotated}`,
          "X-Api-Key": "******",
          Cookie: "******",
        },
        body: { hello: "again" },
      },
    });
    expect(update.status).toBe(200);
    await waitFor(() => received.some((h) => h.authorization === `Bearer ${secrets.rotated}`), {
      timeoutMs: 15_000,
      what: "a run with the rotated secret",
    });
    expect((await call("POST", `${api}/jobs/${scheduled.json.id}/stop`)).status).toBe(200);
    for (const job of [failing.json, command.json, internal.json, fn.json]) {
      await waitFor(async () => ended(await executionsOf(job.id), 1), {
        timeoutMs: 30_000,
        what: `a run of ${job.name}\n${logText().slice(-3000)}`,
      });
    }
    await waitFor(
      async () => (await executionsOf(scheduled.json.id)).every((e) => e.status !== "running"),
      { timeoutMs: 15_000, what: "the scheduled job to go quiet" },
    );

    // The jobs really carried their secrets, and the outputs really held them.
    expect(received.some((h) => h.authorization === `Bearer ${secrets.bearer}`)).toBe(true);
    expect(received.some((h) => h["x-api-key"] === secrets.apiKey && h.cookie === cookie)).toBe(
      true,
    );
    expect(received.some((h) => h.authorization === `Basic ${basic}`)).toBe(true);
    const [commandRun] = await executionsOf(command.json.id);
    expect(commandRun).toMatchObject({ status: "failed" });
    expect(JSON.stringify(commandRun!.result)).toContain("token=******");
    const [internalRunRow] = await executionsOf(internal.json.id);
    expect(JSON.stringify(internalRunRow!.result)).toContain("INTERNAL_TOKEN=******");
    const [fnRun] = await executionsOf(fn.json.id);
    expect(fnRun).toMatchObject({ status: "completed", result: { success: true, result: {} } });

    // Every read a tenant or a service could make, after the run.
    for (const path of [
      `${api}/jobs?limit=200`,
      `${api}/executions?limit=200`,
      `${api}/executions/stats?from=2000-01-01T00:00:00Z`,
      `${api}/audit?limit=200`,
      `${api}/status`,
      `${api}/metrics`,
      `${api}/queues`,
      `${api}/workers`,
    ]) {
      expect((await call("GET", path)).status, path).toBe(200);
    }
    for (const job of [scheduled.json, failing.json, command.json, internal.json, fn.json]) {
      await call("GET", `${api}/jobs/${job.id}`);
      await call("POST", `${api}/jobs/${job.id}/validate`);
      await call("GET", `/internal/jobs/${job.id}/status?tenantId=${tenantId}`, undefined, service);
      for (const e of await executionsOf(job.id)) await call("GET", `${api}/executions/${e.id}`);
    }
    const audit = await call("GET", `${api}/audit?targetId=${scheduled.json.id}`);
    expect(audit.json.data.map((e: { action: string }) => e.action)).toContain("job.update");

    await Promise.all(processes.map((p) => stopApp(p)));
    target.close();

    const all = needles(token);
    const rows = await everyRow(database);
    // Partitioned tables are read through their partitions: each one holds rows.
    for (const table of ["audit_events", "job_executions", "scheduled_jobs"]) {
      const holding = [...rows].filter(([name, text]) => name.includes(table) && text.length > 0);
      expect(holding.length, `rows of ${table} read`).toBeGreaterThan(0);
    }
    expect([...rows.values()].some((text) => text.includes("token=******"))).toBe(true);
    const found: string[] = [];
    for (const [table, text] of rows)
      found.push(...secretsIn(`PostgreSQL table ${table}`, text, all));
    const keys = await everyKey(testRedis);
    expect(keys.size).toBeGreaterThan(0);
    for (const [key, text] of keys) found.push(...secretsIn(`Redis ${key}`, text, all));
    for (const [name, chunks] of logs) {
      const text = chunks.join("");
      expect(text.length, `${name} logged`).toBeGreaterThan(0);
      found.push(...secretsIn(`the ${name} process's log`, text, all));
    }
    for (const answer of answers)
      found.push(...secretsIn(`the answer ${answer.slice(0, 80)}`, answer, all));
    expect(found).toEqual([]);
  }, 120_000);
});
