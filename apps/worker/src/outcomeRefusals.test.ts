import { describe, expect, it } from "vitest";
import {
  afterFailedWrite,
  firstUnrecorded,
  MAX_OUTCOME_REFUSALS,
  outcomeToWrite,
} from "./outcomeRefusals.js";

/** An error with a SQLSTATE, as pg reports one. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });
const REFUSED = pgError("P0001", "refused by a trigger");
const LOST = pgError("08006", "connection failure");
const outcome = { status: "completed" as const, result: { success: true }, retryCount: 2 };
const slot = new Date("2026-01-01T00:00:00Z");

describe("outcome refusals", () => {
  it("counts a refusal, not a lost connection, on the first failed write", () => {
    expect(firstUnrecorded(slot, outcome, REFUSED)).toMatchObject({ refusals: 1 });
    expect(firstUnrecorded(slot, outcome, LOST)).toMatchObject({
      refusals: 0,
      scheduledAt: "2026-01-01T00:00:00.000Z",
      lastError: "connection failure",
    });
  });

  it("writes the run's outcome until it was refused MAX_OUTCOME_REFUSALS times, then a SYSTEM_ERROR without the result", () => {
    let unrecorded = firstUnrecorded(slot, outcome, REFUSED);
    const written = [];
    for (let delivery = 0; delivery < 10 && unrecorded; delivery++) {
      written.push(outcomeToWrite(unrecorded).status);
      unrecorded = afterFailedWrite(unrecorded, REFUSED)!;
    }
    expect(written).toEqual([
      ...Array<string>(MAX_OUTCOME_REFUSALS - 1).fill("completed"),
      "failed",
    ]);
    const last = outcomeToWrite({ ...firstUnrecorded(slot, outcome, REFUSED), refusals: 3 });
    expect(last).toMatchObject({
      status: "failed",
      errorType: "SYSTEM_ERROR",
      result: null,
      retryCount: 2,
    });
    expect(last.errorMessage).toBe(
      "the execution's outcome (completed) could not be stored after 3 attempts: refused by a trigger",
    );
  });

  it("keeps an outcome whose writes fail for lost connections, without end", () => {
    let unrecorded = firstUnrecorded(slot, outcome, LOST);
    for (let delivery = 0; delivery < 20; delivery++)
      unrecorded = afterFailedWrite(unrecorded, LOST)!;
    expect(unrecorded.refusals).toBe(0);
    expect(outcomeToWrite(unrecorded)).toBe(outcome);
  });
});
