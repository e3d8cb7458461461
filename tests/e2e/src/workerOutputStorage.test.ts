import { queueJobId } from "@scheduler/core";
import type { ExecutionRow } from "@scheduler/db";
import { type RunningProcess, stopApp, test, waitFor } from "@scheduler/testkit";
import type { Queue } from "bullmq";
import { sql } from "drizzle-orm";
import { describe, expect } from "vitest";
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

const it = test.extend<{ $file: { worker: RunningProcess; queue: Queue } }>({
  worker: [
    async ({ database, testRedis }, use) => {
      const worker = await startWorker(database, testRedis);
      await use(worker);
      await stopApp(worker);
    },
    { scope: "file" },
  ],
  queue: [
    async ({ testRedis, worker: _worker }, use) => {
      const queue = executionQueue(testRedis);
      await use(queue);
      await queue.close();
    },
    { scope: "file" },
  ],
});

/** Waits until the execution's queue job is in `state` (no further delivery once finished). */
async function waitForQueueState(queue: Queue, execution: ExecutionRow, state: string) {
  await waitFor(
    async () => (await queue.getJobState(queueJobId(execution.executionId))) === state,
    {
      timeoutMs: 60_000,
      what: `queue job of ${execution.executionId} ${state}`,
    },
  );
}

describe("output the database cannot hold as it is (worker process)", { timeout: 90_000 }, () => {
  it("stores an HTTP body with NUL bytes, each replaced by U+FFFD", async ({
    database,
    queue,
    worker,
  }) => {
    const target = await startTarget((_hit, res) => res.end(Buffer.from("a\0b\0\0c")));
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/nul`, method: "GET" },
      });
      await enqueue(queue, execution);
      const done = await waitForStatus(database.db, execution.id, TERMINAL);
      expect(done, worker.output()).toMatchObject({
        status: "completed",
        retryCount: 0,
        result: { success: true, result: "a\uFFFDb\uFFFD\uFFFDc" },
      });
      expect(target.hitsOf(execution.executionId)).toHaveLength(1);
    } finally {
      target.close();
    }
  });

  it("stores a command's stdout with NUL bytes", async ({ database, queue, worker }) => {
    const execution = await seedExecution(database.db, {
      jobType: "command",
      config: { command: "sh", args: ["-c", "printf 'out\\000put'"] },
    });
    await enqueue(queue, execution);
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done, worker.output()).toMatchObject({
      status: "completed",
      result: { success: true, result: { stdout: "out\uFFFDput", exitCode: 0 } },
    });
  });

  it("stores a function's result with NUL and a lone surrogate in values and keys", async ({
    database,
    queue,
    worker,
  }) => {
    const execution = await seedExecution(database.db, {
      jobType: "function",
      config: { modulePath: "unstorable.mjs", functionName: "text" },
    });
    await enqueue(queue, execution);
    const done = await waitForStatus(database.db, execution.id, TERMINAL);
    expect(done, worker.output()).toMatchObject({
      status: "completed",
      result: {
        success: true,
        result: { "key\uFFFD": "a\uFFFDb", lone: "x\uFFFDy", pair: "\uD83D\uDE00" },
      },
    });
  });

  it("ends an execution whose outcome the database keeps refusing as SYSTEM_ERROR, without running it again", async ({
    database,
    queue,
    worker,
  }) => {
    const target = await startTarget((_hit, res) => res.end("refused-by-trigger"));
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/refused`, method: "GET" },
      });
      await refuseTerminalWrites(database.db, execution, ["completed"]);
      await enqueue(queue, execution);
      const done = await waitForStatus(database.db, execution.id, TERMINAL, 60_000);
      expect(done, worker.output()).toMatchObject({
        status: "failed",
        errorType: "SYSTEM_ERROR",
        retryCount: 0,
        result: null,
      });
      expect(done.errorMessage).toMatch(
        /outcome \(completed\) could not be stored after 3 attempts: .*refused in test/,
      );
      await waitForQueueState(queue, execution, "completed");
      expect(target.hitsOf(execution.executionId)).toHaveLength(1);
    } finally {
      target.close();
    }
  });

  it("drops the queue job when even the SYSTEM_ERROR outcome is refused: no endless delivery", async ({
    database,
    queue,
    worker,
  }) => {
    const target = await startTarget((_hit, res) => res.end("ok"));
    try {
      const execution = await seedExecution(database.db, {
        jobType: "http",
        config: { url: `${target.url}/refused`, method: "GET" },
      });
      await refuseTerminalWrites(database.db, execution, ["completed", "failed"]);
      await enqueue(queue, execution);
      await waitForQueueState(queue, execution, "failed");
      expect(worker.output()).toMatch(/even the SYSTEM_ERROR outcome was refused/);
      expect(await readExecution(database.db, execution.id)).toMatchObject({ status: "running" });
      expect(target.hitsOf(execution.executionId)).toHaveLength(1);
    } finally {
      target.close();
    }
  });
});

/**
 * A real, persistent refusal: a trigger that fails every update of this execution to one
 * of `statuses` (SQLSTATE P0001, not a transient error).
 */
async function refuseTerminalWrites(
  db: Parameters<typeof readExecution>[0],
  execution: ExecutionRow,
  statuses: string[],
): Promise<void> {
  const name = `refuse_${execution.id.replaceAll("-", "")}`;
  const list = statuses.map((s) => `'${s}'`).join(", ");
  await db.execute(
    sql.raw(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id = '${execution.id}' AND NEW.status IN (${list}) THEN
          RAISE EXCEPTION 'terminal write refused in test';
        END IF;
        RETURN NEW;
      END $$`),
  );
  await db.execute(
    sql.raw(`CREATE TRIGGER ${name} BEFORE UPDATE ON job_executions
      FOR EACH ROW EXECUTE FUNCTION ${name}()`),
  );
}
