import type { ExecutionMessage } from "@scheduler/core";
import { type RunningProcess, stopApp, test, waitFor } from "@scheduler/testkit";
import type { Queue } from "bullmq";
import { describe, expect } from "vitest";
import {
  enqueue,
  executionQueue,
  readExecution,
  seedExecution,
  startWorker,
  threadCount,
  WORKER_CANARY,
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

const TERMINAL = ["completed", "failed", "cancelled", "skipped"];

interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

describe("function and command isolation (worker process)", { timeout: 60_000 }, () => {
  it("gives a function an empty process.env and records its CPU and memory", async ({
    database,
    queue,
  }) => {
    const execution = await seedExecution(database.db, {
      jobType: "function",
      config: { modulePath: "env.mjs", functionName: "keys" },
    });
    await enqueue(queue, execution);
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done).toMatchObject({ status: "completed", result: { success: true, result: [] } });
    expect(done.memoryPeakMb).toBeGreaterThan(0);
    expect(done.cpuTimeMs).toBeGreaterThanOrEqual(0);
  });

  it("stops a function in an endless loop at its timeout, its thread terminated", async ({
    database,
    queue,
    worker,
  }) => {
    const pid = worker.child.pid!;
    const baseline = await threadCount(pid);
    const execution = await seedExecution(database.db, {
      jobType: "function",
      config: { modulePath: "spin.mjs", functionName: "forever" },
      timeoutSeconds: 1,
    });
    await enqueue(queue, execution);
    await waitFor(async () => (await threadCount(pid)) > baseline, { what: "the function thread" });
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done).toMatchObject({ status: "failed", errorType: "TIMEOUT" });
    expect(done.durationMs).toBeLessThan(5000);
    await waitFor(async () => (await threadCount(pid)) <= baseline, {
      timeoutMs: 3000,
      what: "the function's thread to be gone",
    });
  });

  it("gives a command none of the worker's environment variables", async ({ database, queue }) => {
    const execution = await seedExecution(database.db, {
      jobType: "command",
      config: { command: "env", environment: { GREETING: "hello there" } },
    });
    await enqueue(queue, execution);
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done.status).toBe("completed");
    const { stdout } = (done.result as { result: CommandResult }).result;
    const names = stdout
      .trim()
      .split("\n")
      .map((line) => line.slice(0, line.indexOf("=")));
    expect(names.sort()).toEqual(
      [
        "GREETING",
        "HOME",
        "LANG",
        "PATH",
        "SCHEDULER_EXECUTION_ID",
        "SCHEDULER_SCHEDULED_AT",
      ].sort(),
    );
    expect(stdout).not.toContain(WORKER_CANARY);
    expect(stdout).toContain(`SCHEDULER_EXECUTION_ID=${execution.executionId}\n`);
  });

  it("stores and logs a command's output with the job's secret values masked", async ({
    database,
    queue,
    worker,
  }) => {
    const secret = "tok-5f3a9c1e77";
    const execution = await seedExecution(database.db, {
      jobType: "command",
      config: {
        command: "sh",
        args: ["-c", 'echo "token=$API_TOKEN"; echo "no $API_TOKEN here" >&2; exit 3'],
        environment: { API_TOKEN: secret },
      },
    });
    await enqueue(queue, execution);
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done).toMatchObject({ status: "failed", errorType: "USER_ERROR" });
    const { result } = done.result as { result: CommandResult };
    expect(result).toEqual({ stdout: "token=******\n", stderr: "no ****** here\n", exitCode: 3 });
    expect(JSON.stringify(await readExecution(database.db, execution.id))).not.toContain(secret);
    expect(worker.output()).toContain(execution.id);
    expect(worker.output()).not.toContain(secret);
  });

  it("writes a command's ::progress to the execution while it runs", async ({
    database,
    queue,
  }) => {
    const execution = await seedExecution(database.db, {
      jobType: "command",
      config: { command: "sh", args: ["-c", "echo '::progress 40'; sleep 3"] },
    });
    await enqueue(queue, execution);
    const running = await waitFor(
      async () => {
        const row = await readExecution(database.db, execution.id);
        return row.progress === 40 ? row : undefined;
      },
      { timeoutMs: 10_000, what: "progress 40" },
    );
    expect(running.status).toBe("running");
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done).toMatchObject({ status: "completed", progress: 100 });
  });
});
