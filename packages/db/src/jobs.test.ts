import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@scheduler/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findJob, insertJobs } from "./queries/jobs.js";
import type { NewJobRow } from "./schema.js";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

function newJob(tenantId: string, overrides: Partial<NewJobRow> = {}): NewJobRow {
  return {
    name: `job-${randomUUID()}`,
    cronExpression: "0 0 * * * *",
    timezone: "Europe/Berlin",
    jobType: "http",
    config: { url: 'https://example.com/a"b\\c,{}', method: "GET", headers: { x: "1" } },
    retryConfig: null,
    description: null,
    startDate: new Date("2031-01-02T03:04:05.678Z"),
    endDate: null,
    maxExecutions: 5,
    tags: ["a", "b,c"],
    nextExecutionAt: new Date("2031-01-02T04:00:00.000Z"),
    tenantId,
    createdBy: randomUUID(),
    ...overrides,
  };
}

describe("insertJobs", () => {
  it("stores every row of a batch as one read back finds it, defaults included", async () => {
    const tenantId = randomUUID();
    const rows = [
      newJob(tenantId),
      newJob(tenantId, { description: "second", retryConfig: { maxRetries: 2 } }),
      newJob(tenantId, { startDate: null, maxExecutions: null, tags: [] }),
    ];
    const inserted = await insertJobs(database.db, rows);
    expect(inserted.map((r) => r.name)).toEqual(rows.map((r) => r.name));
    for (const row of inserted) {
      expect(row).toEqual(await findJob(database.db, tenantId, row.id));
      expect(row.status).toBe("active");
      expect(row.executionCount).toBe(0);
      expect(row.createdAt).toBeInstanceOf(Date);
    }
    expect(inserted[0]!.config).toEqual(rows[0]!.config);
    expect(inserted[0]!.startDate).toEqual(rows[0]!.startDate);
    expect(inserted[1]!.retryConfig).toEqual({ maxRetries: 2 });
    expect(inserted[2]!.tags).toEqual([]);
  });

  it("takes rows that leave different columns to their defaults", async () => {
    const tenantId = randomUUID();
    const { timezone: _, ...withoutZone } = newJob(tenantId);
    const [a, b] = await insertJobs(database.db, [withoutZone, newJob(tenantId)]);
    expect(a!.timezone).toBe("UTC");
    expect(b!.timezone).toBe("Europe/Berlin");
  });
});
