import { type DrillProcess, KNOBS } from "./cluster.js";
import { fairnessDrill } from "./fairnessDrill.js";
import type { Drill, DrillContext, JobRequest } from "./harness.js";

export const SCHEDULER_FAILPOINTS = [
  "tick.before_commit",
  "tick.after_commit_before_enqueue",
  "tick.after_enqueue",
] as const;
export const WORKER_FAILPOINTS = [
  "worker.after_start_before_run",
  "worker.after_run_before_status_write",
  "worker.after_status_write_before_ack",
] as const;

/** A cron that fires once a year: jobs the drill triggers by hand. */
const MANUAL_CRON = "0 0 0 1 1 *";

/** Starts a scheduler that replaces `name` (a fresh name per generation). */
let generation = 0;
function nextName(kind: string): string {
  generation += 1;
  return `${kind}-g${generation}`;
}

/**
 * kill -9 of the leader at a scheduler failpoint. While the fault runs, every scheduler
 * has the failpoint armed as `crash` (exit 137, as kill -9 at that line): each leader
 * dies at its first claim that records slots, a standby takes over after the lock's
 * lifetime, and each dead scheduler is replaced after a random delay by another armed
 * one. After `reps` crashes, unarmed schedulers take over.
 */
export function leaderFailpointDrill(failpoint: string): Drill {
  return {
    name: `leader-kill-at-${failpoint}`,
    fault: `kill -9 of the leader at ${failpoint}`,
    async inject(ctx, reps) {
      const { cluster } = ctx;
      const armed = { ...ctx.schedulerEnv, SCHEDULER_FAILPOINTS: `${failpoint}:crash` };
      let crashes = 0;
      let done = false;
      const starting: Promise<unknown>[] = [];
      const replace = async (): Promise<void> => {
        if (done) return;
        const started = cluster.startReady("scheduler", nextName("armed"), armed);
        starting.push(started.catch(() => {}));
        void watch(await started);
      };
      const watch = async (p: DrillProcess) => {
        const exit = await p.exited;
        if (done || exit.code !== 137) return;
        crashes += 1;
        ctx.rep();
        const acquired = cluster.leaderEvents.filter(
          (e) => e.instanceId === p.instanceId && e.at <= exit.at,
        );
        const from = acquired.at(-1)?.at ?? exit.at;
        ctx
          .leaderSince(exit.at, 60_000)
          .then((next) => ctx.fault({ kind: "leader-crash", from, to: next.at }))
          .catch(() => ctx.fault({ kind: "leader-crash", from, to: Date.now() }));
        ctx.note(`leader ${p.name} crashed at ${failpoint} ${exit.at - from} ms after it led`);
        if (crashes < reps) {
          await ctx.sleep(ctx.random(0, 1000));
          await replace();
        }
      };
      await Promise.all([replace(), replace()]);
      await ctx.sleep(ctx.random(0, 1500));
      // The unarmed schedulers hand over: the armed ones lead from now on.
      const unarmed = cluster.live("scheduler").filter((p) => !p.name.startsWith("armed"));
      await Promise.all(unarmed.map((p) => cluster.stop(p)));
      const deadline = Date.now() + 60_000 * reps;
      while (crashes < reps && Date.now() < deadline) await ctx.sleep(200);
      done = true;
      ctx.expect(`${reps} leaders crashed at ${failpoint}`, crashes >= reps);
      // Heal: unarmed schedulers, then the armed ones leave.
      const healAt = Date.now();
      await Promise.all([
        cluster.startReady("scheduler", nextName("scheduler")),
        cluster.startReady("scheduler", nextName("scheduler")),
      ]);
      await Promise.all(starting);
      const stillArmed = cluster.live("scheduler").filter((p) => p.name.startsWith("armed"));
      await Promise.all(stillArmed.map((p) => cluster.stop(p)));
      const healed = await ctx.leader();
      ctx.fault({ kind: "heal", from: healAt, to: Date.now() });
      ctx.note(`healed: ${healed.name} leads`);
    },
  };
}

