import type { SchedulerMetrics } from "@scheduler/core";

/** What one leader tick did. */
export interface TickResult {
  /** When the tick started (process clock). */
  startedAt: Date;
  durationMs: number;
  /** Database now minus the oldest due slot found at the start of the tick; 0 if none was late. */
  lagMs: number;
  /** Executions recorded pending and enqueued. */
  fired: number;
  /** Executions recorded skipped (maxConcurrent). */
  skipped: number;
  /** Pending executions the reconciler enqueued again. */
  requeued: number;
}

/**
 * The scheduler's numbers in one place: the last tick, as `/status` reads it from the
 * leader's scheduler_locks.metadata, and running totals for a metrics export.
 */
export class TickStats {
  private lastTick: TickResult | undefined;
  readonly totals = { ticks: 0, fired: 0, skipped: 0, requeued: 0 };
  /** Set by main.ts: every recorded tick is also exported to Prometheus. */
  metrics: SchedulerMetrics | undefined;

  record(result: TickResult): void {
    this.metrics?.tickDuration.observe(result.durationMs / 1000);
    this.metrics?.tickLag.set(result.lagMs / 1000);
    this.metrics?.jobsFired.inc(result.fired);
    this.lastTick = result;
    this.totals.ticks += 1;
    this.totals.fired += result.fired;
    this.totals.skipped += result.skipped;
    this.totals.requeued += result.requeued;
  }

  get last(): TickResult | undefined {
    return this.lastTick;
  }

  /** The JSON merged into scheduler_locks.metadata (field names are the API's). */
  metadata(): Record<string, unknown> {
    const t = this.lastTick;
    if (!t) return {};
    return {
      lastTickAt: t.startedAt.toISOString(),
      tickDurationMs: Math.round(t.durationMs),
      tickLagMs: Math.round(t.lagMs),
      firedLastTick: t.fired,
      skippedLastTick: t.skipped,
    };
  }
}
