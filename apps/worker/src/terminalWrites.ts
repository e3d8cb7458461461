import type { ExecutionFinish } from "@scheduler/db";

interface Pending extends ExecutionFinish {
  resolve(recorded: boolean): void;
  reject(error: unknown): void;
}

export interface TerminalWritesOptions {
  /** Writes a batch in one statement and one commit; returns the ids that took effect. */
  writeBatch(finishes: ExecutionFinish[]): Promise<Set<string>>;
  /** Writes one (a batch that failed is written again one by one). */
  writeOne(finish: ExecutionFinish): Promise<boolean>;
  /** Most writes in one batch. (Default: 100) */
  maxBatch?: number;
}

/**
 * A worker's terminal writes, batched as they queue up: a write that arrives while none
 * is in flight goes at once, alone; those that arrive meanwhile go together in the next
 * batch, one statement and one commit for all. Under load that spends one commit (and one
 * pool connection) on many executions instead of one each; idle, it adds no wait.
 * `record` resolves only once its batch committed (RELIABILITY.md rule 5: the queue job
 * is acknowledged after it). A batch that fails is written again one by one, so a write
 * the database refuses fails alone and a transient error reaches each caller, who
 * retries as before.
 */
export class TerminalWrites {
  private readonly queue: Pending[] = [];
  private flushing = false;
  private readonly maxBatch: number;

  constructor(private readonly options: TerminalWritesOptions) {
    this.maxBatch = options.maxBatch ?? 100;
  }

  /** Whether the write took effect (false: the execution had ended meanwhile). */
  record(finish: ExecutionFinish): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ ...finish, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) await this.writeNext();
    } finally {
      this.flushing = false;
    }
  }

  /** Takes up to maxBatch writes, one per execution (a second write of one waits its turn). */
  private async writeNext(): Promise<void> {
    const batch: Pending[] = [];
    const ids = new Set<string>();
    for (let i = 0; i < this.queue.length && batch.length < this.maxBatch; ) {
      const next = this.queue[i]!;
      if (ids.has(next.key.id)) {
        i++;
        continue;
      }
      ids.add(next.key.id);
      batch.push(next);
      this.queue.splice(i, 1);
    }
    if (batch.length === 1) return this.writeAlone(batch[0]!);
    let recorded: Set<string>;
    try {
      recorded = await this.options.writeBatch(batch.map(({ key, outcome }) => ({ key, outcome })));
    } catch {
      await Promise.all(batch.map((p) => this.writeAlone(p)));
      return;
    }
    for (const p of batch) p.resolve(recorded.has(p.key.id));
  }

  private async writeAlone(p: Pending): Promise<void> {
    try {
      p.resolve(await this.options.writeOne({ key: p.key, outcome: p.outcome }));
    } catch (error) {
      p.reject(error);
    }
  }
}