/**
 * kill -9 of a worker at a worker failpoint: an armed worker (crash, exit 137) joins
 * the two unarmed ones, takes executions and dies at the failpoint; the queue's stalled
 * check redelivers what it held. Repeated with a random pause.
 */
export function workerFailpointDrill(failpoint: string): Drill {
  return {
    name: `worker-kill-at-${failpoint}`,
    fault: `kill -9 of a worker at ${failpoint}`,
    async inject(ctx, reps) {
      for (let i = 0; i < reps; i++) {
        await ctx.sleep(ctx.random(500, 2500));
        const p = await ctx.cluster.startReady("worker", nextName("armed-worker"), {
          SCHEDULER_FAILPOINTS: `${failpoint}:crash`,
          WORKER_CONCURRENCY: String(ctx.random(1, 5)),
        });
        const exit = await Promise.race([p.exited, ctx.sleep(30_000).then(() => undefined)]);
        ctx.expect(`armed worker ${p.name} crashed at ${failpoint}`, exit?.code === 137);
        if (!exit) {
          await ctx.cluster.kill(p);
          continue;
        }
        ctx.rep();
        // Redelivery: the stalled check runs every second; three checks heal it.
        ctx.fault({ kind: "worker-crash", from: exit.at, to: exit.at + 3 * 1000 });
      }
      await ctx.sleep(3000);
    },
  };
}

/** SIGSTOP of the leader past its lease (a standby takes over), then SIGCONT. */
export const leaderSigstopDrill: Drill = {
  name: "leader-sigstop",
  fault: "SIGSTOP of the leader past its lease, then SIGCONT",
  async inject(ctx, reps) {
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(1000, 3000));
      const leader = await ctx.leader();
      const from = Date.now();
      ctx.cluster.signal(leader, "SIGSTOP");
      const next = await ctx.leaderSince(from, 30_000);
      await ctx.sleep(ctx.random(0, 3000));
      ctx.cluster.signal(leader, "SIGCONT");
      ctx.rep();
      ctx.note(`${leader.name} stopped; a standby led after ${next.at - from} ms`);
      ctx.fault({ kind: "sigstop", from, to: Date.now() + ctx.knobs.lockTtlMs });
    }
  },
};

/**
 * kill -9 of the leader at a random moment: with a lookahead of 2 s and enqueue at the
 * slot, it holds claimed slots that are recorded `pending` and not yet queued. The next
 * leader takes them over as it starts leading. Every slot of the every-second jobs from
 * the lookahead before the kill to 2 s after the takeover must have a row (none lost)
 * and start within the lock's lifetime + a tick + 1 s of its time; none twice is INV-1
 * and INV-3. The reconciler runs every 15 s (production): a slot it had to repair would
 * start 5 s past its time at best.
 */
export const leaderKillCatchUpDrill: Drill = {
  name: "leader-kill-catch-up",
  fault: "kill -9 of the leader holding claimed slots (lookahead 2 s)",
  env: { scheduler: { RECONCILE_INTERVAL_MS: "15000" } },
  async inject(ctx, reps) {
    const boundMs = ctx.knobs.lockTtlMs + ctx.knobs.tickMs + 1000;
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(1500, 3500));
      const leader = await ctx.leader();
      const killedAt = await ctx.cluster.kill(leader);
      const next = await ctx.leaderSince(killedAt, 30_000);
      ctx.rep();
      const replacement = ctx.cluster.startReady("scheduler", nextName("scheduler"));
      const from = Math.ceil((killedAt - ctx.knobs.lookaheadMs) / 1000) * 1000;
      const to = Math.floor((next.at + 2000) / 1000) * 1000;
      await ctx.sleep(Math.max(0, to + boundMs + 500 - Date.now()));
      const { rows } = await ctx.pool.query<{ job: string; slot: string; late: string | null }>(
        `SELECT j.name AS job, (extract(epoch FROM e.scheduled_at) * 1000)::bigint AS slot,
           (extract(epoch FROM COALESCE(e.started_at, e.completed_at) - e.scheduled_at) * 1000)::bigint AS late
         FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id
         WHERE j.name LIKE 'every-second-%' AND e.trigger_type = 'scheduled'
           AND e.scheduled_at BETWEEN to_timestamp($1 / 1000.0) AND to_timestamp($2 / 1000.0)`,
        [from, to],
      );
      const jobs = new Set(rows.map((r) => r.job));
      const expected = jobs.size * ((to - from) / 1000 + 1);
      const unstarted = rows.filter((r) => r.late === null).length;
      const late = rows.filter((r) => r.late !== null && Number(r.late) > boundMs).length;
      const worst = Math.max(0, ...rows.filter((r) => r.late !== null).map((r) => Number(r.late)));
      ctx.note(
        `${leader.name} killed; ${next.instanceId} led ${next.at - killedAt} ms later; ${rows.length} slots of ${jobs.size} jobs, the latest start ${worst} ms after its slot`,
      );
      ctx.expect(
        `kill ${i + 1}: every slot from ${new Date(from).toISOString()} to ${new Date(to).toISOString()} recorded (${rows.length} of ${expected})`,
        jobs.size === 4 && rows.length === expected,
      );
      ctx.expect(
        `kill ${i + 1}: every slot started within ${boundMs} ms of its time (worst ${worst} ms, ${late} later, ${unstarted} not started)`,
        late + unstarted === 0,
      );
      ctx.fault({ kind: "leader-kill", from: killedAt, to: next.at + 1000 });
      await replacement;
    }
  },
};

