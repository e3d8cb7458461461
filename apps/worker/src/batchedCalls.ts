interface Pending<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export interface BatchedCallsOptions<T, R> {
  /** Items with one id never share a batch: the second waits its turn. */
  idOf(item: T): string;
  /** Makes the call for many items at once (one statement, one commit); results in item order. */
  callBatch(items: T[]): Promise<R[]>;
  /** Makes it for one (alone, or again after its batch failed). */
  callOne(item: T): Promise<R>;
  /** Most items in one batch. (Default: 100) */
  maxBatch?: number;
}

/**
 * Calls batched as they queue up: one that arrives while none is in flight goes at
 * once, alone; those that arrive meanwhile go together in the next batch. Under load
 * that spends one round trip and one commit (and one pool connection) on many items
 * instead of one each; idle, it adds no wait. Each caller's promise settles with its
 * own result once its batch is done. A batch that fails is called again one item at a
 * time, so an item the database refuses fails alone and a transient error reaches each
 * caller, who retries as before.
 */
export class BatchedCalls<T, R> {
  private readonly queue: Pending<T, R>[] = [];
  private flushing = false;
  private readonly maxBatch: number;

  constructor(private readonly options: BatchedCallsOptions<T, R>) {
    this.maxBatch = options.maxBatch ?? 100;
  }

  call(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) await this.callNext();
    } finally {
      this.flushing = false;
    }
  }

  /** Takes up to maxBatch items, one per id. */
  private async callNext(): Promise<void> {
    const batch: Pending<T, R>[] = [];
    const ids = new Set<string>();
    for (let i = 0; i < this.queue.length && batch.length < this.maxBatch; ) {
      const next = this.queue[i]!;
      const id = this.options.idOf(next.item);
      if (ids.has(id)) {
        i++;
        continue;
      }
      ids.add(id);
      batch.push(next);
      this.queue.splice(i, 1);
    }
    if (batch.length === 1) return this.callAlone(batch[0]!);
    let results: R[];
    try {
      results = await this.options.callBatch(batch.map((p) => p.item));
    } catch {
      await Promise.all(batch.map((p) => this.callAlone(p)));
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i]!);
  }

  private async callAlone(p: Pending<T, R>): Promise<void> {
    try {
      p.resolve(await this.options.callOne(p.item));
    } catch (error) {
      p.reject(error);
    }
  }
}
