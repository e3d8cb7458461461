/**
 * Scheduler under a burst: 100,000 active jobs with scattered schedules plus 10,000 due
 * in the same second. Reports the idle tick, the burst tick, the time until all 10,000
 * are enqueued, and the scheduler's RSS. Each run uses a database and a Redis prefix
 * of its own (from @scheduler/testkit) and removes them after.
 *
 *   BENCH_RUNS=3 BENCH_MODE=both npx vitest run --config bench/schedules/vitest.config.ts
 *
 * Modes: `shared` — the burst jobs share ~30 (expression, zone) pairs, as top-of-the-hour
 * bursts do; `distinct` — 10,000 different expressions, so no cron result is reused.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { createTestDatabase, createTestRedis, type TestDatabase } from "@scheduler/testkit";
import { expect, test } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SCATTERED = { daily: 70_000, hourly: 25_000, tenMinutes: 5_000 };
const BURST = 10_000;
const LOOKAHEAD_MS = Number(process.env.BENCH_SCHEDULER_LOOKAHEAD_MS ?? 2000);
const ZONES = [
  "UTC",
  "Europe/Berlin",
  "Europe/London",
  "America/New_York",
  "America/Los_Angeles",
  "Asia/Tokyo",
  "Asia/Kolkata",
  "Australia/Lord_Howe",
];

type Mode = "shared" | "distinct";

interface TickLine {
  /** pino's ISO timestamp of the line: the end of the tick. */
  time: string;
  tickDurationMs: number;
  tickLagMs: number;
  fired: number;
}

interface RunResult {
  mode: Mode;
  idleTickMs: number;
  burstTickMs: number;
  /** From the moment the burst became claimable (slot − lookahead) to the end of its enqueue. */
  enqueuedAfterMs: number;
  /** Slot minus the end of the enqueue: > 0 means every execution was queued before its second. */
  headroomMs: number;
  idleRssMb: number;
  peakRssMb: number;
  executionsAtSlot: number;
  queuedForSlot: number;
  /** Scheduler CPU time from 1.5 s before the burst was claimable to the end of its tick. */
  burstCpuMs: number;
  /** 1-minute load average when the run started (the machine is shared). */
  load: number;
}

const sql = (db: TestDatabase, text: string, values: unknown[] = []) => db.pool.query(text, values);