/** The backoff of the backoff drill's job, in ms. */
const BACKOFF_MS = 3000;
/** How late after its backoff a retry may run: a delayed queue job's promotion and a claim. */
const RETRY_LATE_BOUND_MS = 1500;

/**
 * A worker stopped while an execution it ran waits for its retry: a manual HTTP job whose
 * first attempt fails (503) and whose retry is due 3 s later. Once the execution's queue
 * job is delayed, the worker that ran the attempt gets SIGTERM (odd repetitions) or
 * kill -9 (even ones), and a new worker is started. The retry must run on another worker
 * within its backoff + 1.5 s of the first attempt and be counted once: completed,
 * retryCount 1, the target hit by attempts 1 and 2 only.
 */
export const workerStoppedInBackoffDrill: Drill = {
  name: "worker-stopped-in-backoff",
  fault: "a worker stopped (SIGTERM, kill -9) while an execution waits for its retry",
  jobs: (targetUrl) => [
    {
      name: "retry-after-backoff",
      cronExpression: MANUAL_CRON,
      jobType: "http",
      config: { url: `${targetUrl}/fail-first`, method: "GET" },
      timeout: 10,
      retryConfig: { maxRetries: 2, retryDelayMs: BACKOFF_MS, exponentialBackoff: false },
      maxConcurrent: 100,
    },
  ],
  async inject(ctx, reps) {
    const list = (await (await ctx.call("GET", "/jobs?name=retry-after-backoff")).json()) as {
      data: { id: string }[];
    };
    const jobId = list.data[0]!.id;
    for (let i = 0; i < reps; i++) {
      const signal = i % 2 === 0 ? "SIGTERM" : "SIGKILL";
      await ctx.sleep(ctx.random(500, 2000));
      const from = Date.now();
      const run = (await (await ctx.call("POST", `/jobs/${jobId}/trigger`, {})).json()) as {
        id: string;
        executionId: string;
      };
      const deadline = Date.now() + 20_000;
      while (!(await ctx.isDelayed(run.executionId)) && Date.now() < deadline) await ctx.sleep(50);
      const held = await ctx.pool.query<{ worker_id: string }>(
        "SELECT worker_id FROM job_executions WHERE id = $1",
        [run.id],
      );
      const stoppedId = held.rows[0]?.worker_id ?? "";
      const holder = ctx.cluster.live("worker").find((p) => stoppedId.endsWith(`-${p.pid}`));
      ctx.expect(`run ${i + 1}: waiting for its retry on a live worker`, holder !== undefined);
      if (!holder) continue;
      if (signal === "SIGTERM") await ctx.cluster.stop(holder);
      else await ctx.cluster.kill(holder);
      ctx.rep();
      const replacement = ctx.cluster.startReady("worker", nextName("worker"));
      const ended = await ctx.waitForEnd(run.id, 30_000);
      const after = await ctx.pool.query<{ worker_id: string }>(
        "SELECT worker_id FROM job_executions WHERE id = $1",
        [run.id],
      );
      const hits = ctx.hitsOf(run.executionId);
      const gap = hits.length >= 2 ? hits[1]!.at - hits[0]!.at : Number.NaN;
      const attempts = hits.map((h) => h.attempt).join(",");
      ctx.note(`${signal} of ${holder.name} in a backoff: the retry ran ${gap} ms after attempt 1`);
      ctx.expect(
        `${signal} ${i + 1}: completed on another worker, retryCount 1, attempts 1,2 (${ended.status}, ${ended.retryCount}, ${attempts})`,
        ended.status === "completed" &&
          ended.retryCount === 1 &&
          attempts === "1,2" &&
          after.rows[0]?.worker_id !== stoppedId,
      );
      ctx.expect(
        `${signal} ${i + 1}: the retry ran ${gap} ms after attempt 1 (backoff ${BACKOFF_MS} ms, at most ${RETRY_LATE_BOUND_MS} ms late)`,
        gap >= BACKOFF_MS && gap <= BACKOFF_MS + RETRY_LATE_BOUND_MS,
      );
      ctx.fault({ kind: "worker-stop", from, to: Date.now() });
      await replacement;
    }
  },
};

