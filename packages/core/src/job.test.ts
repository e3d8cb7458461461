import { describe, expect, it } from "vitest";
import { BURST_TIERS, burstTier, queuePriority } from "./job.js";

const p = (priority: number) => queuePriority(priority);

describe("queuePriority", () => {
  it("maps API priority 100 to none and p < 100 to the band (100 − p) × tiers", () => {
    expect([100, 99, 50, 1, 0].map(p)).toEqual([0, 1, 50, 99, 100].map((b) => b * BURST_TIERS));
  });

  it("keeps out-of-range and fractional priorities within BullMQ's range", () => {
    expect([150, -3, 37.9].map(p)).toEqual([0, 100, 63].map((b) => b * BURST_TIERS));
    expect(queuePriority(0, 10 ** 9)).toBeLessThanOrEqual(2 ** 21);
  });

  it("orders by API priority first, then by burst tier", () => {
    // The last of a huge burst at priority 51 still goes before the first at 50.
    expect(queuePriority(51, 1_000_000)).toBeLessThan(queuePriority(50, 0));
    expect(queuePriority(0, 0)).toBeLessThan(queuePriority(0, 1));
    expect(queuePriority(100, 0)).toBe(0);
    expect(queuePriority(100, 5)).toBeGreaterThan(0);
  });
});

describe("burstTier", () => {
  it("is ⌊log2(rank + 1)⌋: 1 first, then 2, 4, 8 … per tier, capped", () => {
    expect([0, 1, 2, 3, 6, 7, 9_999].map(burstTier)).toEqual([0, 1, 1, 2, 2, 3, 13]);
    expect(burstTier(10 ** 9)).toBe(BURST_TIERS - 1);
    expect(burstTier(-1)).toBe(0);
  });
});
