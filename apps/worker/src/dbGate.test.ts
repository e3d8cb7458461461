import { describe, expect, it } from "vitest";
import { DbGate } from "./dbGate.js";

describe("DbGate", () => {
  it("runs at most `limit` calls at once and every call in the end", async () => {
    const gate = new DbGate(3);
    let running = 0;
    let most = 0;
    const call = async (i: number) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setImmediate(resolve));
      running -= 1;
      return i;
    };
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => gate.run(() => call(i))),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBe(3);
  });

  it("frees the slot of a call that throws", async () => {
    const gate = new DbGate(1);
    await expect(gate.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await gate.run(async () => "next")).toBe("next");
  });
});