/** Redis killed and started again, empty (no persistence). */
export const redisRestartDrill: Drill = {
  name: "redis-restart",
  fault: "Redis restarted with no persistence",
  async inject(ctx, reps) {
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(2000, 5000));
      const from = Date.now();
      await ctx.redis.stopServer();
      await ctx.sleep(ctx.random(200, 2000));
      await ctx.redis.startServer();
      const back = Date.now();
      // The lock went with the data: someone acquires it again, possibly before the
      // harness's own connection to the new server is up.
      const next = await ctx.leaderSince(from, 30_000);
      ctx.rep();
      ctx.note(`redis down ${back - from} ms; leader again ${next.at - back} ms after`);
      ctx.fault({ kind: "redis-restart", from, to: back, dependency: "redis" });
      ctx.fault({ kind: "redis-recovery", from: back, to: Math.max(back, next.at) + 3000 });
    }
  },
};

/** Redis unreachable for 20 s: the server paused with SIGSTOP, then SIGCONT. */
export const redisPauseDrill: Drill = {
  name: "redis-paused-20s",
  fault: "Redis unreachable for 20 s (SIGSTOP)",
  async inject(ctx, reps) {
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(2000, 5000));
      const from = Date.now();
      ctx.redis.pause();
      await ctx.sleep(20_000);
      ctx.redis.resume();
      const back = Date.now();
      // Led again: a "leadership acquired" after Redis answered, not the lock key, which
      // may name an instance that gave up on the acquire Redis ran late.
      const led = await ctx.leaderSince(back, 30_000);
      ctx.rep();
      ctx.note(`redis paused 20 s; ${led.instanceId} leads ${led.at - back} ms after`);
      ctx.expect(
        `pause ${i + 1}: led again within the lock's ttl of Redis answering (${led.at - back} ms)`,
        led.at - back < KNOBS.lockTtlMs,
      );
      ctx.fault({ kind: "redis-paused", from, to: back, dependency: "redis" });
      ctx.fault({ kind: "redis-recovery", from: back, to: Date.now() + 3000 });
    }
  },
};

/** PostgreSQL stopped (immediate: a crash to its clients) and started again. */
export const postgresRestartDrill: Drill = {
  name: "postgres-restart",
  fault: "PostgreSQL restarted",
  ownPostgres: true,
  async inject(ctx, reps) {
    const postgres = ctx.postgres!;
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(2000, 5000));
      const from = Date.now();
      await postgres.stopServer("immediate");
      await ctx.sleep(ctx.random(500, 3000));
      await postgres.startServer();
      const back = Date.now();
      // Healed when slots are recorded again.
      const deadline = back + 60_000;
      let healedAt = Date.now();
      for (;;) {
        const r = await ctx.pool
          .query<{ n: string }>(
            "SELECT count(*) AS n FROM job_executions WHERE created_at > to_timestamp($1 / 1000.0)",
            [back],
          )
          .catch(() => undefined);
        healedAt = Date.now();
        if ((r && Number(r.rows[0]!.n) > 0) || healedAt > deadline) break;
        await ctx.sleep(200);
      }
      ctx.rep();
      ctx.note(`postgres down ${back - from} ms; slots recorded again ${healedAt - back} ms later`);
      ctx.fault({ kind: "postgres-restart", from, to: healedAt, dependency: "postgres" });
    }
  },
};

