import { performance } from "node:perf_hooks";
import { toError } from "./errors.js";

export interface RepeatingTaskOptions {
  /** One run. Runs never overlap: the next is timed from this one's promise. */
  run: () => Promise<unknown>;
  /** Time between two runs, in ms. */
  intervalMs: number;
  /**
   * Count the interval from the start of a run, so runs keep their pace and one that
   * overran is followed at once; otherwise from its end. (Default: false)
   */
  fixedRate?: boolean;
  /** Told of a run that threw or rejected; the next run comes all the same. */
  onError: (error: Error) => void;
  /** Monotonic clock in ms, for fixedRate. (Default: performance.now) */
  monotonicNow?: () => number;
}

/**
 * A loop on one timer: the first run at once on start(), each next one `intervalMs`
 * later, never two at a time. The timer is not unref'd: a started task keeps the process
 * alive until stopped.
 */
export class RepeatingTask {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  constructor(private readonly options: RepeatingTaskOptions) {
    this.now = options.monotonicNow ?? (() => performance.now());
  }

  /** True from start() until stop(). */
  isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Cancels the next run and waits for the one in flight; idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      const startedAt = this.now();
      this.current = this.runOnce().finally(() => {
        const { intervalMs, fixedRate } = this.options;
        this.schedule(fixedRate ? Math.max(0, intervalMs - (this.now() - startedAt)) : intervalMs);
      });
    }, delayMs);
  }

  private async runOnce(): Promise<void> {
    try {
      await this.options.run();
    } catch (error) {
      this.options.onError(toError(error));
    }
  }
}
