import { once } from "node:events";
import { EXECUTION_QUEUE, queueJobId, redisKeys } from "@scheduler/core";
import { stopApp, waitFor } from "@scheduler/testkit";
import { Queue } from "bullmq";
import { describe, expect, it } from "vitest";
import {
  type ExecutionRecord,
  LOCK_TTL_MS,
  NEXT_EVEN_SECOND,
  NEXT_SECOND,
  type SchedulerCluster,
  slotRange,
  withSchedulerCluster,
} from "./schedulerCluster.js";

const everySecond = { count: 1, cronExpression: "* * * * * *", firstSlot: NEXT_SECOND };
const slotsOf = (rows: ExecutionRecord[]) => rows.map((e) => e.scheduledAt);
const latestSlot = async (c: SchedulerCluster) => Math.max(0, ...slotsOf(await c.executions()));

/** A leader and a follower; returns them once the follower campaigns too. */
async function leaderAndFollower(c: SchedulerCluster, leaderEnv: Record<string, string> = {}) {
  const leader = c.start(leaderEnv);
  const epoch = await c.waitForLeader(leader);
  const follower = c.start();
  await waitFor(() => c.heartbeat(follower), {
    timeoutMs: 20_000,
    what: "the follower's heartbeat",
  });
  return { leader, follower, epoch };
}