/**
 * kill -9 of an API process in the middle of a burst of requests (manual triggers and
 * job creations); a new one is started in its place.
 */
export const apiKillDrill: Drill = {
  name: "api-kill",
  fault: "the API killed mid-request",
  jobs: (targetUrl, secrets) => [
    {
      name: "manual-http",
      cronExpression: MANUAL_CRON,
      jobType: "http",
      config: {
        url: `${targetUrl}/ok?manual`,
        method: "GET",
        headers: { Authorization: `Bearer ${secrets[0]}` },
      },
      timeout: 10,
      maxConcurrent: 1000,
    },
  ],
  async inject(ctx, reps) {
    const jobs = (await (await ctx.call("GET", "/jobs?name=manual-http")).json()) as {
      data: { id: string }[];
    };
    const manualId = jobs.data[0]!.id;
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(1000, 3000));
      const victim = ctx.cluster.live("api")[0]!;
      const requests: Promise<number | string>[] = [];
      for (let j = 0; j < 10; j++) {
        requests.push(
          ctx
            .call("POST", `/jobs/${manualId}/trigger`, {}, victim)
            .then((r) => r.status)
            .catch((e: Error) => e.name),
        );
        requests.push(
          ctx
            .call(
              "POST",
              "/jobs",
              {
                name: `created-mid-kill-${i}-${j}`,
                cronExpression: MANUAL_CRON,
                jobType: "http",
                config: {
                  url: `${ctx.targetUrl}/ok?created`,
                  method: "GET",
                  headers: { Authorization: `Bearer ${ctx.secrets[1]}` },
                },
              },
              victim,
            )
            .then((r) => r.status)
            .catch((e: Error) => e.name),
        );
      }
      await ctx.sleep(ctx.random(0, 60));
      const from = await ctx.cluster.kill(victim);
      const outcomes = await Promise.all(requests);
      ctx.rep();
      const replacement = await ctx.cluster.startReady("api", nextName("api"));
      ctx.note(`killed ${victim.name} mid-burst: ${JSON.stringify(countBy(outcomes))}`);
      ctx.fault({ kind: "api-kill", from, to: Date.now() });
      void replacement;
    }
  },
};

function countBy(values: (number | string)[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[String(v)] = (counts[String(v)] ?? 0) + 1;
  return counts;
}

/**
 * Every scheduler down (kill -9) for longer than the misfire threshold (5 s here), with
 * every-second jobs of each misfirePolicy; then two schedulers start again.
 */
export const misfireDrill: Drill = {
  name: "schedulers-down-misfire",
  fault: "schedulers all down past the misfire threshold (fire_once, skip, fire_all)",
  misfireThresholdMs: 5000,
  policies: ["fire_once", "fire_once", "skip", "skip", "fire_all", "fire_all"],
  async inject(ctx, reps) {
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(1000, 3000));
      const schedulers = ctx.cluster.live("scheduler");
      const exits = await Promise.all(schedulers.map((p) => ctx.cluster.kill(p)));
      const from = Math.max(...exits);
      await ctx.sleep(5000 + ctx.random(3000, 8000));
      const startAt = Date.now();
      await Promise.all([
        ctx.cluster.startReady("scheduler", nextName("scheduler"), ctx.schedulerEnv),
        ctx.cluster.startReady("scheduler", nextName("scheduler"), ctx.schedulerEnv),
      ]);
      const led = await ctx.leaderSince(startAt, 60_000);
      ctx.rep();
      ctx.outage({ from, to: led.at });
      ctx.fault({ kind: "schedulers-down", from, to: led.at + 1000 });
      ctx.note(`no scheduler for ${led.at - from} ms`);
      await ctx.sleep(3000);
    }
  },
};

