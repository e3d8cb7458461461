import { performance } from "node:perf_hooks";
import {
  type ExecutionMessage,
  type Failpoints,
  failpoint,
  type Logger,
  RepeatingTask,
  toError,
} from "@scheduler/core";
import { type Db, recordTickStats } from "@scheduler/db";
import type { Queue } from "bullmq";
import { type ClaimedBatch, type ClaimOptions, claimBatch } from "./claim.js";
import type { LeaderElector } from "./leader.js";
import { addInChunks, BurstRanks, executionQueueJob, type QueueJob } from "./queueJob.js";
import { Reconciler } from "./reconcile.js";
import { ScheduleCache } from "./scheduleCache.js";
import { findTakenOverExecutions } from "./takeover.js";
import { type TickResult, TickStats } from "./tickStats.js";

export interface TickOptions {
  db: Db;
  queue: Queue<ExecutionMessage>;
  leader: Pick<LeaderElector, "epoch" | "isLeader">;
  lockKey: string;
  log: Logger;
  tickMs: number;
  lookaheadMs: number;
  batchSize: number;
  misfireThresholdMs: number;
  reconcileIntervalMs: number;
  /** Armed failpoints (tick.before_commit, tick.after_commit_before_enqueue, tick.after_enqueue). */
  failpoints?: Failpoints;
  /** Claim transactions side by side once a tick finds more than a batch due. (Default: 2) */
  claimConcurrency?: number;
  /** Shared cron memo. (Default: a new one) */
  schedules?: ScheduleCache;
  /**
   * Enqueue an execution whose slot is still ahead when the slot comes (held in a
   * timer), with no BullMQ delay, instead of at once with one. (Default: false)
   */
  enqueueAtSlot?: boolean;
  /** Tick numbers are written to scheduler_locks at most this often, in ms. (Default: 5000) */
  statsIntervalMs?: number;
}

/** An execution committed with its slot still ahead, waiting for it (enqueueAtSlot). */
/** What enqueueing an execution needs of it. */
type Enqueueable = Parameters<typeof executionQueueJob>[0];

interface HeldExecution {
  execution: Enqueueable;
  priority: number;
  /** Its place among its tenant's executions of that slot (queuePriority). */
  rank: number;
}

/**
 * The leader's loop (docs/design.md, a run end to end, step 2): every tick, claim due jobs in batches, each in
 * one transaction that records their slots and advances them, then enqueue each new
 * execution for its exact slot (held until then with enqueueAtSlot, else with a BullMQ
 * delay). Followers tick too but do nothing.
 */
export class Ticker {
  /** The last tick and running totals, for `/status` and metrics. */
  readonly stats = new TickStats();
  /** Ticks every tickMs from the start of the last, at once after one that overran. */
  private readonly loop: RepeatingTask;
  private lastReconcileAt = Number.NEGATIVE_INFINITY;
  /** The epoch whose takeover is done: a new one takes over the previous leader's slots. */
  private takenOverEpoch = 0;
  private lastStatsAt = Number.NEGATIVE_INFINITY;
  /** Held executions by slot (epoch ms), each slot with its one timer. */
  private readonly held = new Map<number, { timer: NodeJS.Timeout; executions: HeldExecution[] }>();
  /** Each tenant's executions per slot so far: a burst's later ones queue behind others'. */
  private readonly ranks = new BurstRanks();
  /** Enqueues of held executions under way, for stop() to wait on. */
  private readonly releasing = new Set<Promise<void>>();
  private readonly claimOptions: ClaimOptions;
  private readonly reconciler: Reconciler;
  private readonly failpoints: Failpoints;

