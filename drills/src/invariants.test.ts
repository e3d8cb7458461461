import { describe, expect, test } from "vitest";
import {
  checkAll,
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
  endBoundMs,
  maxFailoverGapMs,
  summarize,
} from "./invariants.js";
import type { DrillRecord, ExecutionRecord, JobRecord, MisfirePolicy } from "./record.js";

const T0 = Date.parse("2026-11-28T02:00:00.000Z");
const SECONDS = 60;

function job(id: string, policy: MisfirePolicy = "fire_once"): JobRecord {
  return {
    id,
    name: `job-${id}`,
    jobType: "http",
    cronExpression: "* * * * * *",
    timezone: "UTC",
    misfirePolicy: policy,
    status: "inactive",
    timeoutSeconds: 5,
    maxRetries: 1,
    retryDelayMs: 100,
    exponentialBackoff: false,
    maxRetryDelayMs: null,
    firstSlotAt: T0,
    lastSlotAt: T0 + (SECONDS - 1) * 1000,
  };
}

function execution(jobId: string, at: number, extra: Partial<ExecutionRecord> = {}) {
  return {
    id: `${jobId}-${at}`,
    jobId,
    executionId: `${jobId}:${at}`,
    triggerType: "scheduled",
    status: "completed",
    scheduledAt: at,
    createdAt: at - 2000,
    startedAt: at + 20,
    completedAt: at + 80,
    retryCount: 0,
    errorType: null,
    ...extra,
  };
}

/** A minute of one every-second job that ran cleanly: every invariant holds. */
function goodRecord(): DrillRecord {
  const jobs = [job("a")];
  const executions: ExecutionRecord[] = [];
  for (let i = 0; i < SECONDS; i++) executions.push(execution("a", T0 + i * 1000));
  const samples = [];
  for (let i = 0; i < SECONDS; i++) {
    samples.push({ at: T0 + i * 1000, source: "gauge" as const, leaders: ["s1"], scraped: 2 });
  }
  return {
    drill: "good",
    fault: "none",
    repetitions: 0,
    startedAt: T0 - 5000,
    endedAt: T0 + (SECONDS + 5) * 1000,
    knobs: { lockTtlMs: 2000, lookaheadMs: 2000, tickMs: 200, misfireThresholdMs: 5000 },
    jobs,
    executions,
    hits: executions.map((e) => ({
      executionId: e.executionId,
      attempt: 1,
      at: e.startedAt!,
      path: "/ok",
    })),
    leaderSamples: samples,
    faults: [],
    outages: [],
    apiProbes: [
      { at: T0, api: "api-1", route: "GET /jobs", kind: "read", durationMs: 12, status: 200 },
    ],
    quiet: {
      at: T0 + SECONDS * 1000,
      databaseNow: T0 + SECONDS * 1000,
      jobs: [{ id: "a", status: "active", nextExecutionAt: T0 + (SECONDS + 2) * 1000 }],
    },
    resources: [
      {
        process: "worker-1",
        baseline: { rssKb: 150_000, fds: 40 },
        end: { rssKb: 160_000, fds: 42 },
      },
    ],
    survivors: [],
    secrets: { postgresRows: 100, redisKeys: 10, logBytes: 5000, apiResponses: 20, found: [] },
    expectations: [],
    notes: [],
  };
}