/** A command job whose grandchild ignores SIGTERM, stopped by its timeout and by a cancel. */
export const commandGrandchildDrill: Drill = {
  name: "command-grandchild-ignores-sigterm",
  fault: "a command job whose grandchild ignores SIGTERM (timeout and cancel)",
  jobs: (_targetUrl, secrets) => {
    const script = `sh -c 'trap "" TERM; sleep 120' & trap "" TERM; echo started; sleep 120`;
    const job = (name: string, timeout: number): JobRequest => ({
      name,
      cronExpression: MANUAL_CRON,
      jobType: "command",
      config: { command: "sh", args: ["-c", script], environment: { DRILL_TOKEN: secrets[2] } },
      timeout,
      maxConcurrent: 100,
    });
    return [job("grandchild-timeout", 2), job("grandchild-cancel", 60)];
  },
  async inject(ctx, reps) {
    const list = (await (await ctx.call("GET", "/jobs?name=grandchild")).json()) as {
      data: { id: string; name: string }[];
    };
    const id = (name: string) => list.data.find((j) => j.name === name)!.id;
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(500, 2000));
      const from = Date.now();
      const timed = (await (
        await ctx.call("POST", `/jobs/${id("grandchild-timeout")}/trigger`, {})
      ).json()) as { id: string };
      const cancelled = (await (
        await ctx.call("POST", `/jobs/${id("grandchild-cancel")}/trigger`, {})
      ).json()) as { id: string };
      await ctx.sleep(ctx.random(1000, 1500));
      const cancel = await ctx.call("POST", `/executions/${cancelled.id}/cancel`, {});
      const a = await ctx.waitForEnd(timed.id, 30_000);
      const b = await ctx.waitForEnd(cancelled.id, 30_000);
      ctx.rep();
      ctx.expect(
        `timed-out run ${i + 1} failed TIMEOUT`,
        a.status === "failed" && a.errorType === "TIMEOUT",
      );
      ctx.expect(`cancelled run ${i + 1} cancelled (${cancel.status})`, b.status === "cancelled");
      ctx.fault({ kind: "command", from, to: Date.now() + 2 * ctx.knobs.lockTtlMs });
    }
  },
};

/** Targets that answer slowly, hugely, or redirect to a private address. */
export const hostileTargetsDrill: Drill = {
  name: "hostile-targets",
  fault: "a target that answers slowly, hugely, or redirects to a private address",
  jobs: (targetUrl) => {
    const job = (name: string, path: string, timeout: number, retries: number): JobRequest => ({
      name,
      cronExpression: MANUAL_CRON,
      jobType: "http",
      config: { url: `${targetUrl}${path}`, method: "GET" },
      timeout,
      retryConfig: { maxRetries: retries, retryDelayMs: 100, exponentialBackoff: false },
      maxConcurrent: 100,
    });
    return [
      job("hostile-slow", "/slow", 2, 1),
      job("hostile-huge", "/huge", 20, 0),
      job("hostile-redirect", "/redirect", 5, 2),
    ];
  },
  async inject(ctx, reps) {
    const list = (await (await ctx.call("GET", "/jobs?name=hostile")).json()) as {
      data: { id: string; name: string }[];
    };
    for (let i = 0; i < reps; i++) {
      await ctx.sleep(ctx.random(500, 2000));
      const from = Date.now();
      const runs = await Promise.all(
        list.data.map(async (j) => {
          const r = await ctx.call("POST", `/jobs/${j.id}/trigger`, {});
          return { name: j.name, id: ((await r.json()) as { id: string }).id };
        }),
      );
      const ended = await Promise.all(runs.map((r) => ctx.waitForEnd(r.id, 60_000)));
      ctx.rep();
      const by = (name: string) => ended[runs.findIndex((r) => r.name === name)]!;
      const slow = by("hostile-slow");
      const huge = by("hostile-huge");
      const redirect = by("hostile-redirect");
      ctx.expect(
        `slow target: failed TIMEOUT after 1 retry (${slow.status} ${slow.errorType} ${slow.retryCount})`,
        slow.status === "failed" && slow.errorType === "TIMEOUT" && slow.retryCount === 1,
      );
      ctx.expect(`huge target: completed (${huge.status})`, huge.status === "completed");
      ctx.expect(
        `redirect to a private address: failed VALIDATION_ERROR, not retried (${redirect.status} ${redirect.errorType} ${redirect.retryCount})`,
        redirect.status === "failed" &&
          redirect.errorType === "VALIDATION_ERROR" &&
          redirect.retryCount === 0,
      );
      ctx.fault({ kind: "hostile", from, to: Date.now() });
    }
  },
};

