import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import {
  freePort,
  type RunningProcess,
  signTestJwt,
  startApp,
  stopApp,
  TEST_CONFIG_ENCRYPTION_KEY,
  test,
  waitFor,
} from "@scheduler/testkit";
import { afterAll, describe, expect } from "vitest";

const JWT_SECRET = "e2e-secret-of-at-least-thirty-two-characters";

interface Execution {
  executionId: string;
  status: string;
  scheduledAt: string;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  result: { success: boolean; metadata?: { statusCode?: number } } | null;
}

/** A local HTTP target that answers 200 and counts hits per execution id. */
async function startTarget(): Promise<{ server: Server; url: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const id = String(req.headers["x-scheduler-execution-id"] ?? "none");
    hits.set(id, (hits.get(id) ?? 0) + 1);
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}/tick`, hits };
}

describe("api, scheduler and worker as separate processes", () => {
  const processes: RunningProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
  });

  test("fires an every-second job once per slot, on its second", async ({
    database,
    testRedis,
  }) => {
    const target = await startTarget();
    const port = await freePort();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: testRedis.url,
      REDIS_KEY_PREFIX: testRedis.prefix,
      JWT_SECRET,
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
      HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      NODE_ENV: "test",
      SCHEDULER_LOCK_TTL_MS: "3000",
    };
    for (const name of ["api", "scheduler", "worker"] as const) processes.push(startApp(name, env));
    const diagnostics = () => processes.map((p) => `--- ${p.name}\n${p.output()}`).join("\n");
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await fetch(`${base}/health`).catch(() => null))?.ok, {
        timeoutMs: 30_000,
        what: "api health",
      });

      const tenantId = randomUUID();
      const token = signTestJwt(
        { sub: randomUUID(), tenantId, permissions: ["jobs:read", "jobs:write"] },
        JWT_SECRET,
      );
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const created = await fetch(`${base}/api/v1/scheduler/jobs`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          name: "every-second",
          cronExpression: "* * * * * *",
          jobType: "http",
          config: { url: target.url, method: "GET" },
        }),
      });
      expect(created.status).toBe(201);
      const job = (await created.json()) as { id: string; nextExecutionAt: string };

      const completed = await waitFor(
        async () => {
          const res = await fetch(
            `${base}/api/v1/scheduler/jobs/${job.id}/executions?status=completed`,
            { headers },
          );
          const list = (await res.json()) as { data: Execution[] };
          return list.data.length >= 5 ? list.data : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: "5 completed executions" },
      );

      const slots = completed.map((e) => Date.parse(e.scheduledAt));
      expect(new Set(slots).size).toBe(slots.length);
      for (const e of completed) {
        const scheduledAt = Date.parse(e.scheduledAt);
        expect(scheduledAt % 1000).toBe(0);
        expect(e.executionId).toBe(`${job.id}:${scheduledAt}`);
        const lag = Date.parse(e.startedAt!) - scheduledAt;
        expect(lag).toBeGreaterThanOrEqual(0);
        expect(lag).toBeLessThan(1000);
        expect(e.result).toMatchObject({ success: true, metadata: { statusCode: 200 } });
        expect(e.durationMs).toBeGreaterThanOrEqual(0);
        expect(target.hits.get(e.executionId)).toBe(1);
      }

      const first = (await (
        await fetch(`${base}/api/v1/scheduler/jobs/${job.id}`, { headers })
      ).json()) as {
        nextExecutionAt: string;
        executionCount: number;
      };
      await waitFor(
        async () => {
          const again = (await (
            await fetch(`${base}/api/v1/scheduler/jobs/${job.id}`, { headers })
          ).json()) as {
            nextExecutionAt: string;
          };
          return Date.parse(again.nextExecutionAt) > Date.parse(first.nextExecutionAt);
        },
        { timeoutMs: 5000, what: "nextExecutionAt to move forward" },
      );
      expect(Date.parse(first.nextExecutionAt)).toBeGreaterThan(Date.parse(job.nextExecutionAt));
      expect(first.executionCount).toBeGreaterThanOrEqual(5);
    } catch (error) {
      (error as Error).message += `\n${diagnostics()}`;
      throw error;
    } finally {
      await Promise.all(processes.map((p) => stopApp(p)));
      target.server.close();
    }
  }, 90_000);
});
