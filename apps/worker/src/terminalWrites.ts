import type { ExecutionFinish } from "@scheduler/db";
import { BatchedCalls } from "./batchedCalls.js";

export interface TerminalWritesOptions {
  /** Writes a batch in one statement and one commit; returns the ids that took effect. */
  writeBatch(finishes: ExecutionFinish[]): Promise<Set<string>>;
  /** Writes one (a batch that failed is written again one by one). */
  writeOne(finish: ExecutionFinish): Promise<boolean>;
  /** Most writes in one batch. (Default: 100) */
  maxBatch?: number;
}

/**
 * A worker's terminal writes, batched as they queue up (BatchedCalls): a write that
 * arrives while none is in flight goes at once, alone; those that arrive meanwhile go
 * together in the next batch, one statement and one commit for all, one write per
 * execution (a second write of one waits its turn). `record` resolves only once its
 * batch committed (docs/reliability.md, rule 5: the queue job is acknowledged after it). A
 * batch that fails is written again one by one, so a write the database refuses fails
 * alone.
 */
export class TerminalWrites {
  private readonly calls: BatchedCalls<ExecutionFinish, boolean>;

  constructor(options: TerminalWritesOptions) {
    this.calls = new BatchedCalls({
      idOf: (finish) => finish.key.id,
      callBatch: async (finishes) => {
        const recorded = await options.writeBatch(finishes);
        return finishes.map((finish) => recorded.has(finish.key.id));
      },
      callOne: (finish) => options.writeOne(finish),
      maxBatch: options.maxBatch,
    });
  }

  /** Whether the write took effect (false: the execution had ended meanwhile). */
  record(finish: ExecutionFinish): Promise<boolean> {
    return this.calls.call(finish);
  }
}
