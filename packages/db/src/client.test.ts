import { OwnPostgres } from "@scheduler/testkit/harness";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool } from "./client.js";

let postgres: OwnPostgres;
beforeAll(async () => {
  postgres = await OwnPostgres.start();
}, 60_000);
afterAll(async () => {
  await postgres?.dispose();
});

describe("createPool", () => {
  it("survives PostgreSQL going away under a transaction between two statements", async () => {
    const pool = createPool(postgres.url(), { max: 2 });
    const client = await pool.connect();
    await client.query("BEGIN");
    // Without a listener on the checked-out client, its 'error' event is unhandled and
    // ends the process (vitest reports it as an unhandled error). The test adds none.
    await postgres.stopServer("immediate");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await expect(client.query("SELECT 1")).rejects.toThrow();
    client.release(true);
    await postgres.startServer();
    const { rows } = await pool.query<{ one: number }>("SELECT 1 AS one");
    expect(rows[0]!.one).toBe(1);
    await pool.end();
  }, 60_000);
});