/** 100,000 UTC jobs whose next fire times are computed in SQL; never at second 0. */
async function insertScattered(db: TestDatabase): Promise<void> {
  const common = `'http', '{"url":"http://example.com","method":"GET"}'::jsonb,
    gen_random_uuid(), gen_random_uuid()`;
  await sql(
    db,
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by, next_execution_at)
     SELECT 'daily-' || i, s || ' ' || m || ' ' || h || ' * * *', ${common},
            CASE WHEN t > now() THEN t ELSE t + interval '1 day' END
     FROM (SELECT i, 1 + (i * 7) % 59 AS s, (i * 13) % 60 AS m, (i * 17) % 24 AS h
           FROM generate_series(1, $1) AS i) g,
     LATERAL (SELECT date_trunc('day', now()) + make_interval(hours => h, mins => m, secs => s) AS t) x`,
    [SCATTERED.daily],
  );
  await sql(
    db,
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by, next_execution_at)
     SELECT 'hourly-' || i, s || ' ' || m || ' * * * *', ${common},
            CASE WHEN t > now() THEN t ELSE t + interval '1 hour' END
     FROM (SELECT i, 1 + (i * 7) % 59 AS s, (i * 13) % 60 AS m FROM generate_series(1, $1) AS i) g,
     LATERAL (SELECT date_trunc('hour', now()) + make_interval(mins => m, secs => s) AS t) x`,
    [SCATTERED.hourly],
  );
  await sql(
    db,
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by, next_execution_at)
     SELECT 'ten-' || i, s || ' ' || m || '/10 * * * *', ${common},
            t + make_interval(mins => 10 * (floor(extract(epoch FROM now() - t) / 600)::int + 1))
     FROM (SELECT i, 1 + (i * 7) % 59 AS s, (i * 13) % 10 AS m FROM generate_series(1, $1) AS i) g,
     LATERAL (SELECT date_trunc('hour', now()) + make_interval(mins => m, secs => s) AS t) x`,
    [SCATTERED.tenMinutes],
  );
}

/** Wall-clock fields of `at` in `zone`. */
function wallTime(at: Date, zone: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      weekday: "short",
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  const dow = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(parts.weekday!);
  return {
    minute: Number(parts.minute),
    hour: Number(parts.hour),
    day: Number(parts.day),
    month: Number(parts.month),
    dow,
  };
}

/** 10,000 (expression, zone) pairs that all fire at `slot` (a whole minute). */
function burstSchedules(slot: Date, mode: Mode): [string, string][] {
  if (mode === "shared") {
    const pairs: [string, string][] = [];
    for (const zone of ZONES) {
      const w = wallTime(slot, zone);
      pairs.push(
        [`0 ${w.minute} ${w.hour} * * *`, zone],
        [`0 ${w.minute} ${w.hour} * * ${w.dow}`, zone],
        [`0 ${w.minute} ${w.hour} ${w.day} * *`, zone],
        [`0 ${w.minute} * * * *`, zone],
      );
    }
    return Array.from({ length: BURST }, (_, i) => pairs[i % pairs.length]!);
  }
  const w = wallTime(slot, "UTC");
  const seen = new Set<string>();
  let seed = 1;
  const random = () => {
    seed = (seed * 48_271) % 2_147_483_647;
    return seed / 2_147_483_647;
  };
  while (seen.size < BURST) {
    const from = 1 + Math.floor(random() * w.day);
    const to = w.day + Math.floor(random() * (28 - Math.min(w.day, 28) + 1));
    const months = [
      w.month,
      ...[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].filter(() => random() < 0.5),
    ];
    const list = [...new Set(months)].sort((a, b) => a - b).join(",");
    seen.add(`0 ${w.minute} ${w.hour} ${from}-${Math.max(to, w.day)} ${list} *`);
  }
  return [...seen].map((e) => [e, "UTC"]);
}

async function insertBurst(db: TestDatabase, slot: Date, mode: Mode): Promise<void> {
  const schedules = burstSchedules(slot, mode);
  await sql(
    db,
    `INSERT INTO scheduled_jobs (name, cron_expression, timezone, job_type, config, tenant_id, created_by, next_execution_at)
     SELECT 'burst-' || i, e, z, 'http', '{"url":"http://example.com","method":"GET"}'::jsonb,
            gen_random_uuid(), gen_random_uuid(), $3
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(e, z, i)`,
    [schedules.map((s) => s[0]), schedules.map((s) => s[1]), slot.toISOString()],
  );
}

function memoryMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]);
  return Math.round(kb / 1024);
}

/** CPU time (user + system) the process used so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function startScheduler(env: Record<string, string>): { child: ChildProcess; ticks: TickLine[] } {
  const child = spawn(
    process.execPath,
    ["--conditions=@scheduler/source", "--import", "tsx", "apps/scheduler/src/main.ts"],
    {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "", METRICS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const ticks: TickLine[] = [];
  let pending = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      if (/"level":(40|50|60)/.test(line)) console.error(line.slice(0, 2000));
      if (!line.includes('"msg":"tick"')) continue;
      const entry = JSON.parse(line) as TickLine;
      ticks.push(entry);
    }
  });
  return { child, ticks };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function runOnce(mode: Mode): Promise<RunResult> {
  const load = Math.round(loadavg()[0]! * 100) / 100;
  const db = await createTestDatabase();
  const redis = createTestRedis();
  let scheduler: ChildProcess | undefined;
  try {
    await insertScattered(db);
    // The burst second: a whole minute, far enough ahead for the scheduler to settle.
    const slot = new Date(Math.ceil((Date.now() + 30_000) / 60_000) * 60_000);
    await insertBurst(db, slot, mode);
    await sql(db, "VACUUM ANALYZE scheduled_jobs");

    const started = startScheduler({
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      LOG_LEVEL: "debug",
      // Knob variants for comparisons, e.g. BENCH_SCHEDULER_CLAIM_CONCURRENCY=1.
      ...Object.fromEntries(
        Object.entries(process.env)
          .filter(([name]) => name.startsWith("BENCH_SCHEDULER_"))
          .map(([name, value]) => [name.slice("BENCH_".length), value ?? ""]),
      ),
    });
    scheduler = started.child;
    const pid = scheduler.pid!;
    await sleep(slot.getTime() - LOOKAHEAD_MS - 1500 - Date.now());
    const idleRssMb = memoryMb(pid, "VmRSS");
    const cpuBeforeMs = cpuMs(pid);
    const idleTicks = started.ticks.filter((t) => t.fired < 100).map((t) => t.tickDurationMs);
    const deadline = slot.getTime() + 60_000;
    const burstTick = () => started.ticks.find((t) => t.fired >= BURST);
    for (;;) {
      if (burstTick()) break;
      if (Date.now() > deadline || scheduler.exitCode !== null) {
        throw new Error(`no tick fired the burst: ${JSON.stringify(started.ticks.slice(-5))}`);
      }
      await sleep(100);
    }
    const burst = burstTick()!;
    const peakRssMb = memoryMb(pid, "VmHWM");
    const burstCpuMs = cpuMs(pid) - cpuBeforeMs;

    const bull = `${redis.prefix}:bull:executions`;
    const queuedForSlot = await redis.redis.zcount(
      `${bull}:delayed`,
      (slot.getTime() - 500) * 0x1000,
      (slot.getTime() + 500) * 0x1000,
    );
    const { rows } = await sql(
      db,
      "SELECT count(*)::int AS n FROM job_executions WHERE scheduled_at = $1",
      [slot.toISOString()],
    );
    return {
      mode,
      idleTickMs: median(idleTicks),
      burstTickMs: burst.tickDurationMs,
      enqueuedAfterMs: Date.parse(burst.time) - (slot.getTime() - LOOKAHEAD_MS),
      headroomMs: slot.getTime() - Date.parse(burst.time),
      idleRssMb,
      peakRssMb,
      executionsAtSlot: rows[0].n as number,
      queuedForSlot,
      burstCpuMs,
      load,
    };
  } finally {
    if (scheduler && scheduler.exitCode === null) {
      const exited = once(scheduler, "exit");
      scheduler.kill("SIGTERM");
      await exited;
    }
    await db.drop();
    await redis.cleanup();
  }
}

function summary(results: RunResult[], key: keyof RunResult): string {
  const values = results.map((r) => r[key] as number);
  return `${median(values)} (${Math.min(...values)}–${Math.max(...values)})`;
}

test("scheduler under a burst of 10,000 jobs among 100,000", async () => {
  const runs = Number(process.env.BENCH_RUNS ?? "3");
  const mode = process.env.BENCH_MODE ?? "both";
  const modes: Mode[] = mode === "both" ? ["shared", "distinct"] : [mode as Mode];
  for (const m of modes) {
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const result = await runOnce(m);
      console.log(JSON.stringify(result));
      expect(result.executionsAtSlot).toBe(BURST);
      results.push(result);
    }
    const lines = [`${m}: ${results.length} runs, median (min–max)`];
    for (const key of [
      "idleTickMs",
      "burstTickMs",
      "enqueuedAfterMs",
      "headroomMs",
      "idleRssMb",
      "peakRssMb",
      "executionsAtSlot",
      "queuedForSlot",
      "burstCpuMs",
      "load",
    ] as const) {
      lines.push(`  ${key}: ${summary(results, key)}`);
    }
    console.log(lines.join("\n"));
  }
});
