import { createLogger } from "@scheduler/core";
import { databaseNow, listPartitions, maintainPartitions } from "@scheduler/db";
import { test as it, waitFor } from "@scheduler/testkit";
import { sql } from "drizzle-orm";
import { describe, expect } from "vitest";
import { PartitionMaintenanceLoop } from "./maintenance.js";

const log = createLogger({ name: "maintenance-test", level: "silent" });
const TABLES = ["job_executions", "execution_rollups", "audit_events"] as const;
const DAY_MS = 86_400_000;

describe("PartitionMaintenanceLoop", () => {
  it("runs only while leading: creates next month's partitions and drops those past retention", async ({
    database,
  }) => {
    const { db } = database;
    const now = await databaseNow(db);
    const nextMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    // History of two years ago (its months' partitions), and next month's partitions gone.
    await maintainPartitions(db, {
      now: new Date(now.getTime() - 730 * DAY_MS),
      retentionDays: 36_500,
      monthsAhead: 0,
    });
    for (const table of TABLES) {
      const next = (await listPartitions(db, table)).find(
        (p) => p.from?.getTime() === nextMonth.getTime(),
      );
      expect(next, `${table}: next month's partition`).toBeDefined();
      await db.execute(sql.raw(`DROP TABLE ${next!.name}`));
    }
    const nextMonthExists = async () =>
      (
        await Promise.all(
          TABLES.map(async (table) =>
            (
              await listPartitions(db, table)
            ).some((p) => p.from?.getTime() === nextMonth.getTime()),
          ),
        )
      ).every(Boolean);
    const old = async () =>
      (await Promise.all(TABLES.map((table) => listPartitions(db, table))))
        .flat()
        .filter((p) => p.to !== null && p.to.getTime() <= now.getTime() - 90 * DAY_MS);
    const oldBefore = await old();
    expect(oldBefore.length).toBeGreaterThanOrEqual(TABLES.length);

    const leadership = { leading: false, isLeader: () => leadership.leading };
    let droppedCount = 0;
    const loop = new PartitionMaintenanceLoop({
      db,
      leader: leadership,
      retentionDays: 90,
      intervalMs: 3_600_000,
      pollMs: 50,
      log,
      onDropped: (n) => {
        droppedCount += n;
      },
    });
    loop.start();
    try {
      // A follower does nothing.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await nextMonthExists()).toBe(false);
      expect(await old()).toHaveLength(oldBefore.length);

      leadership.leading = true;
      await waitFor(nextMonthExists, { what: "next month's partitions" });
      await waitFor(async () => (await old()).length === 0, { what: "old partitions dropped" });
      expect(droppedCount).toBe(oldBefore.length);
    } finally {
      await loop.stop();
    }
  });
});