/** Minutes between two floods of the flood drill. */
export const FLOOD_PERIOD_MINUTES: number = 2;

/**
 * 10,000 jobs due in the same second: created once, with a cron that fires at one
 * second every FLOOD_PERIOD_MINUTES minutes, the first about 40 s ahead; each flood is
 * over when all 10,000 of its executions have ended. After the last one the flood jobs
 * end (inactive, endDate now).
 */
export const floodDrill: Drill = {
  name: "flood-10k",
  fault: "10,000 jobs due in one second",
  env: { worker: { WORKER_CONCURRENCY: "100" }, api: { TENANT_MAX_JOBS: "20000" } },
  async inject(ctx, reps) {
    const first = new Date(Math.ceil((Date.now() + 40_000) / 1000) * 1000);
    const period = FLOOD_PERIOD_MINUTES;
    const minutes = period === 1 ? "*" : `${first.getUTCMinutes() % period}/${period}`;
    const cron = `${first.getUTCSeconds()} ${minutes} * * * *`;
    const jobs: JobRequest[] = [];
    for (let j = 0; j < 10_000; j++) {
      jobs.push({
        name: `flood-${j}`,
        cronExpression: cron,
        jobType: "http",
        config: { url: `${ctx.targetUrl}/ok?flood`, method: "GET" },
        timeout: 30,
      });
    }
    const t0 = Date.now();
    await ctx.createJobs(jobs);
    ctx.note(`10,000 jobs (${cron}) created in ${Date.now() - t0} ms`);
    for (let i = 0; i < reps; i++) {
      const at = new Date(first.getTime() + i * period * 60_000);
      await ctx.sleep(Math.max(0, at.getTime() - Date.now()));
      const deadline = at.getTime() + period * 60_000 - 5000;
      let drainedAt = Date.now();
      for (;;) {
        const r = await ctx.pool.query<{ n: string; done: string }>(
          `SELECT count(*) AS n, count(*) FILTER (WHERE status IN ('completed','failed','cancelled','skipped')) AS done
           FROM job_executions WHERE scheduled_at = $1`,
          [at],
        );
        drainedAt = Date.now();
        const done = Number(r.rows[0]!.done);
        if (done >= 10_000 || drainedAt > deadline) {
          ctx.note(
            `flood ${i + 1} at ${at.toISOString()}: ${r.rows[0]!.n} recorded, ${done} ended ${drainedAt - at.getTime()} ms after the slot`,
          );
          ctx.expect(`flood ${i + 1}: all 10,000 ended before the next flood`, done >= 10_000);
          break;
        }
        await ctx.sleep(1000);
      }
      ctx.rep();
      ctx.fault({ kind: "flood", from: at.getTime(), to: drainedAt });
    }
    await ctx.pool.query(
      "UPDATE scheduled_jobs SET status = 'inactive', end_date = now() WHERE name LIKE 'flood-%'",
    );
  },
};

/** Every drill, in the order the full set runs them. */
export const ALL_DRILLS: Drill[] = [
  ...SCHEDULER_FAILPOINTS.map(leaderFailpointDrill),
  ...WORKER_FAILPOINTS.map(workerFailpointDrill),
  leaderSigstopDrill,
  leaderKillCatchUpDrill,
  workerStoppedInBackoffDrill,
  redisRestartDrill,
  redisPauseDrill,
  postgresRestartDrill,
  apiKillDrill,
  misfireDrill,
  commandGrandchildDrill,
  hostileTargetsDrill,
  floodDrill,
  fairnessDrill,
];

export type { DrillContext };
