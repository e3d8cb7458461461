import type { ExecutionMessage } from "@scheduler/core";
import { cancelExecution } from "@scheduler/db";
import {
  membersOfGroups,
  processGroupsOf,
  type RunningProcess,
  stopApp,
  test,
  waitFor,
} from "@scheduler/testkit";
import type { Queue } from "bullmq";
import { describe, expect } from "vitest";
import {
  cancelAsTheApiDoes,
  enqueue,
  executionQueue,
  readExecution,
  seedExecution,
  startTarget,
  startWorker,
  threadCount,
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

/** Waits until the worker has logged the end of this execution; returns that log line. */
async function finishedLine(worker: RunningProcess, executionRowId: string): Promise<string> {
  return waitFor(
    () =>
      worker
        .output()
        .split("\n")
        .find((line) => line.includes(executionRowId) && line.includes('"execution finished"')),
    { timeoutMs: 10_000, what: `the worker to finish ${executionRowId}` },
  );
}

describe("cancel, worker side (worker process)", { timeout: 60_000 }, () => {
  it("aborts a running HTTP request within 5 s; the execution stays cancelled", async ({
    database,
    testRedis,
    queue,
    worker,
  }) => {
    let abortedAt = 0;
    const target = await startTarget((_hit, res, req) => {
      req.on("close", () => {
        if (!res.writableEnded) abortedAt = Date.now();
      });
    });
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/hangs`, method: "GET" },
      });
      await enqueue(queue, execution);
      await waitFor(() => target.hitsOf(execution.executionId).length === 1, {
        what: "the request",
      });
      const cancelledAt = Date.now();
      await cancelAsTheApiDoes(database.db, testRedis, execution);
      await waitFor(() => abortedAt > 0, { timeoutMs: 5000, what: "the request to be aborted" });
      expect(abortedAt - cancelledAt).toBeLessThan(5000);
      expect(await finishedLine(worker, execution.id)).toContain('"recorded":false');
      const row = await readExecution(database.db, execution.id);
      expect(row).toMatchObject({ status: "cancelled", errorType: "CANCELLED" });
    } finally {
      target.close();
    }
  });

  it("kills a command's whole process group on cancel, a child ignoring SIGTERM included", async ({
    database,
    testRedis,
    queue,
    worker,
  }) => {
    const execution = await seedExecution(database.db, {
      jobType: "command",
      config: { command: "sh", args: ["-c", "trap '' TERM; sleep 300 & sleep 300"] },
    });
    await enqueue(queue, execution);
    const groups = await waitFor(
      async () => {
        const found = await processGroupsOf(execution.executionId);
        return (await membersOfGroups(found)).length >= 3 ? found : undefined;
      },
      { timeoutMs: 10_000, what: "sh and its two sleeps" },
    );
    await cancelAsTheApiDoes(database.db, testRedis, execution);
    await waitFor(async () => (await membersOfGroups(groups)).length === 0, {
      timeoutMs: 5000,
      what: "no process left in the command's group",
    });
    expect(await finishedLine(worker, execution.id)).toContain('"recorded":false');
    expect((await readExecution(database.db, execution.id)).status).toBe("cancelled");
  });

  it("terminates a cancelled function's thread", async ({ database, testRedis, queue, worker }) => {
    const pid = worker.child.pid!;
    const baseline = await threadCount(pid);
    const execution = await seedExecution(database.db, {
      jobType: "function",
      config: { modulePath: "spin.mjs", functionName: "forever" },
    });
    await enqueue(queue, execution);
    await waitForStatus(database.db, execution.id, ["running"]);
    await waitFor(async () => (await threadCount(pid)) > baseline, { what: "the function thread" });
    await cancelAsTheApiDoes(database.db, testRedis, execution);
    await waitFor(async () => (await threadCount(pid)) <= baseline, {
      timeoutMs: 5000,
      what: "the function's thread to be gone",
    });
    expect((await readExecution(database.db, execution.id)).status).toBe("cancelled");
  });

  it("keeps a cancel that lands before the worker's terminal write", async ({
    database,
    queue,
    worker,
  }) => {
    let execution: Awaited<ReturnType<typeof seedExecution>> | undefined;
    // The target answers 200 only after the execution was cancelled, with no signal sent.
    const target = await startTarget((_hit, res) => {
      void cancelExecution(database.db, execution!.tenantId, execution!.id).then(() =>
        res.end("ok"),
      );
    });
    try {
      execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/late`, method: "GET" },
      });
      await enqueue(queue, execution);
      expect(await finishedLine(worker, execution.id)).toContain('"status":"completed"');
      expect(await finishedLine(worker, execution.id)).toContain('"recorded":false');
      const row = await readExecution(database.db, execution.id);
      expect(row).toMatchObject({ status: "cancelled", errorType: "CANCELLED", result: null });
    } finally {
      target.close();
    }
  });

  it("does not run an execution cancelled before a worker takes it", async ({
    database,
    testRedis,
    queue,
    worker,
  }) => {
    const target = await startTarget((_hit, res) => res.end("ok"));
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/never`, method: "GET" },
      });
      await cancelAsTheApiDoes(database.db, testRedis, execution);
      await enqueue(queue, execution);
      await waitFor(() => worker.output().includes(`"executionRowId":"${execution.id}"`), {
        what: "the worker to take the queue job",
      });
      expect(worker.output()).toContain("execution already ended; not run");
      expect(target.hitsOf(execution.executionId)).toHaveLength(0);
    } finally {
      target.close();
    }
  });
});
