/**
 * schedules (API-created): 100,000 active HTTP jobs with scattered schedules created
 * through the internal batch API (`POST /internal/jobs/batch-create`, 1000 a call, 100
 * tenants), then 60 s idle with api, scheduler and worker running: the scheduler's CPU
 * and RSS, Redis memory, and how punctually the fires that fell in the window started.
 * (bench/schedules/ is the scheduler-only tick benchmark; this is the end-to-end one.)
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/schedules.ts \
 *     [--jobs 100000] [--runs 3] [--parallel 2] [--idle-seconds 60] [--baseline] [--json file]
 *     [--profile]
 *
 * The database is freshly migrated and never ANALYZEd by the bench: the plans are the
 * ones PostgreSQL's own statistics (autovacuum) give, as in a new deployment.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Baseline } from "../baseline/baseline.js";
import { compareTable, processRows, type Row } from "../lib/compare.js";
import { describeProfiles } from "../lib/cpuProfile.js";
import { redisBytesUnder } from "../lib/history.js";
import { type LagParts, lagParts } from "../lib/lagParts.js";
import { startOurStack } from "../lib/ours.js";
import { REPO_ROOT } from "../lib/processes.js";
import { type ProcessFigures, samplerFor } from "../lib/procStats.js";
import { waitForQuietMachine } from "../lib/quiet.js";
import { appendResults, environmentLines } from "../lib/report.js";
import { closeAll, Scratch, SERVICE_TOKEN } from "../lib/scratch.js";
import type { Side } from "../lib/sides.js";
import { sleep } from "../lib/stats.js";
import { startTarget } from "../lib/target.js";
import { scatteredSchedules } from "./scatteredSchedules.js";

export interface SchedulesRun {
  side: Side;
  jobs: number;
  createSeconds: number;
  jobsPerSecond: number;
  redisKeys: number;
  redisMb: number;
  fires: number;
  onTimeShare: number;
  startLagP50: number;
  startLagP99: number;
  startLagMax: number;
  /** Where the start lag went (ours only). */
  lag?: LagParts;
  processes: Record<string, ProcessFigures>;
}

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "100000" },
    runs: { type: "string", default: "3" },
    parallel: { type: "string", default: "2" },
    "idle-seconds": { type: "string", default: "60" },
    baseline: { type: "boolean", default: false },
    json: { type: "string" },
    profile: { type: "boolean", default: false },
    "no-append": { type: "boolean", default: false },
  },
});
const JOBS = Number(values.jobs);
const PER_CALL = 1000;
const TENANTS = 100;
const idleSeconds = Number(values["idle-seconds"]);

