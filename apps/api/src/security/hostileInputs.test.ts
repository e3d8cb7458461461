import { describe, expect } from "vitest";
import { API, auth, apiTest as it, newTenant } from "../testApp.js";

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("hostile list inputs", () => {
  it.for([
    ["an id of dashes only", [Date.now(), "-".repeat(36)]],
    ["a time out of range", [1e20, "00000000-0000-4000-8000-000000000000"]],
    ["a negative time", [-1e16, "00000000-0000-4000-8000-000000000000"]],
    ["a fraction of a millisecond", [0.5, "00000000-0000-4000-8000-000000000000"]],
    ["SQL in the id", [Date.now(), "' OR 1=1 --' OR 1=1 --' OR 1=1 --'"]],
    ["an object", { at: 1, id: "x" }],
  ] as const)("answers 400, not 500, to a cursor with %s", async ([, value], { app }) => {
    const tenant = newTenant();
    for (const path of ["/jobs", "/executions", "/audit"]) {
      const res = await app.inject({
        url: `${API}${path}?cursor=${cursorOf(value)}`,
        headers: auth(tenant.token()),
      });
      expect(res.statusCode, `${path} ${res.body}`).toBeLessThan(500);
    }
  });
});

describe("hostile instants", () => {
  it.for([
    "/executions/stats?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
    "/executions?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
    "/audit?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
    "/executions/stats?from=1969-12-31T23:59:59.999Z",
  ])("answers %s without a 500", async (path, { app }) => {
    const res = await app.inject({ url: `${API}${path}`, headers: auth(newTenant().token()) });
    expect(res.statusCode, res.body).toBeLessThan(500);
  });

  it("lists fire times up to the end of the calendar without a 500", async ({ app }) => {
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/validate?count=100&from=9999-12-31T23:59:00Z`,
      headers: auth(newTenant().token()),
      payload: {
        name: "far-future",
        cronExpression: "* * * * * *",
        jobType: "http",
        config: { url: "https://example.com/", method: "GET" },
      },
    });
    expect(res.statusCode, res.body).toBeLessThan(500);
  });
});
