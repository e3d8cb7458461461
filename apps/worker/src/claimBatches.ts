import type { ClaimKey, ExecutionClaim } from "@scheduler/db";
import { BatchedCalls } from "./batchedCalls.js";

export interface ClaimBatchesOptions {
  /** Claims a batch in one round trip and one commit (claimExecutions); a key with no entry is gone. */
  claimBatch(keys: ClaimKey[]): Promise<Map<string, ExecutionClaim>>;
  /** Most claims in one batch. (Default: 100) */
  maxBatch?: number;
}

/**
 * A worker's claims, batched as they queue up (BatchedCalls), as its terminal writes
 * are: a claim that arrives while none is in flight goes at once, alone; those that
 * arrive meanwhile go together in the next batch, one round trip and one commit for
 * all. Under a burst that spends one commit (one WAL flush) and one pool connection on
 * many executions instead of one each; idle, it adds no wait. Each caller keeps its own
 * unit of work: it gets its own claim and goes on alone. A batch that fails is claimed
 * again one key at a time, so a transient error reaches each caller, who retries.
 */
export class ClaimBatches {
  private readonly calls: BatchedCalls<ClaimKey, ExecutionClaim>;

  constructor(options: ClaimBatchesOptions) {
    const claimOf = (claims: Map<string, ExecutionClaim>, key: ClaimKey): ExecutionClaim =>
      claims.get(key.id) ?? { kind: "gone" };
    this.calls = new BatchedCalls({
      idOf: (key) => key.id,
      callBatch: async (keys) => {
        const claims = await options.claimBatch(keys);
        return keys.map((key) => claimOf(claims, key));
      },
      callOne: async (key) => claimOf(await options.claimBatch([key]), key),
      maxBatch: options.maxBatch,
    });
  }

  claim(key: ClaimKey): Promise<ExecutionClaim> {
    return this.calls.call(key);
  }
}
