import { describe, expect, test } from "vitest";
import { leaderFailpointDrill, redisRestartDrill, workerFailpointDrill } from "./drills.js";
import { runDrill } from "./harness.js";
import { summarize } from "./invariants.js";
import { invariantLines } from "./report.js";

/**
 * The CI subset of the drills, run by `pnpm test`: the leader killed between commit and
 * enqueue, a worker killed between its run and its status write, and Redis restarted
 * empty, twice each, each followed by the 30 s INV-7 needs. The full set, five times
 * each: `pnpm drills` (README.md).
 */
const CI_DRILLS = [
  leaderFailpointDrill("tick.after_commit_before_enqueue"),
  workerFailpointDrill("worker.after_run_before_status_write"),
  redisRestartDrill,
];
const CI_REPS = 2;

describe("drills, CI subset", () => {
  for (const drill of CI_DRILLS) {
    test(drill.name, { timeout: 240_000 }, async () => {
      const record = await runDrill(drill, { reps: CI_REPS });
      const summary = summarize(record);
      const lines = invariantLines(summary, record);
      expect(record.repetitions).toBe(CI_REPS);
      expect(
        lines.filter((line) => !line.startsWith("PASS")),
        lines.join("\n"),
      ).toEqual([]);
    });
  }
});
