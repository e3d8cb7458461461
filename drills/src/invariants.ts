import { nextFireTimes, parseCron } from "@scheduler/core";
import type { DrillRecord, ExecutionRecord, JobRecord, MisfirePolicy } from "./record.js";

/**
 * The invariants of docs/reliability.md, each a pure function of a drill's record. Each returns
 * whether it held, how many violations it counted and what the first ones were.
 */

export interface InvariantResult {
  id: string;
  ok: boolean;
  violations: number;
  detail: string;
}

export const TERMINAL = new Set(["completed", "failed", "cancelled", "skipped"]);

/** INV-7: start lag p99 bound, and how long after a fault heals it must hold again. */
export const LAG_P99_MS = 10_000;
export const RECOVERY_MS = 30_000;
/** INV-8: no request may take longer. */
export const HANG_MS = 5000;
/** INV-4: slack added to timeout × attempts + backoff. */
export const END_SLACK_MS = 60_000;
/** INV-9: what "back to baseline" tolerates. */
export const FD_SLACK = 64;
export const RSS_FACTOR = 1.5;
export const RSS_SLACK_KB = 100 * 1024;
/** fire_all keeps at most this many missed slots (API.md). */
export const FIRE_ALL_CAP = 100;

function result(id: string, problems: string[], extra = ""): InvariantResult {
  const shown = problems.slice(0, 3).join("; ");
  const more = problems.length > 3 ? `; … ${problems.length - 3} more` : "";
  return {
    id,
    ok: problems.length === 0,
    violations: problems.length,
    detail: problems.length === 0 ? extra || "held" : `${shown}${more}`,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

function scheduled(record: DrillRecord): ExecutionRecord[] {
  return record.executions.filter((e) => e.triggerType === "scheduled");
}

/** INV-1: no (job, scheduledAt) with two scheduled executions. */
export function checkInv1(record: DrillRecord): InvariantResult {
  const seen = new Map<string, number>();
  for (const e of scheduled(record)) {
    const key = `${e.jobId}@${e.scheduledAt}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const problems: string[] = [];
  for (const [key, count] of seen) {
    for (let i = 1; i < count; i++) problems.push(`duplicate slot ${key}`);
  }
  return result("INV-1", problems, `${seen.size} slots, each recorded once`);
}

const slotCache = new Map<string, number[]>();

/**
 * Every slot of a job's cron from its first slot to its last checked instant, both
 * included. Jobs sharing a schedule and a window (a flood of them) share the answer.
 */
export function slotsOf(job: JobRecord): number[] {
  if (job.firstSlotAt === null || job.lastSlotAt === null) return [];
  const key = `${job.cronExpression}|${job.timezone}|${job.firstSlotAt}|${job.lastSlotAt}`;
  const cached = slotCache.get(key);
  if (cached) return cached;
  const schedule = parseCron(job.cronExpression, job.timezone);
  const slots: number[] = [];
  let after = new Date(job.firstSlotAt - 1);
  let batch = 4;
  for (;;) {
    const times = nextFireTimes(schedule, after, batch);
    const inside = times.filter((at) => at.getTime() <= job.lastSlotAt!);
    slots.push(...inside.map((at) => at.getTime()));
    const last = times.at(-1);
    if (inside.length < times.length || last === undefined || times.length < batch) break;
    after = last;
    batch = Math.min(batch * 2, 512);
  }
  if (slotCache.size > 10_000) slotCache.clear();
  slotCache.set(key, slots);
  return slots;
}

/**
 * The slots of one job that an outage (no scheduler running) made misfires, one list per
 * outage: slots after the last one recorded before the outage and more than the misfire
 * threshold older than the returning leader's claim of this job. The claim's instant is
 * the `createdAt` (the claim transaction's now()) of the job's first row recorded after
 * the outage began; without one, the outage's end.
 */
export function missedSlotsOf(
  job: JobRecord,
  slots: number[],
  rows: ExecutionRecord[],
  record: DrillRecord,
): number[][] {
  const lists: number[][] = [];
  for (const outage of record.outages) {
    const before = rows.filter((e) => e.createdAt <= outage.from);
    const after = rows.filter((e) => e.createdAt > outage.from);
    const lastBefore = Math.max(job.firstSlotAt! - 1, ...before.map((e) => e.scheduledAt));
    const claimAt = after.length > 0 ? Math.min(...after.map((e) => e.createdAt)) : outage.to;
    const missedBefore = claimAt - record.knobs.misfireThresholdMs;
    const missed = slots.filter((at) => at > lastBefore && at < missedBefore);
    if (missed.length > 0) lists.push(missed);
  }
  return lists;
}

/**
 * INV-2: every slot the cron yields has a row (any status), except as misfirePolicy says
 * for slots an outage made misfires: fire_once exactly the most recent of them, skip
 * none, fire_all the 100 most recent.
 */
export function checkInv2(record: DrillRecord): InvariantResult {
  const byJob = new Map<string, ExecutionRecord[]>();
  for (const e of scheduled(record)) {
    const list = byJob.get(e.jobId);
    if (list) list.push(e);
    else byJob.set(e.jobId, [e]);
  }
  const problems: string[] = [];
  let checked = 0;
  let missedChecked = 0;
  for (const job of record.jobs) {
    const slots = slotsOf(job);
    checked += slots.length;
    const rows = byJob.get(job.id) ?? [];
    const recorded = new Set(rows.map((e) => e.scheduledAt));
    const missedLists = missedSlotsOf(job, slots, rows, record);
    const missed = new Set(missedLists.flat());
    missedChecked += missed.size;
    for (const at of slots) {
      if (!missed.has(at) && !recorded.has(at)) problems.push(`lost slot ${job.name} ${iso(at)}`);
    }
    const policy: MisfirePolicy = job.misfirePolicy;
    const kept = policy === "skip" ? 0 : policy === "fire_once" ? 1 : FIRE_ALL_CAP;
    for (const list of missedLists) {
      const wanted = new Set(kept === 0 ? [] : list.slice(-kept));
      for (const at of list) {
        if (wanted.has(at) && !recorded.has(at)) {
          problems.push(`lost slot ${job.name} (${policy}) ${iso(at)}`);
        }
        if (!wanted.has(at) && recorded.has(at)) {
          problems.push(`${job.name} (${policy}) fired missed slot ${iso(at)}`);
        }
      }
    }
  }
  if (checked === 0) problems.push("no slot to check");
  return result(
    "INV-2",
    problems,
    `${checked} slots${missedChecked ? `, ${missedChecked} misfired ones as their policy says` : ""}`,
  );
}

/** INV-3: a target sees an execution at most 1 + retryCount times, once for a clean run. */
export function checkInv3(record: DrillRecord): InvariantResult {
  const httpJobs = new Set(record.jobs.filter((j) => j.jobType === "http").map((j) => j.id));
  const hits = new Map<string, number>();
  for (const hit of record.hits) hits.set(hit.executionId, (hits.get(hit.executionId) ?? 0) + 1);
  const known = new Set(record.executions.map((e) => e.executionId));
  const problems: string[] = [];
  let clean = 0;
  for (const e of record.executions) {
    if (!httpJobs.has(e.jobId)) continue;
    const n = hits.get(e.executionId) ?? 0;
    if (n > 1 + e.retryCount) {
      problems.push(`${e.executionId} hit ${n} times with retryCount ${e.retryCount}`);
    } else if (e.status === "completed" && e.retryCount === 0 && n !== 1) {
      problems.push(`${e.executionId} completed cleanly with ${n} hits`);
    } else if (e.status === "completed" && n === 0) {
      problems.push(`${e.executionId} completed without reaching its target`);
    }
    if (e.status === "completed" && e.retryCount === 0) clean += 1;
  }
  for (const id of hits.keys()) {
    if (!known.has(id)) problems.push(`hit for unknown execution ${id}`);
  }
  if (record.hits.length === 0) problems.push("the target saw no request at all");
  return result("INV-3", problems, `${record.hits.length} hits, ${clean} clean runs hit once`);
}

/** INV-4's bound of one execution: timeout × attempts + backoff + 60 s. */
export function endBoundMs(job: JobRecord): number {
  let backoff = 0;
  for (let n = 1; n <= job.maxRetries; n++) {
    const delay = job.exponentialBackoff ? job.retryDelayMs * 2 ** (n - 1) : job.retryDelayMs;
    backoff += job.maxRetryDelayMs === null ? delay : Math.min(delay, job.maxRetryDelayMs);
  }
  return job.timeoutSeconds * 1000 * (job.maxRetries + 1) + backoff + END_SLACK_MS;
}

/** The executions INV-4 finds stuck: unfinished, or finished, beyond their bound. */
export function stuckExecutions(record: DrillRecord): string[] {
  const jobs = new Map(record.jobs.map((j) => [j.id, j]));
  const problems: string[] = [];
  for (const e of record.executions) {
    const job = jobs.get(e.jobId);
    if (!job) continue;
    const bound = endBoundMs(job);
    const since = Math.max(e.createdAt, e.scheduledAt);
    if (!TERMINAL.has(e.status)) {
      if (record.endedAt - since > bound) {
        problems.push(`${e.executionId} still ${e.status} after ${record.endedAt - since} ms`);
      } else {
        problems.push(`${e.executionId} still ${e.status} when the drill ended`);
      }
    } else if (e.completedAt !== null && e.completedAt - since > bound) {
      problems.push(`${e.executionId} took ${e.completedAt - since} ms to end (bound ${bound})`);
    }
  }
  return problems;
}

/**
 * INV-4: every execution ends: nothing stays pending/running beyond timeout × attempts +
 * backoff + 60 s. The harness waits for that bound before it ends a drill, so anything
 * unfinished at the end counts.
 */
export function checkInv4(record: DrillRecord): InvariantResult {
  const problems = stuckExecutions(record);
  return result("INV-4", problems, `${record.executions.length} executions ended`);
}

/** INV-5: every active job has nextExecutionAt in the future once the system is quiet. */
export function checkInv5(record: DrillRecord): InvariantResult {
  const quiet = record.quiet;
  if (quiet === null) return result("INV-5", ["no quiet sample"]);
  const problems: string[] = [];
  let active = 0;
  for (const job of quiet.jobs) {
    if (job.status !== "active") continue;
    active += 1;
    if (job.nextExecutionAt === null || job.nextExecutionAt <= quiet.databaseNow) {
      const at = job.nextExecutionAt === null ? "null" : iso(job.nextExecutionAt);
      problems.push(`job ${job.id} active with nextExecutionAt ${at}`);
    }
  }
  if (active === 0) problems.push("no active job when quiet");
  return result("INV-5", problems, `${active} active jobs due in the future`);
}

function inWindows(at: number, windows: { from: number; to: number }[]): boolean {
  return windows.some((w) => at >= w.from && at <= w.to);
}

/** How far apart (ms) a /status or lock sample and the gauge sample it is checked against may be. */
const LEADER_SAMPLE_PAIRING_MS = 1000;

/**
 * INV-6: at most one effective leader outside a takeover window (a fault's window plus
 * two lock lifetimes), by all three sources: never two schedulers reporting
 * `scheduler_leader 1` at once, and never the API's /status or the Redis lock key
 * naming another scheduler than the one the gauges name in the nearest sample.
 */
export function checkInv6(record: DrillRecord): InvariantResult {
  const ttl = record.knobs.lockTtlMs;
  const takeovers = record.faults.map((f) => ({ from: f.from, to: f.to + 2 * ttl }));
  const problems: string[] = [];
  const gauges = record.leaderSamples
    .filter((s) => s.source === "gauge")
    .sort((a, b) => a.at - b.at);
  let single = 0;
  for (const s of gauges) {
    if (s.leaders.length === 1) single += 1;
    if (s.leaders.length > 1 && !inWindows(s.at, takeovers)) {
      problems.push(`${s.leaders.length} leaders at ${iso(s.at)}: ${s.leaders.join(", ")}`);
    }
  }
  let compared = 0;
  for (const s of record.leaderSamples) {
    if (s.source === "gauge" || s.leaders.length !== 1 || inWindows(s.at, takeovers)) continue;
    const gauge = nearest(gauges, s.at);
    if (!gauge || Math.abs(gauge.at - s.at) > LEADER_SAMPLE_PAIRING_MS) continue;
    if (gauge.leaders.length !== 1) continue;
    compared += 1;
    if (gauge.leaders[0] !== s.leaders[0]) {
      problems.push(
        `${s.source} named ${s.leaders[0]} at ${iso(s.at)} while the gauges named ${gauge.leaders[0]}`,
      );
    }
  }
  if (single === 0) problems.push("no sample with a leader");
  return result(
    "INV-6",
    problems,
    `${single} samples with exactly one leader; /status and lock agree in ${compared}`,
  );
}

/** The sample of `sorted` (by time) closest to `at`. */
function nearest<T extends { at: number }>(sorted: T[], at: number): T | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]!.at < at) lo = mid + 1;
    else hi = mid;
  }
  const after = sorted[lo];
  const before = sorted[lo - 1];
  if (!before) return after;
  if (!after) return before;
  return at - before.at <= after.at - at ? before : after;
}

/** The longest time the gauges showed no leader, outside planned outages. */
export function maxFailoverGapMs(record: DrillRecord): number {
  const samples = record.leaderSamples
    .filter((s) => s.source === "gauge")
    .sort((a, b) => a.at - b.at);
  let gapStart: number | undefined;
  let longest = 0;
  for (const s of samples) {
    if (inWindows(s.at, record.outages)) gapStart = undefined;
    else if (s.leaders.length === 0) gapStart ??= s.at;
    else if (gapStart !== undefined) {
      longest = Math.max(longest, s.at - gapStart);
      gapStart = undefined;
    }
  }
  return longest;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * INV-7: startedAt − scheduledAt p99 < 10 s outside fault windows, and back within 30 s
 * after a fault heals: slots from a fault's start (less the lookahead) to 30 s after it
 * healed are left out, every other scheduled start counts.
 */
export function checkInv7(record: DrillRecord): InvariantResult {
  const excluded = [...record.faults, ...record.outages].map((w) => ({
    from: w.from - record.knobs.lookaheadMs,
    to: w.to + RECOVERY_MS,
  }));
  const lags = scheduled(record)
    .filter((e) => e.startedAt !== null && !inWindows(e.scheduledAt, excluded))
    .map((e) => e.startedAt! - e.scheduledAt);
  const problems: string[] = [];
  const p99 = percentile(lags, 99);
  if (lags.length < 20) problems.push(`only ${lags.length} starts outside fault windows`);
  else if (p99 >= LAG_P99_MS) problems.push(`start lag p99 ${p99} ms over ${lags.length} starts`);
  return result("INV-7", problems, `start lag p99 ${p99} ms over ${lags.length} starts`);
}

/**
 * INV-8: the API stays live: no request over 5 s; reads answer 200 while only Redis is
 * down.
 */
export function checkInv8(record: DrillRecord): InvariantResult {
  const redisDown = record.faults.filter((f) => f.dependency === "redis");
  const problems: string[] = [];
  let reads = 0;
  for (const probe of record.apiProbes) {
    if (probe.durationMs > HANG_MS) {
      problems.push(
        `${probe.route} on ${probe.api} took ${probe.durationMs} ms at ${iso(probe.at)}`,
      );
    }
    if (probe.kind !== "read") continue;
    reads += 1;
    if (inWindows(probe.at, redisDown) && probe.status !== 200) {
      problems.push(
        `${probe.route} on ${probe.api} answered ${probe.status ?? probe.error} while Redis was down`,
      );
    }
  }
  if (reads === 0) problems.push("no read probe");
  const slowest = Math.max(0, ...record.apiProbes.map((p) => p.durationMs));
  return result(
    "INV-8",
    problems,
    `${record.apiProbes.length} requests, slowest ${Math.round(slowest)} ms`,
  );
}

/**
 * INV-9: no process of a finished, cancelled or killed execution survives; file
 * descriptors and memory of the processes that lived through the drill return to
 * baseline (within FD_SLACK, and RSS_FACTOR × baseline + RSS_SLACK_KB).
 */
export function checkInv9(record: DrillRecord): InvariantResult {
  const problems: string[] = [];
  for (const s of record.survivors) {
    if (s.state !== "Z") problems.push(`pid ${s.pid} of ${s.executionId} survives (${s.state})`);
  }
  for (const r of record.resources) {
    if (r.end.fds > r.baseline.fds + FD_SLACK) {
      problems.push(`${r.process} fds ${r.baseline.fds} → ${r.end.fds}`);
    }
    if (r.end.rssKb > r.baseline.rssKb * RSS_FACTOR + RSS_SLACK_KB) {
      problems.push(`${r.process} rss ${r.baseline.rssKb} → ${r.end.rssKb} kB`);
    }
  }
  if (record.resources.length === 0) problems.push("no process sampled");
  return result(
    "INV-9",
    problems,
    `no execution process left; ${record.resources.length} processes back to baseline`,
  );
}

/** INV-10: a secret never appears in clear in PostgreSQL, Redis, logs or API responses. */
export function checkInv10(record: DrillRecord): InvariantResult {
  const s = record.secrets;
  const problems = s.found.map((where) => `secret in clear in ${where}`);
  if (s.postgresRows === 0) problems.push("PostgreSQL not scanned");
  if (s.redisKeys === 0) problems.push("Redis not scanned");
  if (s.logBytes === 0) problems.push("logs not scanned");
  if (s.apiResponses === 0) problems.push("API responses not scanned");
  return result(
    "INV-10",
    problems,
    `${s.postgresRows} rows, ${s.redisKeys} keys, ${s.logBytes} log bytes, ${s.apiResponses} responses clean`,
  );
}

export const CHECKS = [
  checkInv1,
  checkInv2,
  checkInv3,
  checkInv4,
  checkInv5,
  checkInv6,
  checkInv7,
  checkInv8,
  checkInv9,
  checkInv10,
];

export function checkAll(record: DrillRecord): InvariantResult[] {
  return CHECKS.map((check) => check(record));
}

/** One drill's line of the summary table. */
export interface DrillSummary {
  drill: string;
  fault: string;
  repetitions: number;
  duplicates: number;
  lostSlots: number;
  stuck: number;
  surviving: number;
  maxFailoverGapMs: number;
  ok: boolean;
  results: InvariantResult[];
}

export function summarize(record: DrillRecord): DrillSummary {
  const results = checkAll(record);
  const count = (id: string) => results.find((r) => r.id === id)!;
  return {
    drill: record.drill,
    fault: record.fault,
    repetitions: record.repetitions,
    duplicates: count("INV-1").violations,
    lostSlots: record.jobs.length === 0 ? 0 : count("INV-2").violations,
    stuck: stuckExecutions(record).length,
    surviving: record.survivors.filter((s) => s.state !== "Z").length,
    maxFailoverGapMs: maxFailoverGapMs(record),
    ok: results.every((r) => r.ok),
    results,
  };
}
