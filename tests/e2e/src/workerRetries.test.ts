import type { ExecutionMessage } from "@scheduler/core";
import { type RunningProcess, stopApp, test } from "@scheduler/testkit";
import type { Queue } from "bullmq";
import { describe, expect } from "vitest";
import {
  addExecution,
  enqueue,
  executionQueue,
  seedExecution,
  startTarget,
  startWorker,
  waitForStatus,
} from "./workerHarness.js";

const it = test.extend<{ $file: { worker: RunningProcess; queue: Queue<ExecutionMessage> } }>({
  worker: [
    async ({ database, testRedis }, use) => {
      const worker = await startWorker(database, testRedis);
      await use(worker);
      await stopApp(worker);
    },
    { scope: "file" },
  ],
  // Depends on the worker, so that any test enqueueing has a worker taking the work.
  queue: [
    async ({ testRedis, worker: _worker }, use) => {
      const queue = executionQueue(testRedis);
      await use(queue);
      await queue.close();
    },
    { scope: "file" },
  ],
});

/** Fails the first `failures` requests of each execution with `status`, then answers 200. */
function failingTarget(failures: number, status: number) {
  return startTarget((hit, res) => {
    res.writeHead(hit.attempt <= failures ? status : 200).end(`attempt ${hit.attempt}`);
  });
}

describe("worker retries and timeouts (worker process, local HTTP target)", {
  timeout: 60_000,
}, () => {
  it("retries a target failing twice with exponential backoff, then records completed with retryCount 2", async ({
    database,
    queue,
    worker,
  }) => {
    const target = await failingTarget(2, 503);
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/flaky`, method: "GET" },
        retryConfig: { maxRetries: 3, retryDelayMs: 300, exponentialBackoff: true },
      });
      await enqueue(queue, execution);
      const done = await waitForStatus(database.db, execution.id, ["completed", "failed"]);
      expect(done, worker.output()).toMatchObject({
        status: "completed",
        retryCount: 2,
        result: { success: true, metadata: { statusCode: 200 } },
      });
      const hits = target.hitsOf(execution.executionId);
      expect(hits.map((h) => h.attempt)).toEqual([1, 2, 3]);
      // Delay before retry n is 300 × 2^(n−1): 300 ms, then 600 ms.
      expect(hits[1]!.at - hits[0]!.at).toBeGreaterThanOrEqual(300);
      expect(hits[2]!.at - hits[1]!.at).toBeGreaterThanOrEqual(600);
      expect(done.workerId).toMatch(/^w-/);
      expect(done.durationMs).toBeGreaterThanOrEqual(900);
    } finally {
      target.close();
    }
  });

  it("fails an attempt that exceeds the job's timeout with TIMEOUT", async ({
    database,
    queue,
  }) => {
    const target = await startTarget(() => {
      // never answers
    });
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/hangs`, method: "GET" },
        timeoutSeconds: 1,
      });
      await enqueue(queue, execution);
      const done = await waitForStatus(database.db, execution.id, ["completed", "failed"]);
      expect(done).toMatchObject({ status: "failed", errorType: "TIMEOUT", retryCount: 0 });
      expect(done.errorMessage).toBe("attempt exceeded the job's timeout of 1 s");
      expect(done.durationMs).toBeGreaterThanOrEqual(1000);
      expect(done.durationMs).toBeLessThan(5000);
    } finally {
      target.close();
    }
  });

  it("gives each retry of a timed-out attempt the full timeout again", async ({
    database,
    queue,
  }) => {
    const target = await startTarget(() => {
      // never answers
    });
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/hangs`, method: "GET" },
        timeoutSeconds: 1,
        retryConfig: { maxRetries: 1, retryDelayMs: 0, exponentialBackoff: false },
      });
      await enqueue(queue, execution);
      const done = await waitForStatus(database.db, execution.id, ["completed", "failed"]);
      expect(done).toMatchObject({ status: "failed", errorType: "TIMEOUT", retryCount: 1 });
      expect(target.hitsOf(execution.executionId)).toHaveLength(2);
      expect(done.durationMs).toBeGreaterThanOrEqual(2000);
    } finally {
      target.close();
    }
  });

  it("does not retry an unexpected 404", async ({ database, queue }) => {
    const target = await failingTarget(10, 404);
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/missing`, method: "GET" },
        retryConfig: { maxRetries: 3, retryDelayMs: 0, exponentialBackoff: false },
      });
      await enqueue(queue, execution);
      const done = await waitForStatus(database.db, execution.id, ["completed", "failed"]);
      expect(done).toMatchObject({
        status: "failed",
        errorType: "USER_ERROR",
        retryCount: 0,
        result: { success: false, metadata: { statusCode: 404 } },
      });
      expect(target.hitsOf(execution.executionId)).toHaveLength(1);
    } finally {
      target.close();
    }
  });

  it("skips an execution while its job has maxConcurrent executions running", async ({
    database,
    queue,
  }) => {
    const target = await startTarget((_hit, res) => {
      setTimeout(() => res.end("slow"), 1500);
    });
    try {
      const first = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/slow`, method: "GET" },
        maxConcurrent: 1,
      });
      const second = await addExecution(database.db, first.jobId, first.tenantId);
      await enqueue(queue, first);
      await waitForStatus(database.db, first.id, ["running"]);
      await enqueue(queue, second);
      const skipped = await waitForStatus(database.db, second.id, [
        "skipped",
        "running",
        "completed",
      ]);
      expect(skipped.status).toBe("skipped");
      expect(skipped.errorMessage).toMatch(/1 running execution\(s\), its maxConcurrent is 1/);
      expect((await waitForStatus(database.db, first.id, ["completed"])).status).toBe("completed");
    } finally {
      target.close();
    }
  });
});