describe("two scheduler processes", () => {
  it("keep an every-second job firing after kill -9 of the leader, each slot once and none lost", async () => {
    await withSchedulerCluster({}, async (c) => {
      const { leader, follower, epoch } = await leaderAndFollower(c);
      const [jobId] = await c.insertJobs(everySecond);
      const firstSlot = await c.firstSlotOf(jobId!);
      await waitFor(async () => (await c.executions()).length >= 4, { what: "the leader firing" });

      const killedAt = Date.now();
      leader.child.kill("SIGKILL");
      expect(await c.waitForLeader(follower)).toBeGreaterThan(epoch);
      await waitFor(async () => (await latestSlot(c)) >= killedAt + LOCK_TTL_MS + 4000, {
        timeoutMs: 20_000,
        what: "the new leader firing for a few seconds",
      });

      const rows = await c.executions();
      // Default misfire threshold (60 s): every slot of the gap is caught up, once.
      expect(slotsOf(rows)).toEqual(slotRange(firstSlot, Math.max(...slotsOf(rows))));
      const resumedAt = Math.min(
        ...rows.filter((e) => e.createdAt > killedAt).map((e) => e.createdAt),
      );
      expect(resumedAt - killedAt).toBeLessThanOrEqual(LOCK_TTL_MS + 2000);
    });
  }, 60_000);

  it("catch up a gap longer than the misfire threshold with one execution under fire_once", async () => {
    // A takeover takes ttl ± one renewal period; with a short renewal period and a
    // lookahead of 0.2 s, at least two slots of the gap are older than the threshold.
    const ttlMs = 4000;
    const env = {
      SCHEDULER_LOCK_TTL_MS: String(ttlMs),
      SCHEDULER_LOCK_RENEW_MS: "300",
      MISFIRE_THRESHOLD_MS: "1000",
      SCHEDULER_LOOKAHEAD_MS: "200",
    };
    await withSchedulerCluster(env, async (c) => {
      const { leader, follower } = await leaderAndFollower(c);
      const [jobId] = await c.insertJobs({ ...everySecond, misfirePolicy: "fire_once" });
      const firstSlot = await c.firstSlotOf(jobId!);
      await waitFor(async () => (await c.executions()).length >= 3, { what: "the leader firing" });

      const killedAt = Date.now();
      leader.child.kill("SIGKILL");
      await c.waitForLeader(follower);
      await waitFor(async () => (await latestSlot(c)) >= killedAt + ttlMs + 3000, {
        timeoutMs: 20_000,
        what: "the new leader firing for a few seconds",
      });

      const rows = await c.executions();
      const before = rows.filter((e) => e.createdAt < killedAt);
      const lastBefore = Math.max(...slotsOf(before));
      expect(slotsOf(before)).toEqual(slotRange(firstSlot, lastBefore));
      // The new leader's first claim, by the database clock: slots older than the
      // threshold then were misfires, of which fire_once keeps the most recent.
      const claimedAt = Math.min(
        ...rows.filter((e) => e.createdAt >= killedAt).map((e) => e.createdAt),
      );
      expect(claimedAt - killedAt).toBeLessThanOrEqual(ttlMs + 2000);
      const lateBefore = claimedAt - 1000;
      const missed = slotRange(lastBefore + 1000, lateBefore - 1);
      expect(missed.length).toBeGreaterThanOrEqual(2);
      const inGap = rows.filter((e) => e.scheduledAt > lastBefore && e.scheduledAt < lateBefore);
      expect(slotsOf(inGap)).toEqual([missed.at(-1)]);
      const after = rows.filter((e) => e.scheduledAt >= lateBefore);
      expect(slotsOf(after)).toEqual(
        slotRange(Math.ceil(lateBefore / 1000) * 1000, Math.max(...slotsOf(after))),
      );
    });
  }, 60_000);

  it("never fire a slot twice when the leader is paused past its lock and resumed, nor let it lead again", async () => {
    await withSchedulerCluster({}, async (c) => {
      const { leader, follower } = await leaderAndFollower(c);
      const [jobId] = await c.insertJobs(everySecond);
      const firstSlot = await c.firstSlotOf(jobId!);
      await waitFor(async () => (await c.executions()).length >= 3, { what: "the leader firing" });

      const stoppedAt = Date.now();
      leader.child.kill("SIGSTOP");
      const newEpoch = await c.waitForLeader(follower);
      // The pause outlasts the lock by a second whatever the takeover took.
      await waitFor(() => Date.now() - stoppedAt > LOCK_TTL_MS + 1000, { what: "a long pause" });
      const resumedOutput: string[] = [];
      leader.child.stdout?.on("data", (chunk: Buffer) => resumedOutput.push(chunk.toString()));
      const resumedAt = Date.now();
      leader.child.kill("SIGCONT");

      const beat = await waitFor(
        async () => {
          const h = await c.heartbeat(leader);
          return h && Date.parse(h.lastHeartbeatAt) > resumedAt ? h : undefined;
        },
        { what: "a heartbeat of the resumed process" },
      );
      expect(beat).toMatchObject({ leader: false, epoch: 0 });
      // Give the resumed process a few of its ticks' worth of firing by the new leader.
      await waitFor(async () => (await latestSlot(c)) >= resumedAt + 4000, {
        timeoutMs: 15_000,
        what: "the new leader firing on",
      });

      expect(resumedOutput.join("")).not.toMatch(/slots recorded|leadership acquired/);
      expect(await c.leadership()).toEqual({ lockedBy: c.instanceId(follower), epoch: newEpoch });
      const lock = await c.redis.redis.get(redisKeys(c.redis.prefix).leaderLock);
      expect(lock).toBe(`${c.instanceId(follower)}|${newEpoch}`);
      const slots = slotsOf(await c.executions());
      expect(slots).toEqual(slotRange(firstSlot, Math.max(...slots)));
    });
  }, 60_000);

  it("give each of 200 jobs on */2 * * * * * exactly one execution per slot over 20 s", async () => {
    await withSchedulerCluster({}, async (c) => {
      const { leader, follower } = await leaderAndFollower(c);
      const jobIds = await c.insertJobs({
        count: 200,
        cronExpression: "*/2 * * * * *",
        firstSlot: NEXT_EVEN_SECOND,
        maxConcurrent: 1,
      });
      const firstSlot = await c.firstSlotOf(jobIds[0]!);
      await waitFor(
        async () =>
          (await c.executions()).filter((e) => e.scheduledAt >= firstSlot + 20_000).length >= 200,
        { timeoutMs: 40_000, intervalMs: 500, what: "20 s of slots for every job" },
      );
      await Promise.all([stopApp(leader), stopApp(follower)]);

      const byJob = new Map<string, number[]>(jobIds.map((id) => [id, []]));
      for (const e of await c.executions()) byJob.get(e.jobId)!.push(e.scheduledAt);
      const next = await c.database.pool.query<{ id: string; ms: string }>(
        "SELECT id, (extract(epoch FROM next_execution_at) * 1000)::bigint AS ms FROM scheduled_jobs",
      );
      const nextById = new Map(next.rows.map((r) => [r.id, Number(r.ms)]));
      for (const [jobId, slots] of byJob) {
        const last = Math.max(...slots);
        expect(last).toBeGreaterThanOrEqual(firstSlot + 20_000);
        expect(slots).toEqual(slotRange(firstSlot, last, 2000));
        expect(nextById.get(jobId)).toBe(last + 2000);
      }
    });
  }, 90_000);

  it.each([{ signal: "SIGKILL" as const }, { signal: "SIGSTOP" as const }])(
    "enqueue, when a new leader takes over from one stopped with $signal, every slot it had claimed, within TTL + tick + 1 s of the slot",
    async ({ signal }) => {
      const tickMs = 200;
      await withSchedulerCluster(
        { SCHEDULER_TICK_MS: String(tickMs), RECONCILE_INTERVAL_MS: "15000" },
        async (c) => {
          const { leader, follower, epoch } = await leaderAndFollower(c);
          const jobIds = await c.insertJobs({ ...everySecond, count: 5 });
          const firstSlot = await c.firstSlotOf(jobIds[0]!);
          // Killed while it holds claimed slots still ahead (lookahead 2 s), not yet queued.
          await waitFor(
            async () => {
              const rows = await c.executions();
              if (rows.length < 15) return false;
              const ahead = rows.filter((e) => e.scheduledAt > Date.now() + 300);
              for (const e of ahead) if (!(await c.isQueued(e.executionId))) return true;
              return false;
            },
            { intervalMs: 50, what: "the leader holding claimed slots" },
          );
          const killedAt = Date.now();
          // A paused leader is resumed (SIGCONT) only when the cluster closes.
          leader.child.kill(signal);
          expect(await c.waitForLeader(follower)).toBeGreaterThan(epoch);
          await waitFor(async () => (await latestSlot(c)) >= killedAt + LOCK_TTL_MS + 4000, {
            timeoutMs: 20_000,
            what: "the new leader firing for a few seconds",
          });
          const lastDue = Date.now() - 1000;
          const rows = (await c.executions()).filter((e) => e.scheduledAt <= lastDue);
          for (const jobId of jobIds) {
            const slots = slotsOf(rows.filter((e) => e.jobId === jobId));
            expect(slots).toEqual(slotRange(firstSlot, Math.max(...slots)));
          }
          const queue = new Queue(EXECUTION_QUEUE, {
            connection: c.redis.redis,
            prefix: redisKeys(c.redis.prefix).bullPrefix,
          });
          try {
            const late: string[] = [];
            for (const e of rows) {
              const job = await queue.getJob(queueJobId(e.executionId));
              expect(job, `queue job of ${e.executionId}`).toBeDefined();
              const availableAt = job!.timestamp + (job!.opts.delay ?? 0);
              if (availableAt - e.scheduledAt > LOCK_TTL_MS + tickMs + 1000) {
                late.push(`${e.executionId} ${availableAt - e.scheduledAt} ms after its slot`);
              }
            }
            expect(late).toEqual([]);
          } finally {
            await queue.close();
          }
        },
      );
    },
    60_000,
  );

  it("enqueue, when the follower takes over, what a leader crashing after commit left unqueued", async () => {
    await withSchedulerCluster({}, async (c) => {
      const { leader, follower } = await leaderAndFollower(c, {
        SCHEDULER_FAILPOINTS: "tick.after_commit_before_enqueue:crash",
      });
      const exited = once(leader.child, "exit");
      const jobIds = await c.insertJobs({ ...everySecond, count: 20 });
      const firstSlot = await c.firstSlotOf(jobIds[0]!);
      const [code] = await exited;
      expect(code).toBe(137);

      const committed = await c.executions();
      expect(committed.length).toBeGreaterThanOrEqual(20);
      for (const e of committed) expect(await c.isQueued(e.executionId)).toBe(false);
      await c.waitForLeader(follower);
      await waitFor(
        async () => {
          for (const e of committed) if (!(await c.isQueued(e.executionId))) return false;
          return true;
        },
        { timeoutMs: 20_000, intervalMs: 200, what: "the committed executions to be enqueued" },
      );
      await stopApp(follower);

      const rows = await c.executions();
      expect(rows.filter((e) => e.status !== "pending")).toEqual([]);
      for (const jobId of jobIds) {
        const slots = slotsOf(rows.filter((e) => e.jobId === jobId));
        expect(slots).toEqual(slotRange(firstSlot, Math.max(...slots)));
      }
      // Every execution is in the queue exactly once: no worker ran, so none left it.
      const bull = `${redisKeys(c.redis.prefix).bullPrefix}:${EXECUTION_QUEUE}`;
      const r = c.redis.redis;
      const queued =
        (await r.zcard(`${bull}:delayed`)) +
        (await r.llen(`${bull}:wait`)) +
        (await r.zcard(`${bull}:prioritized`));
      expect(queued).toBe(rows.length);
    });
  }, 60_000);
});
