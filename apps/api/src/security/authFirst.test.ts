import { randomUUID } from "node:crypto";
import { signTestJwt, test } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { describe, expect } from "vitest";
import { BODY_LIMIT_BYTES } from "../app.js";
import { TEST_JWT_SECRET, TEST_SERVICE_TOKEN } from "../testApp.js";
import { buildTestApi, servedRoutes } from "./routes.js";

/**
 * 401, then 403, then everything else (400, 404, 409, 413, 415), on every route the app
 * has registered: a request that is wrong in every other way still learns only that it
 * is not authenticated, or not allowed.
 */

const isOpen = (route: string) => / \/(internal\/)?health$/.test(route);
const isTenant = (route: string) => route.includes(" /api/v1/scheduler/");
const isInternal = (route: string) => route.includes(" /internal/") && !isOpen(route);

type Method = "GET" | "POST" | "PUT" | "DELETE";

interface Probe {
  method: Method;
  url: string;
  headers?: Record<string, string>;
  payload?: string | object;
}

/** Ways a request can be wrong besides its credentials; each on every route. */
const MALFORMED: Record<string, (route: string) => Probe> = {
  "bad ids, unknown query, a body of invalid JSON": (route) => ({
    ...target(route),
    headers: { "content-type": "application/json" },
    payload: "{not json",
  }),
  "bad ids, unknown query, a body the schema refuses": (route) => ({
    ...target(route),
    payload: { name: 7, cronExpression: [], jobType: "nope", tenantId: "x", jobs: "y" },
  }),
  "bad ids, unknown query, a text/plain body": (route) => ({
    ...target(route),
    headers: { "content-type": "text/plain" },
    payload: "hello",
  }),
  "bad ids, unknown query, a body over the limit": (route) => ({
    ...target(route),
    headers: { "content-type": "application/json" },
    payload: `"${"x".repeat(BODY_LIMIT_BYTES + 10)}"`,
  }),
};

/** `METHOD /path` with every `:param` malformed and a query no route accepts. */
function target(route: string): { method: Method; url: string } {
  const [method, path] = route.split(" ") as [Method, string];
  const url = path.replace(/:\w+/g, "not-a-uuid");
  return { method, url: `${url}?limit=abc&count=-1&from=never&tenantId=x&unknown=1` };
}

const it = test.extend<{ $file: { app: FastifyInstance; routes: string[] } }>({
  app: [
    async ({ database, testRedis }, use) => {
      const app = await buildTestApi(database, testRedis, {
        JWT_SECRET: TEST_JWT_SECRET,
        INTERNAL_SERVICE_TOKEN: TEST_SERVICE_TOKEN,
      });
      await app.ready();
      await use(app);
      await app.close();
    },
    { scope: "file" },
  ],
  routes: [async ({ app }, use) => use(servedRoutes(app)), { scope: "file" }],
});

const bearer = (permissions: string[]) => ({
  authorization: `Bearer ${signTestJwt({ sub: randomUUID(), tenantId: randomUUID(), permissions }, TEST_JWT_SECRET)}`,
});

async function answer(app: FastifyInstance, probe: Probe, headers: Record<string, string>) {
  const res = await app.inject({ ...probe, headers: { ...probe.headers, ...headers } });
  return {
    status: res.statusCode,
    code: (res.json() as { error?: { code?: string } }).error?.code,
  };
}

describe("authentication first", () => {
  it("walks a route table that has the tenant and internal routes", ({ routes }) => {
    expect(routes.filter(isTenant).length).toBeGreaterThan(20);
    expect(routes.filter(isInternal).length).toBeGreaterThan(5);
  });

  it.for(Object.keys(MALFORMED))(
    "answers 401 without a token, whatever else is wrong: %s",
    async (name, { app, routes }) => {
      for (const route of routes.filter((r) => isTenant(r) || isInternal(r))) {
        const res = await answer(app, MALFORMED[name]!(route), {});
        expect(res, route).toEqual({ status: 401, code: "UNAUTHORIZED" });
      }
    },
  );

  it.for(Object.keys(MALFORMED))(
    "answers 401 to an invalid bearer token, whatever else is wrong: %s",
    async (name, { app, routes }) => {
      const forged = {
        authorization: `Bearer ${bearer(["scheduler:admin"]).authorization.slice(7, -2)}xx`,
      };
      for (const route of routes.filter(isTenant)) {
        const res = await answer(app, MALFORMED[name]!(route), forged);
        expect(res, route).toEqual({ status: 401, code: "UNAUTHORIZED" });
      }
    },
  );

  it.for(Object.keys(MALFORMED))(
    "answers 403 to a valid token without the permission, whatever else is wrong: %s",
    async (name, { app, routes }) => {
      for (const route of routes.filter(isTenant)) {
        const res = await answer(app, MALFORMED[name]!(route), bearer(["jobs:none"]));
        expect(res, route).toEqual({ status: 403, code: "FORBIDDEN" });
      }
    },
  );

  it.for(Object.keys(MALFORMED))(
    "answers 401 to a wrong service token on internal routes, whatever else is wrong: %s",
    async (name, { app, routes }) => {
      for (const route of routes.filter(isInternal)) {
        for (const token of [`${TEST_SERVICE_TOKEN}x`, ""]) {
          const res = await answer(app, MALFORMED[name]!(route), { "x-service-token": token });
          expect(res, route).toEqual({ status: 401, code: "UNAUTHORIZED" });
        }
      }
    },
  );

  it.for(Object.keys(MALFORMED))(
    "answers the request's own error, never 401, 403 or a 5xx, once allowed: %s",
    async (name, { app, routes }) => {
      const allowed = { ...bearer(["scheduler:admin"]), "x-service-token": TEST_SERVICE_TOKEN };
      for (const route of routes.filter((r) => isTenant(r) || isInternal(r))) {
        const res = await answer(app, MALFORMED[name]!(route), allowed);
        expect([401, 403], `${route} ${JSON.stringify(res)}`).not.toContain(res.status);
        expect(res.status, `${route} ${JSON.stringify(res)}`).toBeLessThan(500);
      }
    },
  );

  it("refuses to register a tenant or internal route without an auth hook", async ({
    database,
    testRedis,
  }) => {
    const app = await buildTestApi(database, testRedis, { JWT_SECRET: TEST_JWT_SECRET });
    try {
      for (const url of ["/api/v1/scheduler/unguarded", "/internal/unguarded"]) {
        expect(() => app.get(url, async () => ({})), url).toThrow(/no onRequest auth hook/);
        expect(() => app.get(url, { preHandler: async () => {} }, async () => ({}))).toThrow(
          /no onRequest auth hook/,
        );
      }
      expect(() => app.get("/elsewhere", async () => ({}))).not.toThrow();
      await app.ready();
    } finally {
      await app.close();
    }
  });
});
