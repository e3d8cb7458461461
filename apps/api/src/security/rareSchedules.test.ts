import { describe, expect } from "vitest";
import { API, auth, apiTest as it, jobBody, newTenant } from "../testApp.js";

/**
 * Listing fire times of rare schedules (`validate?count=100` searches 30 years) is CPU
 * work on the API's event loop. A burst of it must leave other requests served in
 * between: `/health` answers while the burst is still being worked through.
 */

const RARE = ["* 2 1#5", "? 2 5L", "* 2 6#5", "L 2 *", "? 2 0L", "29 2 *"];
const BURST = 200;

describe("a burst of rare-schedule validations", () => {
  it("answers every one, and /health before the burst is done", async ({ app }) => {
    const token = newTenant().token();
    const order: string[] = [];
    const validations = Array.from({ length: BURST }, (_, i) =>
      app
        .inject({
          method: "POST",
          url: `${API}/jobs/validate?count=100&from=2026-01-01T00:00:00Z`,
          headers: auth(token),
          payload: jobBody({
            cronExpression: `${i % 60} ${Math.floor(i / 60)} 0 ${RARE[i % RARE.length]}`,
            timezone: "America/New_York",
          }),
        })
        .then((res) => {
          order.push("validate");
          return res;
        }),
    );
    const health = app.inject({ url: "/health" }).then((res) => {
      order.push("health");
      return res;
    });
    const answers = await Promise.all(validations);
    expect((await health).statusCode).toBe(200);
    for (const res of answers) {
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().valid).toBe(true);
      expect(res.json().nextExecutions.length).toBeGreaterThan(0);
    }
    expect(order.indexOf("health")).toBeLessThan(BURST / 2);
  });
});
