import type { LookupAddress } from "node:dns";
import type { LookupFunction } from "node:net";
import { Agent } from "undici";

export interface HttpAgentsOptions {
  /** Most agents kept; the least recently used one beyond it is closed. (Default: 256) */
  maxAgents?: number;
  /** An agent unused this long is closed at the next use of the cache, in ms. (Default: 60000) */
  idleMs?: number;
  /** How long an idle connection is kept open, in ms (undici's keepAliveTimeout). (Default: 4000) */
  keepAliveMs?: number;
}

interface Entry {
  agent: Agent;
  usedAt: number;
}

/**
 * Keep-alive connections of HTTP jobs, shared between hops and executions. An agent
 * serves one origin and connects only to the one address it was made for (the address
 * a hop checked, see runHttpJob): a connection is reused only by a later hop to the same
 * origin whose DNS answer was checked again and pinned to that same address. Another
 * answer gets another agent, so no request ever rides a connection to an address it did
 * not check. Bounded: least recently used agents beyond `maxAgents`, and agents idle for
 * `idleMs`, are closed (gracefully: a request in flight on one finishes).
 */
export class HttpAgents {
  private readonly agents = new Map<string, Entry>();
  private readonly maxAgents: number;
  private readonly idleMs: number;
  private readonly keepAliveMs: number;
  private closed = false;

  constructor(options: HttpAgentsOptions = {}) {
    this.maxAgents = options.maxAgents ?? 256;
    this.idleMs = options.idleMs ?? 60_000;
    this.keepAliveMs = options.keepAliveMs ?? 4000;
  }

  /** How many agents are open. */
  get size(): number {
    return this.agents.size;
  }

  /** The agent for requests to `origin` whose connections go to `address` only. */
  agentFor(origin: string, address: LookupAddress, now = Date.now()): Agent {
    if (this.closed) throw new Error("HttpAgents is closed");
    const key = `${origin} ${address.family} ${address.address}`;
    const found = this.agents.get(key);
    // Map order is use order: the first entries are the least recently used.
    if (found) this.agents.delete(key);
    const entry = found ?? {
      agent: new Agent({
        connect: { lookup: pinnedLookup(address) },
        keepAliveTimeout: this.keepAliveMs,
      }),
      usedAt: now,
    };
    entry.usedAt = now;
    this.agents.set(key, entry);
    this.evict(now);
    return entry.agent;
  }

  /** Closes every agent, waiting for requests in flight. */
  async close(): Promise<void> {
    this.closed = true;
    const entries = [...this.agents.values()];
    this.agents.clear();
    await Promise.all(entries.map((e) => e.agent.close().catch(() => undefined)));
  }

  private evict(now: number): void {
    for (const [key, entry] of this.agents) {
      if (this.agents.size <= this.maxAgents && now - entry.usedAt < this.idleMs) break;
      this.agents.delete(key);
      void entry.agent.close().catch(() => undefined);
    }
  }
}

/** A `lookup` for net/tls.connect that answers only the checked address. */
export function pinnedLookup(pinned: LookupAddress): LookupFunction {
  const answer = { address: pinned.address, family: pinned.family };
  return ((_hostname, options, callback) => {
    // net asks with `all: true` when it may race address families (autoSelectFamily).
    if (options.all) (callback as (e: null, a: LookupAddress[]) => void)(null, [answer]);
    else callback(null, answer.address, answer.family);
  }) as LookupFunction;
}
