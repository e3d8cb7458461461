import type { DrillSummary } from "./invariants.js";
import type { DrillRecord } from "./record.js";

/** One line per invariant (and per expectation of the drill), as the run prints them. */
export function invariantLines(summary: DrillSummary, record: DrillRecord): string[] {
  const lines = summary.results.map(
    (r) => `${r.ok ? "PASS" : "FAIL"} ${r.id.padEnd(6)} ${summary.drill}: ${r.detail}`,
  );
  for (const e of record.expectations) {
    lines.push(`${e.ok ? "PASS" : "FAIL"} EXPECT ${summary.drill}: ${e.what}`);
  }
  return lines;
}

export function drillOk(summary: DrillSummary, record: DrillRecord): boolean {
  return summary.ok && record.expectations.every((e) => e.ok);
}

const HEADER =
  "| drill | fault | repetitions | duplicates | lost slots | stuck executions | surviving processes | max failover gap | invariants |";

export function summaryTable(rows: { summary: DrillSummary; record: DrillRecord }[]): string {
  const lines = [HEADER, "|---|---|--:|--:|--:|--:|--:|--:|---|"];
  for (const { summary: s, record } of rows) {
    const failed = s.results.filter((r) => !r.ok).map((r) => r.id);
    const expectFails = record.expectations.filter((e) => !e.ok).length;
    const verdict =
      failed.length === 0 && expectFails === 0
        ? "all 10 hold"
        : `FAILED: ${[...failed, ...(expectFails ? [`${expectFails} expectation(s)`] : [])].join(", ")}`;
    lines.push(
      `| ${s.drill} | ${s.fault} | ${s.repetitions} | ${s.duplicates} | ${s.lostSlots} | ${s.stuck} | ${s.surviving} | ${(s.maxFailoverGapMs / 1000).toFixed(1)} s | ${verdict} |`,
    );
  }
  return lines.join("\n");
}
