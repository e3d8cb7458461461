import { waitFor } from "@scheduler/testkit";
import { describe, expect, it } from "vitest";
import { ProgressWriter } from "./progress.js";

describe("ProgressWriter", () => {
  it("writes the first report at once and only the latest of a burst after the interval", async () => {
    const written: { percent: number; at: number }[] = [];
    const writer = new ProgressWriter(
      async (percent) => {
        written.push({ percent, at: Date.now() });
      },
      300,
      () => {},
    );
    writer.report(10);
    await waitFor(() => written.length === 1, { what: "the first write" });
    writer.report(20);
    writer.report(30);
    writer.report(40);
    await waitFor(() => written.length === 2, { what: "the coalesced write" });
    expect(written.map((w) => w.percent)).toEqual([10, 40]);
    expect(written[1]!.at - written[0]!.at).toBeGreaterThanOrEqual(290);
    writer.close();
  });

  it("writes nothing once closed", async () => {
    const written: number[] = [];
    const writer = new ProgressWriter(
      async (p) => void written.push(p),
      10_000,
      () => {},
    );
    writer.report(10);
    await waitFor(() => written.length === 1);
    writer.report(50);
    writer.close();
    writer.report(60);
    expect(written).toEqual([10]);
  });
});
