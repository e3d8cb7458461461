import { once } from "node:events";
import { queueJobId } from "@scheduler/core";
import type { ExecutionRow } from "@scheduler/db";
import { type RunningProcess, stopApp, test, waitFor } from "@scheduler/testkit";
import type { Queue } from "bullmq";
import { afterEach, describe, expect } from "vitest";
import {
  cancelAsTheApiDoes,
  enqueue,
  executionQueue,
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

/** Waits until the execution's queue job waits for its retry (delayed in the queue). */
async function waitForBackoff(queue: Queue, execution: ExecutionRow): Promise<void> {
  await waitFor(
    async () => (await queue.getJobState(queueJobId(execution.executionId))) === "delayed",
    { what: `queue job of ${execution.executionId} delayed for its retry` },
  );
}

/** Answers 503 to the first `failures` attempts of each execution, then 200. */
function failingTarget(failures: number) {
  return startTarget((hit, res) => {
    res.writeHead(hit.attempt <= failures ? 503 : 200).end(`attempt ${hit.attempt}`);
  });
}

describe("retry backoff outside the worker (worker processes, local HTTP target)", {
  timeout: 90_000,
}, () => {
  test.for([{ signal: "SIGTERM" as const }, { signal: "SIGKILL" as const }])(
    "a worker stopped with $signal during a backoff: the retry runs on another worker when due, counted once",
    async ({ signal }, { database, testRedis }) => {
      const target = await failingTarget(1);
      const queue = executionQueue(testRedis);
      try {
        const retryDelayMs = 6000;
        const execution = await seedExecution(database.db, {
          jobType: "http",
          config: { url: `${target.url}/flaky`, method: "GET" },
          retryConfig: { maxRetries: 2, retryDelayMs, exponentialBackoff: false },
        });
        const first = await startWorker(database, testRedis, { WORKER_ID: "w-first" });
        started.push(first);
        await enqueue(queue, execution);
        await waitForBackoff(queue, execution);
        // As in a rolling deploy: the new worker is up, then the old one is stopped.
        const second = await startWorker(database, testRedis, { WORKER_ID: "w-second" });
        started.push(second);
        const exited = once(first.child, "exit");
        first.child.kill(signal);
        await exited;
        const stoppedAt = Date.now();
        const done = await waitForStatus(database.db, execution.id, TERMINAL, 30_000);
        expect(done, `${first.output()}\n${second.output()}`).toMatchObject({
          status: "completed",
          retryCount: 1,
          workerId: "w-second",
        });
        const hits = target.hitsOf(execution.executionId);
        expect(hits.map((h) => h.attempt)).toEqual([1, 2]);
        // The first worker did not sit out the backoff before it stopped.
        expect(stoppedAt).toBeLessThan(hits[0]!.at + retryDelayMs);
        // On time: when due, give or take a delayed queue job's promotion and a claim.
        expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(retryDelayMs);
        expect(hits[1]!.at - hits[0]!.at).toBeLessThan(retryDelayMs + 2000);
      } finally {
        target.close();
        await queue.close();
      }
    },
  );

  test("a cancel during the backoff ends the execution cancelled, and it is not run again", async ({
    database,
    testRedis,
  }) => {
    const target = await failingTarget(10);
    const queue = executionQueue(testRedis);
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/down`, method: "GET" },
        retryConfig: { maxRetries: 3, retryDelayMs: 1500, exponentialBackoff: false },
      });
      const worker = await startWorker(database, testRedis);
      started.push(worker);
      await enqueue(queue, execution);
      await waitForBackoff(queue, execution);
      await cancelAsTheApiDoes(database.db, testRedis, execution);
      // The retry's delivery finds the execution ended and acknowledges its queue job.
      await waitFor(
        async () => (await queue.getJobState(queueJobId(execution.executionId))) === "completed",
        { timeoutMs: 20_000, what: "the delayed retry delivered and dropped" },
      );
      const done = await waitForStatus(database.db, execution.id, TERMINAL);
      expect(done, worker.output()).toMatchObject({
        status: "cancelled",
        errorType: "CANCELLED",
        retryCount: 0,
      });
      expect(target.hitsOf(execution.executionId)).toHaveLength(1);
    } finally {
      target.close();
      await queue.close();
    }
  });

  test("a backoff holds no concurrency slot: a one-slot worker runs other executions meanwhile", async ({
    database,
    testRedis,
  }) => {
    const target = await failingTarget(1);
    const queue = executionQueue(testRedis);
    try {
      const waiting = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/flaky`, method: "GET" },
        retryConfig: { maxRetries: 1, retryDelayMs: 60_000, exponentialBackoff: false },
      });
      const other = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/flaky`, method: "GET" },
        retryConfig: { maxRetries: 1, retryDelayMs: 0, exponentialBackoff: false },
      });
      const worker = await startWorker(database, testRedis, { WORKER_CONCURRENCY: "1" });
      started.push(worker);
      await enqueue(queue, waiting);
      await waitForBackoff(queue, waiting);
      await enqueue(queue, other);
      const done = await waitForStatus(database.db, other.id, TERMINAL);
      expect(done, worker.output()).toMatchObject({ status: "completed", retryCount: 1 });
      expect(await waitForStatus(database.db, waiting.id, ["running"])).toMatchObject({
        retryCount: 0,
      });
    } finally {
      target.close();
      await queue.close();
    }
  });
});
