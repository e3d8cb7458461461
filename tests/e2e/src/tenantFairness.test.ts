import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer, type ServerResponse } from "node:http";
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
/** The worker's running slots. */
const SLOTS = 4;

interface Execution {
  scheduledAt: string;
  startedAt: string | null;
}

/** A target that holds every /hold request until released, and answers /quick at once. */
async function startTarget() {
  const held = new Set<ServerResponse>();
  let mostHeld = 0;
  const server = createServer((req, res) => {
    if (req.url === "/hold") {
      held.add(res);
      mostHeld = Math.max(mostHeld, held.size);
      res.on("close", () => held.delete(res));
      return;
    }
    res.writeHead(200).end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  const release = (count: number) => {
    for (const res of [...held].slice(0, count)) {
      held.delete(res);
      res.writeHead(200).end("done");
    }
  };
  return {
    server,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    held: () => held.size,
    mostHeld: () => mostHeld,
    release,
  };
}

describe("tenant fairness over real processes", () => {
  const processes: RunningProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
  });

  test("while A's long runs hold every slot B starts within a second of its slots; with B idle A takes every slot again", async ({
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
      WORKER_CONCURRENCY: String(SLOTS),
      // One queue slot of headroom, none of it overflow: A runs on exactly SLOTS.
      TENANT_FAIRNESS: "true",
      WORKER_FAIR_HEADROOM: "1",
    };
    for (const name of ["api", "scheduler", "worker"] as const) processes.push(startApp(name, env));
    const diagnostics = () => processes.map((p) => `--- ${p.name}\n${p.output()}`).join("\n");
    const base = `http://127.0.0.1:${port}/api/v1/scheduler`;
    const headersOf = (tenantId: string) => ({
      authorization: `Bearer ${signTestJwt(
        { sub: randomUUID(), tenantId, permissions: ["jobs:read", "jobs:write", "jobs:execute"] },
        JWT_SECRET,
      )}`,
      "content-type": "application/json",
    });
    const a = headersOf(randomUUID());
    const b = headersOf(randomUUID());
    const createJob = async (headers: Record<string, string>, body: object) => {
      const res = await fetch(`${base}/jobs`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    try {
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok,
        {
          timeoutMs: 30_000,
          what: "api health",
        },
      );
      // A: twice as many long runs as there are slots.
      const long = await createJob(a, {
        name: "long",
        cronExpression: "0 0 1 1 *",
        jobType: "http",
        maxConcurrent: 1000,
        timeout: 120,
        config: { url: target.url("/hold"), method: "GET", timeout: 120_000 },
      });
      for (let i = 0; i < 2 * SLOTS; i++) {
        const res = await fetch(`${base}/jobs/${long}/trigger`, { method: "POST", headers: a });
        expect(res.status).toBe(202);
      }
      // Generous: on a loaded machine three processes start and take their first jobs slowly.
      await waitFor(() => target.held() === SLOTS, { timeoutMs: 45_000, what: "A on every slot" });

      // B: an every-second job, while A holds every slot and has as many waiting.
      const quick = await createJob(b, {
        name: "quick",
        cronExpression: "* * * * * *",
        jobType: "http",
        config: { url: target.url("/quick"), method: "GET" },
      });
      const started = await waitFor(
        async () => {
          const res = await fetch(`${base}/jobs/${quick}/executions?status=completed`, {
            headers: b,
          });
          const list = ((await res.json()) as { data: Execution[] }).data;
          return list.length >= 3 ? list : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200, what: "3 of B's executions done" },
      );
      for (const e of started) {
        expect(Date.parse(e.startedAt!) - Date.parse(e.scheduledAt)).toBeLessThan(1000);
      }
      // A waited: none of its waiting runs took B's place.
      expect(target.mostHeld()).toBe(SLOTS);

      // B idle: as A's runs end, its waiting ones fill every slot again.
      const paused = await fetch(`${base}/jobs/${quick}/pause`, { method: "POST", headers: b });
      expect(paused.status).toBe(200);
      target.release(SLOTS);
      await waitFor(() => target.held() === SLOTS, {
        timeoutMs: 20_000,
        what: "A's waiting runs on every slot",
      });
      target.release(SLOTS);
      const done = await waitFor(
        async () => {
          const res = await fetch(`${base}/jobs/${long}/executions?status=completed`, {
            headers: a,
          });
          const list = ((await res.json()) as { data: Execution[] }).data;
          return list.length === 2 * SLOTS ? list : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 200, what: "all of A's runs done" },
      );
      expect(done).toHaveLength(2 * SLOTS);
      expect(target.mostHeld()).toBe(SLOTS);
    } catch (error) {
      (error as Error).message +=
        `\nheld now ${target.held()}, most held ${target.mostHeld()}\n${diagnostics()}`;
      throw error;
    } finally {
      target.release(target.held());
      await Promise.all(processes.map((p) => stopApp(p)));
      target.server.close();
    }
  }, 180_000);
});
