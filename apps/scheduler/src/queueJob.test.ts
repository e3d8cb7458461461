import { describe, expect, it } from "vitest";
import { BurstRanks } from "./queueJob.js";

describe("BurstRanks", () => {
  it("counts each tenant's executions per slot from 0", () => {
    const ranks = new BurstRanks();
    expect([ranks.next("a", 1000), ranks.next("a", 1000), ranks.next("b", 1000)]).toEqual([
      0, 1, 0,
    ]);
    expect(ranks.next("a", 2000)).toBe(0);
    expect(ranks.next("a", 1000)).toBe(2);
  });

  it("forgets slots two minutes older than a new one", () => {
    const ranks = new BurstRanks();
    ranks.next("a", 0);
    ranks.next("a", 60_000);
    expect(ranks.size).toBe(2);
    ranks.next("a", 150_000);
    expect(ranks.size).toBe(2);
    expect(ranks.next("a", 0)).toBe(0);
  });
});