/** Sends the batches, `parallel` calls in flight; resolves with the seconds it took. */
async function createThroughApi(base: string, targetUrl: string): Promise<number> {
  const schedules = scatteredSchedules(JOBS);
  const tenants = Array.from({ length: TENANTS }, () => randomUUID());
  const calls = Array.from({ length: Math.ceil(JOBS / PER_CALL) }, (_, i) => i);
  const started = performance.now();
  const lane = async () => {
    for (let call = calls.shift(); call !== undefined; call = calls.shift()) {
      const jobs = schedules.slice(call * PER_CALL, (call + 1) * PER_CALL).map((s, i) => ({
        name: `job-${call}-${i}`,
        cronExpression: s.cron,
        timezone: s.zone,
        jobType: "http",
        config: { url: targetUrl, method: "GET" },
      }));
      const res = await fetch(`${base}/internal/jobs/batch-create`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-service-token": SERVICE_TOKEN },
        body: JSON.stringify({ tenantId: tenants[call % TENANTS], createdBy: randomUUID(), jobs }),
      });
      if (res.status !== 201)
        throw new Error(`batch ${call}: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: Number(values.parallel) }, lane));
  return (performance.now() - started) / 1000;
}

async function runOurs(profileDir?: string): Promise<SchedulesRun> {
  await waitForQuietMachine();
  const scratch = await Scratch.create();
  const target = await startTarget();
  try {
    const stack = await startOurStack(scratch, {
      targetUrl: target.url,
      ...(profileDir ? { cpuProfileDir: profileDir } : {}),
    });
    const createSeconds = await createThroughApi(stack.apiBase, target.url);
    await sleep(5000);
    const sampler = samplerFor([stack.scheduler, stack.worker, stack.api], scratch.backendPids());
    sampler.start();
    const from = new Date();
    await sleep(idleSeconds * 1000);
    const to = new Date();
    sampler.stop();
    // Fires of the window that had time to start (a slot in its last 5 s may not have).
    const { rows } = await scratch.pool.query(
      `SELECT count(*)::int AS fires,
              count(*) FILTER (WHERE started_at - scheduled_at < interval '1 second')::int AS on_time,
              percentile_disc(ARRAY[0.5, 0.99, 1]) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - scheduled_at) * 1000) AS lags
       FROM job_executions WHERE scheduled_at >= $1 AND scheduled_at < $2::timestamptz - interval '5 seconds'`,
      [from, to],
    );
    const memory = await redisBytesUnder(scratch.redis, scratch.prefix);
    const lags = (rows[0].lags as string[] | null)?.map(Number) ?? [];
    const lag = await lagParts(scratch, from, new Date(to.getTime() - 5000));
    return {
      side: "ours",
      jobs: JOBS,
      createSeconds,
      jobsPerSecond: JOBS / createSeconds,
      redisKeys: memory.keys,
      redisMb: memory.bytes / 2 ** 20,
      fires: rows[0].fires,
      onTimeShare: rows[0].fires > 0 ? rows[0].on_time / rows[0].fires : Number.NaN,
      startLagP50: lags[0] ?? Number.NaN,
      startLagP99: lags[1] ?? Number.NaN,
      startLagMax: lags[2] ?? Number.NaN,
      lag,
      processes: sampler.window(from.getTime(), to.getTime()),
    };
  } finally {
    await scratch.close();
    await target.close();
  }
}

/** The same schedules as BullMQ job schedulers: what creating them and holding them costs. */
async function runBaseline(): Promise<SchedulesRun> {
  const scratch = await Scratch.create();
  const target = await startTarget();
  const baseline = new Baseline(scratch, target.url);
  try {
    const schedules = scatteredSchedules(JOBS);
    const started = performance.now();
    await baseline.upsertEach(schedules);
    const createSeconds = (performance.now() - started) / 1000;
    const memory = await redisBytesUnder(scratch.redis, scratch.prefix);
    const nan = Number.NaN;
    return {
      side: "baseline",
      jobs: JOBS,
      createSeconds,
      jobsPerSecond: JOBS / createSeconds,
      redisKeys: memory.keys,
      redisMb: memory.bytes / 2 ** 20,
      fires: nan,
      onTimeShare: nan,
      startLagP50: nan,
      startLagP99: nan,
      startLagMax: nan,
      processes: {},
    };
  } finally {
    await baseline.close();
    await scratch.close();
    await target.close();
  }
}

const rows: Row<SchedulesRun>[] = [
  {
    label: `time to create ${JOBS.toLocaleString("en-US")} jobs (s)`,
    pick: (r) => r.createSeconds,
    better: "lower",
    target: (o) => ["≤ 5 s", o.median <= 5],
  },
  { label: "jobs created per second", pick: (r) => r.jobsPerSecond, better: "higher", digits: 0 },
  { label: "Redis keys under the prefix", pick: (r) => r.redisKeys, better: "lower", digits: 0 },
  {
    label: "Redis memory under the prefix (MB)",
    pick: (r) => r.redisMb,
    better: "lower",
    digits: 1,
  },
  { label: `fires in the ${idleSeconds} s idle window`, pick: (r) => r.fires, digits: 0 },
  { label: "fires started within 1 s (share)", pick: (r) => r.onTimeShare, digits: 3 },
  { label: "start lag p50 (ms)", pick: (r) => r.startLagP50, digits: 0 },
  {
    label: "start lag p99 (ms)",
    pick: (r) => r.startLagP99,
    digits: 0,
    target: (o) => ["< 50 ms", o.median < 50],
  },
  { label: "start lag max (ms)", pick: (r) => r.startLagMax, digits: 0 },
  ...(
    [
      ["slot → added to the queue", "toQueue"],
      ["added → taken by a worker", "inQueue"],
      ["taken → running (the claim)", "claim"],
    ] as const
  ).flatMap(([what, part]) =>
    (["P50", "P99"] as const).map((p) => ({
      label: `start lag part: ${what} ${p.toLowerCase()} (ms)`,
      pick: (r: SchedulesRun) => r.lag?.[`${part}${p}`] ?? Number.NaN,
      digits: 0,
    })),
  ),
];

const environment = await environmentLines();
const results: SchedulesRun[] = [];
try {
  for (let i = 0; i < Number(values.runs); i++) {
    results.push(await runOurs());
    console.error(JSON.stringify(results.at(-1)));
    if (values.baseline) {
      results.push(await runBaseline());
      console.error(JSON.stringify(results.at(-1)));
    }
  }
  if (values.profile) {
    const dir = `${REPO_ROOT}bench/profiles/schedules-${Date.now()}`;
    await runOurs(dir);
    console.error(`CPU profiles (an extra run, not in the medians): ${dir}`);
    console.error(describeProfiles(dir));
  }
} finally {
  await closeAll();
}
if (values.json) writeFileSync(values.json, JSON.stringify(results));
const idleRows = processRows(results, (name) =>
  name === "scheduler" ? ["≤ 150 MB", (o) => o.max <= 150] : undefined,
).map((row) =>
  row.label === "CPU scheduler (% of a core)"
    ? {
        ...row,
        digits: 1,
        target: (o: { median: number }) => ["≤ 2 %", o.median <= 2] as [string, boolean],
      }
    : row,
);
const command = `node --conditions=@scheduler/source --import tsx bench/workloads/schedules.ts --jobs ${JOBS} --runs ${values.runs} --parallel ${values.parallel} --idle-seconds ${idleSeconds}${values.baseline ? " --baseline" : ""}`;
const body = [
  ...environment,
  "",
  `### ${JOBS.toLocaleString("en-US")} jobs created through the batch API (${values.parallel} calls in flight), then ${idleSeconds} s idle`,
  "",
  `Schedules: ${scatteredSchedules.description}. Process figures cover the idle window; the baseline column (with --baseline) is the same schedules upserted as BullMQ job schedulers, 50 calls in flight.`,
  "",
  compareTable(results, [...rows, ...idleRows]),
  "",
];
if (values["no-append"]) console.log(body.join("\n"));
else appendResults("schedules (API-created, then idle)", command, body);
process.exit(0);
