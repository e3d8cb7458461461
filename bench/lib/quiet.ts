import { readFileSync } from "node:fs";
import { sleep } from "./stats.js";

/** Busy and total jiffies of all CPUs since boot (/proc/stat's first line). */
function cpuJiffies(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!;
  return { busy: total - idle, total };
}

/** How busy all cores were over `ms`, in % of the machine. */
export async function machineBusyPercent(ms: number): Promise<number> {
  const a = cpuJiffies();
  await sleep(ms);
  const b = cpuJiffies();
  return (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
}

/**
 * The machine is shared (other engineers' tests use the same cores, PostgreSQL and
 * Redis): before a run, wait until it has been under `maxBusyPercent` for 5 s, at most
 * `maxWaitMs`. Returns the last reading, which the run reports.
 */
export async function waitForQuietMachine(
  maxBusyPercent = 30,
  maxWaitMs = 90_000,
): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const busy = await machineBusyPercent(5000);
    if (busy <= maxBusyPercent || Date.now() > deadline) {
      if (busy > maxBusyPercent)
        console.error(`machine still ${busy.toFixed(0)} % busy after waiting; running anyway`);
      return busy;
    }
    console.error(`machine ${busy.toFixed(0)} % busy; waiting for it to quieten`);
  }
}
