import { describe, expect, it } from "vitest";
import { queuePriority } from "./job.js";

describe("queuePriority", () => {
  it("maps API priority 100 to none and p < 100 to 100 − p", () => {
    expect([100, 99, 50, 1, 0].map(queuePriority)).toEqual([0, 1, 50, 99, 100]);
  });

  it("keeps out-of-range and fractional priorities within BullMQ's range", () => {
    expect([150, -3, 37.9].map(queuePriority)).toEqual([0, 100, 63]);
  });
});
