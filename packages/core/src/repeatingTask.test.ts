import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RepeatingTask, type RepeatingTaskOptions } from "./repeatingTask.js";

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});

afterEach(() => {
  vi.useRealTimers();
});

/**
 * A task whose runs take `durationsMs` in turn (the last one from then on) and record
 * the fake clock's time at their start.
 */
function recordingTask(
  durationsMs: number[],
  options: Partial<RepeatingTaskOptions> = {},
): { task: RepeatingTask; startedAt: number[]; errors: Error[] } {
  const startedAt: number[] = [];
  const errors: Error[] = [];
  const task = new RepeatingTask({
    intervalMs: 100,
    run: async () => {
      const durationMs = durationsMs[startedAt.length] ?? durationsMs.at(-1) ?? 0;
      startedAt.push(Date.now());
      if (durationMs > 0) await new Promise((resolve) => setTimeout(resolve, durationMs));
    },
    onError: (error) => errors.push(error),
    monotonicNow: () => Date.now(),
    ...options,
  });
  return { task, startedAt, errors };
}

describe("RepeatingTask", () => {
  it("runs at once on start, then intervalMs after each run has ended", async () => {
    const { task, startedAt } = recordingTask([30]);
    task.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(startedAt).toEqual([0]);
    await vi.advanceTimersByTimeAsync(500);
    expect(startedAt).toEqual([0, 130, 260, 390]);
    await task.stop();
  });

  it("with fixedRate, starts a run every intervalMs, and one at once after a run that overran", async () => {
    const { task, startedAt } = recordingTask([30, 150, 30], { fixedRate: true });
    task.start();
    await vi.advanceTimersByTimeAsync(500);
    // The second run ends at 250, past its due time: the third follows on the next timer
    // turn (setTimeout clamps 0 to 1 ms), and the pace goes on from there.
    expect(startedAt).toEqual([0, 100, 251, 351, 451]);
    await task.stop();
  });

  it.each([
    {
      name: "a rejected promise",
      run: () => Promise.reject(new Error("redis gone")),
      message: "redis gone",
    },
    {
      name: "a synchronous throw",
      run: () => {
        throw new Error("bad state");
      },
      message: "bad state",
    },
    { name: "a thrown non-Error", run: () => Promise.reject("timeout"), message: "timeout" },
  ])("hands the error of $name to onError and runs again", async ({ run, message }) => {
    const errors: Error[] = [];
    const onError = (error: Error) => errors.push(error);
    const task = new RepeatingTask({ intervalMs: 100, run, onError });
    task.start();
    await vi.advanceTimersByTimeAsync(250);
    expect(errors).toHaveLength(3);
    expect(errors.map((e) => e instanceof Error && e.message)).toEqual([message, message, message]);
    await task.stop();
  });

  it("stop waits for the run in flight, and no run follows", async () => {
    const { task, startedAt } = recordingTask([50]);
    task.start();
    await vi.advanceTimersByTimeAsync(10);
    let stopped = false;
    const stopping = task.stop().then(() => {
      stopped = true;
    });
    expect(task.isRunning()).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(stopped).toBe(true);
    await stopping;
    await vi.advanceTimersByTimeAsync(1000);
    expect(startedAt).toEqual([0]);
    await task.stop();
  });

  it("cancels the next run when stopped between runs", async () => {
    const { task, startedAt } = recordingTask([0]);
    task.start();
    await vi.advanceTimersByTimeAsync(50);
    await task.stop();
    await vi.advanceTimersByTimeAsync(1000);
    expect(startedAt).toEqual([0]);
  });

  it("keeps one loop when started twice", async () => {
    const { task, startedAt } = recordingTask([0]);
    task.start();
    task.start();
    expect(task.isRunning()).toBe(true);
    await vi.advanceTimersByTimeAsync(250);
    expect(startedAt).toEqual([0, 100, 200]);
    await task.stop();
  });
});
