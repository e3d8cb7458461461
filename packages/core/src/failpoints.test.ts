import { describe, expect, it } from "vitest";
import { FAILPOINT_CRASH_EXIT_CODE, failpoint, parseFailpoints } from "./failpoints.js";

describe("parseFailpoints", () => {
  it.each([
    ["unset", undefined, []],
    ["empty", "", []],
    ["one crash", "tick.before_commit:crash", [["tick.before_commit", { kind: "crash" }]]],
    [
      "a pause and a crash, with spaces",
      " tick.after_enqueue:pause:1500 , worker.after_start_before_run:crash ",
      [
        ["tick.after_enqueue", { kind: "pause", pauseMs: 1500 }],
        ["worker.after_start_before_run", { kind: "crash" }],
      ],
    ],
    ["a trailing comma", "tick.before_commit:crash,", [["tick.before_commit", { kind: "crash" }]]],
  ])("reads %s", (_case, value, expected) => {
    expect([...parseFailpoints(value)]).toEqual(expected);
  });

  it.each([
    ["no action", "tick.before_commit", /action must be crash or pause/],
    ["an unknown action", "tick.before_commit:explode", /action must be crash or pause/],
    ["a pause without ms", "tick.before_commit:pause", /action must be crash or pause/],
    ["a negative pause", "tick.before_commit:pause:-5", /action must be crash or pause/],
    ["a fractional pause", "tick.before_commit:pause:1.5", /action must be crash or pause/],
    ["an undotted name", "tick:crash", /dotted lowercase/],
    ["an uppercase name", "Tick.Before:crash", /dotted lowercase/],
    ["the same name twice", "tick.a:crash,tick.a:pause:10", /given twice/],
  ])("refuses %s, naming the entry", (_case, value, message) => {
    expect(() => parseFailpoints(value)).toThrow(message);
  });
});

describe("failpoint", () => {
  it("exits with code 137 at a crash failpoint", async () => {
    const codes: number[] = [];
    await failpoint(parseFailpoints("tick.before_commit:crash"), "tick.before_commit", (code) => {
      codes.push(code);
    });
    expect(codes).toEqual([FAILPOINT_CRASH_EXIT_CODE]);
  });

  it("waits at a pause failpoint for its delay", async () => {
    const startedAt = performance.now();
    await failpoint(parseFailpoints("tick.after_enqueue:pause:120"), "tick.after_enqueue");
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(110);
  });

  it("does nothing at a failpoint that is not armed", async () => {
    const codes: number[] = [];
    await failpoint(parseFailpoints("tick.before_commit:crash"), "tick.after_enqueue", (code) => {
      codes.push(code);
    });
    expect(codes).toEqual([]);
  });
});
