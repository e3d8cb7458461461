/**
 * Lets at most `limit` database calls run at once; the rest wait here, in order.
 *
 * The pool has a few connections for hundreds of running executions, and pg-pool fails a
 * caller that waits more than 5 s for one. Under load that turns a busy pool into errors
 * and retries; waiting in this queue instead has no deadline, so a claim or a terminal
 * write is delayed, never failed, by a busy pool.
 */
export class DbGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.active += 1;
    }
    try {
      return await call();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next caller; only when none waits is it freed.
      if (next) next();
      else this.active -= 1;
    }
  }
}