  constructor(private readonly options: TickOptions) {
    this.failpoints = options.failpoints ?? new Map();
    this.claimOptions = {
      db: options.db,
      lockKey: options.lockKey,
      batchSize: options.batchSize,
      lookaheadMs: options.lookaheadMs,
      misfireThresholdMs: options.misfireThresholdMs,
      schedules: options.schedules ?? new ScheduleCache(),
      failpoints: this.failpoints,
      log: options.log,
    };
    this.reconciler = new Reconciler({ db: options.db, queue: options.queue, log: options.log });
    this.loop = new RepeatingTask({
      run: () => this.tick(),
      intervalMs: options.tickMs,
      fixedRate: true,
      onError: (error) => options.log.error({ err: error }, "tick failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /**
   * Stops ticking and waits for the tick in flight; executions held for their slot are
   * enqueued now, with the delay left to their slot. Idempotent.
   */
  async stop(): Promise<void> {
    await this.loop.stop();
    for (const slot of [...this.held.keys()]) this.release(slot, true);
    await Promise.all(this.releasing);
  }

  /** Executions held for their slot, for tests. */
  get heldCount(): number {
    let count = 0;
    for (const { executions } of this.held.values()) count += executions.length;
    return count;
  }

  /**
   * One tick: claim until nothing more is due, enqueue, reconcile if it is time, and
   * record the tick's numbers. Undefined when not leading or fenced.
   */
  async tick(): Promise<TickResult | undefined> {
    const { leader, db, lockKey, log, tickMs } = this.options;
    const epoch = leader.epoch;
    if (epoch === 0) return undefined;
    const startedAt = new Date();
    const t0 = performance.now();
    if (epoch !== this.takenOverEpoch) {
      await this.takeOver();
      this.takenOverEpoch = epoch;
      // Older pending executions are the reconciler's: its pass runs in this tick too.
      this.lastReconcileAt = Number.NEGATIVE_INFINITY;
    }
    const claimed = await this.claimAll(epoch);
    if (claimed === null) return undefined;
    const { fired, skipped } = claimed;

    let requeued = 0;
    if (performance.now() - this.lastReconcileAt >= this.options.reconcileIntervalMs) {
      this.lastReconcileAt = performance.now();
      requeued = await this.reconciler.run();
    }
    const result: TickResult = {
      startedAt,
      durationMs: performance.now() - t0,
      lagMs: claimed.lagMs ?? 0,
      fired,
      skipped,
      requeued,
    };
    this.stats.record(result);
    const level = result.durationMs > tickMs ? "info" : "debug";
    log[level](
      { tickDurationMs: Math.round(result.durationMs), tickLagMs: result.lagMs, fired, skipped },
      "tick",
    );
    // A write per tick was a fifth of an idle leader's statements: the numbers are
    // written when something fired or was skipped, or every statsIntervalMs.
    const statsDue =
      fired + skipped + requeued > 0 ||
      performance.now() - this.lastStatsAt >= (this.options.statsIntervalMs ?? 5000);
    if (statsDue) {
      this.lastStatsAt = performance.now();
      try {
        await recordTickStats(db, lockKey, epoch, this.stats.metadata());
      } catch (error) {
        log.warn({ err: toError(error).message }, "could not record tick stats");
      }
    }
    return result;
  }

  /**
   * Claims until nothing more is due. One claim first (all an idle tick costs); when it
   * filled a batch, `claimConcurrency` claim loops go on side by side (SKIP LOCKED
   * gives them disjoint jobs). Each batch is enqueued as soon as it commits, while the
   * next claims run. Null when fenced.
   */
  private async claimAll(
    epoch: number,
  ): Promise<{ fired: number; skipped: number; lagMs: number | undefined } | null> {
    const { batchSize, leader, log } = this.options;
    const totals = { fired: 0, skipped: 0, lagMs: undefined as number | undefined };
    const enqueues: Promise<void>[] = [];
    let enqueueError: unknown;
    let fenced = false;
    /** One claim; true when more may be due. */
    const claimOne = async (): Promise<boolean> => {
      const batch = await claimBatch(this.claimOptions, epoch);
      if (batch === null) {
        fenced = true;
        return false;
      }
      totals.lagMs ??= batch.oldestSlotAt
        ? Math.max(0, batch.now.getTime() - batch.oldestSlotAt.getTime())
        : 0;
      totals.fired += batch.executions.length;
      totals.skipped += batch.skipped;
      if (batch.executions.length + batch.skipped > 0) {
        log.debug(
          { jobs: batch.jobCount, fired: batch.executions.length, skipped: batch.skipped },
          "slots recorded",
        );
      }
      enqueues.push(
        this.enqueue(batch).catch((error: unknown) => {
          enqueueError ??= error;
        }),
      );
      return (
        batch.jobCount === batchSize &&
        leader.epoch === epoch &&
        !fenced &&
        enqueueError === undefined
      );
    };
    const loop = async () => {
      while (await claimOne()) {}
    };
    let failure: unknown;
    try {
      if (await claimOne()) {
        const loops = Array.from({ length: this.options.claimConcurrency ?? 2 }, loop);
        const failed = (await Promise.allSettled(loops)).find((r) => r.status === "rejected");
        if (failed) failure = failed.reason;
      }
    } catch (error) {
      failure = error;
    }
    // Whatever happened, wait for the enqueues of what committed.
    await Promise.all(enqueues);
    if (failure !== undefined) throw failure;
    if (enqueueError !== undefined) throw enqueueError;
    return fenced ? null : totals;
  }

  /**
   * Enqueues, each for its slot, what the previous leader claimed and may not have
   * enqueued (takeover.ts), before this leader's first claim.
   */
  private async takeOver(): Promise<void> {
    const executions = await findTakenOverExecutions(this.options.db);
    if (executions.length === 0) return;
    const priorities = new Map(executions.map((e) => [e.jobId, e.priority]));
    await this.enqueueForSlots(executions, priorities);
    this.options.log.info({ count: executions.length }, "pending executions taken over");
  }

  /**
   * After commit: a crash before the addBulk (or, with enqueueAtSlot, before a held
   * execution's slot) is repaired when the next leader takes over, or by the reconciler
   * once the slot is 5 s past.
   */
  private async enqueue(batch: ClaimedBatch): Promise<void> {
    if (batch.executions.length === 0) return;
    await failpoint(this.failpoints, "tick.after_commit_before_enqueue");
    await this.enqueueForSlots(batch.executions, batch.priorities);
    await failpoint(this.failpoints, "tick.after_enqueue");
  }

  /** Each execution for its slot: held until then with enqueueAtSlot, else a queue delay. */
  private async enqueueForSlots(
    executions: Enqueueable[],
    priorities: Map<string, number>,
  ): Promise<void> {
    const nowMs = Date.now();
    const now: QueueJob[] = [];
    for (const execution of executions) {
      const priority = priorities.get(execution.jobId) ?? 0;
      const slot = execution.scheduledAt.getTime();
      const rank = this.ranks.next(execution.tenantId, slot);
      const delayMs = slot - nowMs;
      if (this.options.enqueueAtSlot && delayMs > 0) this.hold({ execution, priority, rank });
      else now.push(executionQueueJob(execution, priority, delayMs, rank));
    }
    await addInChunks(this.options.queue, now);
  }

  /** Keeps an execution until its slot, with one timer per slot. */
  private hold(held: HeldExecution): void {
    const slot = held.execution.scheduledAt.getTime();
    const group = this.held.get(slot);
    if (group) {
      group.executions.push(held);
      return;
    }
    const timer = setTimeout(() => this.release(slot), Math.max(0, slot - Date.now()));
    this.held.set(slot, { timer, executions: [held] });
  }

  /**
   * Enqueues a slot's held executions once the slot has come, without delay; a timer
   * that fires early is armed again for what is left. `early` (stop()) enqueues them
   * now with that delay. A failure is logged; the reconciler enqueues them again.
   */
  private release(slot: number, early = false): void {
    const group = this.held.get(slot);
    if (!group) return;
    clearTimeout(group.timer);
    const leftMs = slot - Date.now();
    if (leftMs > 0 && !early) {
      group.timer = setTimeout(() => this.release(slot), leftMs);
      return;
    }
    this.held.delete(slot);
    const delayMs = Math.max(0, leftMs);
    const jobs = group.executions.map(({ execution, priority, rank }) =>
      executionQueueJob(execution, priority, delayMs, rank),
    );
    const done = addInChunks(this.options.queue, jobs)
      .catch((error: unknown) =>
        this.options.log.warn(
          { err: toError(error).message, slot: new Date(slot).toISOString(), count: jobs.length },
          "enqueue at slot failed; the reconciler will enqueue these executions",
        ),
      )
      .finally(() => this.releasing.delete(done));
    this.releasing.add(done);
  }
}