describe("invariant checks", () => {
  test("a clean record passes every invariant", () => {
    const results = checkAll(goodRecord());
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.map((r) => r.id)).toEqual([
      "INV-1",
      "INV-2",
      "INV-3",
      "INV-4",
      "INV-5",
      "INV-6",
      "INV-7",
      "INV-8",
      "INV-9",
      "INV-10",
    ]);
  });

  test("INV-1 fails on two scheduled executions of one slot, not on a manual one", () => {
    const r = goodRecord();
    r.executions.push(execution("a", T0 + 3000, { id: "manual", triggerType: "manual" }));
    expect(checkInv1(r).ok).toBe(true);
    r.executions.push(execution("a", T0 + 3000, { id: "dup", executionId: "a:dup" }));
    expect(checkInv1(r)).toMatchObject({ ok: false, violations: 1 });
  });

  test("INV-2 fails on a slot with no row, a skipped row counts", () => {
    const r = goodRecord();
    r.executions[10]!.status = "skipped";
    expect(checkInv2(r).ok).toBe(true);
    r.executions.splice(20, 1);
    expect(checkInv2(r)).toMatchObject({ ok: false, violations: 1 });
    expect(checkInv2(r).detail).toContain("2026-11-28T02:00:20.000Z");
  });

  test("INV-2 applies each misfirePolicy to an outage longer than the threshold", () => {
    // No scheduler from 10 s to 30 s; the old leader had claimed up to 12 s (lookahead),
    // the new one claims at 30 s: with a 5 s threshold, 13 s … 24 s are misfires.
    const outage = { from: T0 + 10_000, to: T0 + 30_000 };
    const missed = (at: number) => at > T0 + 12_000 && at < T0 + 25_000;
    const withPolicy = (policy: MisfirePolicy, keep: (at: number) => boolean) => {
      const r = goodRecord();
      r.jobs = [job("a", policy)];
      r.outages = [outage];
      r.executions = r.executions.filter((e) => !missed(e.scheduledAt) || keep(e.scheduledAt));
      for (const e of r.executions) {
        if (e.scheduledAt > T0 + 12_000) e.createdAt = Math.max(e.createdAt, T0 + 30_000);
      }
      return checkInv2(r);
    };
    // fire_once: the most recent missed slot only.
    expect(withPolicy("fire_once", (at) => at === T0 + 24_000).ok).toBe(true);
    expect(withPolicy("fire_once", () => false).ok).toBe(false);
    expect(withPolicy("fire_once", (at) => at === T0 + 20_000).ok).toBe(false);
    expect(withPolicy("fire_once", () => true).ok).toBe(false);
    // skip: none.
    expect(withPolicy("skip", () => false).ok).toBe(true);
    expect(withPolicy("skip", (at) => at === T0 + 24_000).ok).toBe(false);
    // fire_all: every one.
    expect(withPolicy("fire_all", () => true).ok).toBe(true);
    expect(withPolicy("fire_all", (at) => at !== T0 + 18_000).ok).toBe(false);
  });

  test("INV-2 fails on a slot lost in an outage shorter than the threshold", () => {
    const r = goodRecord();
    r.outages = [{ from: T0 + 10_000, to: T0 + 14_000 }];
    r.executions = r.executions.filter((e) => e.scheduledAt !== T0 + 12_000);
    expect(checkInv2(r).ok).toBe(false);
  });

  test("INV-3 fails on a hit more than retryCount allows, and on a clean run seen twice", () => {
    const r = goodRecord();
    const e = r.executions[5]!;
    r.hits.push({ executionId: e.executionId, attempt: 1, at: e.startedAt!, path: "/ok" });
    expect(checkInv3(r).ok).toBe(false);
    e.retryCount = 1;
    expect(checkInv3(r).ok).toBe(true);
    r.hits.push({ executionId: e.executionId, attempt: 2, at: e.startedAt!, path: "/ok" });
    expect(checkInv3(r).ok).toBe(false);
  });

  test("INV-3 fails on a completed execution that never reached the target", () => {
    const r = goodRecord();
    r.hits.splice(7, 1);
    expect(checkInv3(r).ok).toBe(false);
  });

  test("INV-4 fails on an execution left running, or one that ended past its bound", () => {
    const r = goodRecord();
    r.executions[3]!.status = "running";
    expect(checkInv4(r).ok).toBe(false);
    const late = goodRecord();
    const e = late.executions[3]!;
    e.completedAt = e.scheduledAt + endBoundMs(late.jobs[0]!) + 1;
    expect(checkInv4(late).ok).toBe(false);
    expect(endBoundMs(late.jobs[0]!)).toBe(5000 * 2 + 100 + 60_000);
  });

  test("INV-5 fails on an active job due in the past, or no quiet sample", () => {
    const r = goodRecord();
    r.quiet!.jobs[0]!.nextExecutionAt = r.quiet!.databaseNow - 1;
    expect(checkInv5(r).ok).toBe(false);
    r.quiet = null;
    expect(checkInv5(r).ok).toBe(false);
  });

  test("INV-6 fails on two leaders outside a takeover window only", () => {
    const r = goodRecord();
    r.leaderSamples[30]!.leaders = ["s1", "s2"];
    expect(checkInv6(r).ok).toBe(false);
    r.faults = [{ kind: "kill", from: T0 + 28_000, to: T0 + 29_000 }];
    expect(checkInv6(r).ok).toBe(true);
  });

  test("INV-6 fails when /status or the lock names another leader than the gauges", () => {
    const r = goodRecord();
    r.leaderSamples.push(
      { at: T0 + 10_100, source: "status", leaders: ["s1"] },
      { at: T0 + 20_200, source: "lock", leaders: ["s1"] },
      { at: T0 + 25_000, source: "lock", leaders: [] },
    );
    expect(checkInv6(r)).toMatchObject({ ok: true });
    expect(checkInv6(r).detail).toContain("agree in 2");
    r.leaderSamples.push({ at: T0 + 30_300, source: "lock", leaders: ["s2"] });
    expect(checkInv6(r)).toMatchObject({ ok: false, violations: 1 });
    expect(checkInv6(r).detail).toContain("lock named s2");
    r.faults = [{ kind: "kill", from: T0 + 29_000, to: T0 + 30_000 }];
    expect(checkInv6(r).ok).toBe(true);
  });

  test("the failover gap is the longest run of samples with no leader", () => {
    const r = goodRecord();
    for (const i of [10, 11, 12]) r.leaderSamples[i]!.leaders = [];
    expect(maxFailoverGapMs(r)).toBe(3000);
  });

  test("INV-7 fails on a start lag p99 of 10 s outside fault windows, not inside one", () => {
    const r = goodRecord();
    for (const e of r.executions.slice(0, 5)) e.startedAt = e.scheduledAt + 12_000;
    expect(checkInv7(r).ok).toBe(false);
    r.faults = [{ kind: "pause", from: T0, to: T0 + 1000 }];
    expect(checkInv7(r).ok).toBe(true);
  });

  test("INV-8 fails on a hung request, and on a read refused while only Redis is down", () => {
    const r = goodRecord();
    r.apiProbes.push({
      at: T0 + 5000,
      api: "api-1",
      route: "GET /status",
      kind: "write",
      durationMs: 5001,
      status: 200,
    });
    expect(checkInv8(r).ok).toBe(false);
    const down = goodRecord();
    down.faults = [{ kind: "redis", from: T0 - 100, to: T0 + 100, dependency: "redis" }];
    down.apiProbes[0]!.status = 503;
    expect(checkInv8(down).ok).toBe(false);
    down.faults[0]!.dependency = "postgres";
    expect(checkInv8(down).ok).toBe(true);
  });

  test("INV-9 fails on a surviving process, leaked descriptors or memory", () => {
    const r = goodRecord();
    r.survivors = [{ pid: 123, executionId: "a:1", state: "S" }];
    expect(checkInv9(r).ok).toBe(false);
    r.survivors = [{ pid: 123, executionId: "a:1", state: "Z" }];
    expect(checkInv9(r).ok).toBe(true);
    r.resources[0]!.end.fds = 40 + 65;
    expect(checkInv9(r).ok).toBe(false);
    const rss = goodRecord();
    rss.resources[0]!.end.rssKb = 150_000 * 1.5 + 100 * 1024 + 1;
    expect(checkInv9(rss).ok).toBe(false);
  });

  test("INV-10 fails on a secret found in clear, or a place left unscanned", () => {
    const r = goodRecord();
    r.secrets.found = ["logs:worker-1"];
    expect(checkInv10(r).ok).toBe(false);
    const unscanned = goodRecord();
    unscanned.secrets.redisKeys = 0;
    expect(checkInv10(unscanned).ok).toBe(false);
  });

  test("the summary counts duplicates, lost slots, stuck executions and survivors", () => {
    const r = goodRecord();
    r.executions.push(execution("a", T0, { id: "dup", executionId: "a:dup" }));
    r.hits.push({ executionId: "a:dup", attempt: 1, at: T0, path: "/ok" });
    r.executions.splice(30, 1);
    r.executions[40]!.status = "pending";
    r.survivors = [{ pid: 9, executionId: "a:1", state: "S" }];
    const s = summarize(r);
    expect(s).toMatchObject({ duplicates: 1, lostSlots: 1, stuck: 1, surviving: 1, ok: false });
  });
});
