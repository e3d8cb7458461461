import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { redisKeys } from "@scheduler/core";
import { jobExecutions } from "@scheduler/db";
import { type RunningProcess, stopApp, test, waitFor } from "@scheduler/testkit";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect } from "vitest";
import {
  enqueue,
  executionQueue,
  readExecution,
  seedExecution,
  startTarget,
  startWorker,
  waitForStatus,
} from "./workerHarness.js";

const TERMINAL = ["completed", "failed", "cancelled", "skipped"];
const started: RunningProcess[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => stopApp(p)));
});

describe("worker process life: kill -9 and SIGTERM", { timeout: 90_000 }, () => {
  test("delivers an execution again after its worker is killed with -9, and the re-run ends it", async ({
    database,
    testRedis,
  }) => {
    // The first attempt hangs (its worker dies holding it); a later one is answered.
    const target = await startTarget((hit, res) => {
      if (hit.attempt > 1) res.end("ok");
    });
    const queue = executionQueue(testRedis);
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/once`, method: "GET" },
      });
      const first = await startWorker(database, testRedis);
      started.push(first);
      await enqueue(queue, execution);
      await waitFor(() => target.hitsOf(execution.executionId).length === 1, { what: "attempt 1" });
      const exited = once(first.child, "exit");
      first.child.kill("SIGKILL");
      await exited;
      expect((await waitForStatus(database.db, execution.id, ["running"])).status).toBe("running");

      const second = await startWorker(database, testRedis, { WORKER_ID: "w-second" });
      started.push(second);
      const done = await waitForStatus(database.db, execution.id, TERMINAL, 30_000);
      expect(done, second.output()).toMatchObject({
        status: "completed",
        retryCount: 1,
        workerId: "w-second",
      });
      expect(target.hitsOf(execution.executionId).map((h) => h.attempt)).toEqual([1, 2]);
      const stuck = await database.db
        .select({ id: jobExecutions.id })
        .from(jobExecutions)
        .where(eq(jobExecutions.status, "running"));
      expect(stuck).toEqual([]);
    } finally {
      target.close();
      await queue.close();
    }
  });

  test("a worker paused past its queue lock: the attempt runs again elsewhere, and the paused run's late outcome is not written", async ({
    database,
    testRedis,
  }) => {
    // Both attempts are held open until the test answers them.
    const held = new Map<number, ServerResponse>();
    const target = await startTarget((hit, res) => held.set(hit.attempt, res));
    const queue = executionQueue(testRedis);
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/held`, method: "GET" },
      });
      const paused = await startWorker(database, testRedis, { WORKER_ID: "w-paused" });
      started.push(paused);
      await enqueue(queue, execution);
      await waitFor(() => held.has(1), { what: "attempt 1" });
      paused.child.kill("SIGSTOP");
      try {
        // Its 1 s queue lock lapses; the other worker's stalled check delivers it again.
        const other = await startWorker(database, testRedis, { WORKER_ID: "w-other" });
        started.push(other);
        await waitFor(() => held.has(2), {
          what: `attempt 2\n${other.output()}`,
          timeoutMs: 30_000,
        });
      } finally {
        paused.child.kill("SIGCONT");
      }
      // The paused run wakes and finishes first: its write must not end the execution.
      held.get(1)!.end("late");
      await waitFor(() => paused.output().includes('"msg":"execution finished"'), {
        what: `the paused run's end\n${paused.output()}`,
      });
      expect(paused.output()).toContain('"recorded":false');
      expect(await readExecution(database.db, execution.id)).toMatchObject({
        status: "running",
        retryCount: 1,
        workerId: "w-other",
      });
      held.get(2)!.end("ok");
      const done = await waitForStatus(database.db, execution.id, TERMINAL, 30_000);
      expect(done).toMatchObject({ status: "completed", retryCount: 1, workerId: "w-other" });
      // INV-3: hit 1 + retryCount times.
      expect(target.hitsOf(execution.executionId).map((h) => h.attempt)).toEqual([1, 2]);
    } finally {
      for (const res of held.values()) res.end();
      target.close();
      await queue.close();
    }
  });

  test("on SIGTERM lets a short execution finish and records a long one failed after the grace", async ({
    database,
    testRedis,
  }) => {
    const target = await startTarget((_hit, res, req) => {
      if (req.url === "/short") setTimeout(() => res.end("done"), 300);
    });
    const queue = executionQueue(testRedis);
    try {
      const worker = await startWorker(database, testRedis, {
        WORKER_ID: "w-draining",
        WORKER_SHUTDOWN_GRACE_MS: "1500",
      });
      started.push(worker);
      const short = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/short`, method: "GET" },
      });
      const long = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/long`, method: "GET" },
      });
      await enqueue(queue, short, long);
      await waitFor(() => target.hits.length === 2, { what: "both requests" });
      const exited = once(worker.child, "exit");
      worker.child.kill("SIGTERM");
      const [code] = await exited;
      expect(code, worker.output()).toBe(0);
      expect(await waitForStatus(database.db, short.id, TERMINAL)).toMatchObject({
        status: "completed",
      });
      expect(await waitForStatus(database.db, long.id, TERMINAL)).toMatchObject({
        status: "failed",
        errorType: "SYSTEM_ERROR",
        errorMessage: "worker shut down before the execution finished",
      });
      const keys = redisKeys(testRedis.prefix);
      // A worker that stopped cleanly is no longer listed.
      expect(await testRedis.redis.exists(keys.workerHeartbeat("w-draining"))).toBe(0);
      expect(await testRedis.redis.zscore(keys.workersIndex, "w-draining")).toBeNull();
    } finally {
      target.close();
      await queue.close();
    }
  });
});
