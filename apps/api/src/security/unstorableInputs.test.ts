import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { describe, expect } from "vitest";
import { MAX_JSON_DEPTH } from "../plugins/hostileInput.js";
import {
  API,
  auth,
  createJob,
  apiTest as it,
  jobBody,
  newTenant,
  TEST_SERVICE_TOKEN,
  type Tenant,
} from "../testApp.js";

/**
 * Input no part of the service can hold or send: NUL characters anywhere, JSON nested
 * thousands deep, header values an HTTP request cannot carry, and the headers the
 * scheduler reserves. Each answers 400 in the error envelope, and nothing is stored.
 */

const NUL = "\u0000";

/** `levels` nested objects around a string. */
function nested(levels: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

/** Stands for JSON nested 5,000 deep, spliced in as text: too deep for JSON.stringify here. */
const DEEP = "__json_nested_5000_deep__";
const DEEP_JSON = `${'{"a":'.repeat(5000)}"leaf"${"}".repeat(5000)}`;

/** The JSON text of a request body, with DEEP replaced. */
function payloadOf(body: object): string {
  return JSON.stringify(body).replace(`"${DEEP}"`, DEEP_JSON);
}
const JSON_HEADERS = { "content-type": "application/json" };

const httpConfig = (extra: Record<string, unknown>) => ({
  url: "https://example.com/hook",
  method: "POST",
  ...extra,
});

async function jobsOf(app: FastifyInstance, tenant: Tenant): Promise<unknown[]> {
  const res = await app.inject({ url: `${API}/jobs`, headers: auth(tenant.token()) });
  return res.json().data;
}

function expectEnvelope(res: { statusCode: number; json(): unknown }, code: string) {
  expect(res.statusCode).toBe(400);
  const body = res.json() as { error: { code: string; message: string }; path: string };
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(typeof body.path).toBe("string");
}

const UNSTORABLE_BODIES: [string, Record<string, unknown>, string][] = [
  ["a NUL in the name", { name: `a${NUL}b` }, "VALIDATION_ERROR"],
  ["a NUL in the description", { description: `d${NUL}` }, "VALIDATION_ERROR"],
  ["a lone surrogate in the name", { name: "a\ud800b" }, "VALIDATION_ERROR"],
  [
    "a lone surrogate in a nested body value",
    { config: httpConfig({ body: { a: ["\udc00"] } }) },
    "VALIDATION_ERROR",
  ],
  ["a NUL in a tag", { tags: ["ok", `t${NUL}`] }, "VALIDATION_ERROR"],
  ["a NUL in the cron expression", { cronExpression: `0 * * * *${NUL}` }, "VALIDATION_ERROR"],
  ["a NUL in the timezone", { timezone: `UTC${NUL}` }, "VALIDATION_ERROR"],
  [
    "a NUL in the URL",
    { config: httpConfig({ url: `https://example.com/${NUL}` }) },
    "VALIDATION_ERROR",
  ],
  ["a NUL in a string body", { config: httpConfig({ body: `x${NUL}y` }) }, "VALIDATION_ERROR"],
  [
    "a NUL in a nested body value",
    { config: httpConfig({ body: { a: [{ b: NUL }] } }) },
    "VALIDATION_ERROR",
  ],
  ["a NUL in a body key", { config: httpConfig({ body: { [`k${NUL}`]: 1 } }) }, "VALIDATION_ERROR"],
  [
    "a NUL in a header value",
    { config: httpConfig({ headers: { "x-a": `v${NUL}` } }) },
    "VALIDATION_ERROR",
  ],
  [
    "a NUL in a header name",
    { config: httpConfig({ headers: { [`x-a${NUL}`]: "v" } }) },
    "VALIDATION_ERROR",
  ],
  [
    "a NUL in function parameters",
    {
      jobType: "function",
      config: { modulePath: "m.js", functionName: "f", parameters: { p: NUL } },
    },
    "VALIDATION_ERROR",
  ],
  [
    "JSON nested 5,000 deep in the body",
    { config: httpConfig({ body: DEEP }) },
    "VALIDATION_ERROR",
  ],
  [
    `JSON nested ${MAX_JSON_DEPTH} deep in function parameters`,
    {
      jobType: "function",
      config: { modulePath: "m.js", functionName: "f", parameters: nested(MAX_JSON_DEPTH) },
    },
    "VALIDATION_ERROR",
  ],
  [
    "a CR LF in a header value",
    { config: httpConfig({ headers: { "x-a": "v\r\nx-b: forged" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "a lone LF in a header value",
    { config: httpConfig({ headers: { "x-a": "v\nw" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "a lone CR in a header value",
    { config: httpConfig({ headers: { "x-a": "v\rw" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "a control character in a header value",
    { config: httpConfig({ headers: { "x-a": "v\u0007" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "a header value outside Latin-1",
    { config: httpConfig({ headers: { "x-a": "price €5" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "an emoji in a header value",
    { config: httpConfig({ headers: { "x-a": "🙂" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "the reserved X-Scheduler-Execution-Id header",
    { config: httpConfig({ headers: { "X-Scheduler-Execution-Id": "forged" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "a reserved header in another case",
    { config: httpConfig({ headers: { "x-SCHEDULER-attempt": "9" } }) },
    "INVALID_JOB_CONFIG",
  ],
  [
    "any X-Scheduler- header",
    { config: httpConfig({ headers: { "X-Scheduler-Anything": "x" } }) },
    "INVALID_JOB_CONFIG",
  ],
];

describe("unstorable job definitions", () => {
  it.for(UNSTORABLE_BODIES)(
    "refuses %s at create, update and internal create, storing nothing",
    async ([, overrides, code], { app }) => {
      const tenant = newTenant();
      const create = await app.inject({
        method: "POST",
        url: `${API}/jobs`,
        headers: { ...auth(tenant.token()), ...JSON_HEADERS },
        payload: payloadOf(jobBody(overrides)),
      });
      expectEnvelope(create, code);
      expect(await jobsOf(app, tenant)).toEqual([]);

      const internal = await app.inject({
        method: "POST",
        url: "/internal/jobs/create",
        headers: { "x-service-token": TEST_SERVICE_TOKEN, ...JSON_HEADERS },
        payload: payloadOf({
          ...jobBody(overrides),
          tenantId: tenant.tenantId,
          createdBy: tenant.userId,
        }),
      });
      expectEnvelope(internal, code);
      expect(await jobsOf(app, tenant)).toEqual([]);

      const job = await createJob(app, tenant);
      const update = await app.inject({
        method: "PUT",
        url: `${API}/jobs/${job.id}`,
        headers: { ...auth(tenant.token()), ...JSON_HEADERS },
        payload: payloadOf(overrides),
      });
      expectEnvelope(update, code);
      const stored = await app.inject({
        url: `${API}/jobs/${job.id}`,
        headers: auth(tenant.token()),
      });
      expect(stored.json()).toEqual(job);
    },
  );

  it.for(UNSTORABLE_BODIES)("does not call %s valid", async ([, overrides, code], { app }) => {
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/validate`,
      headers: { ...auth(newTenant().token()), ...JSON_HEADERS },
      payload: payloadOf(jobBody(overrides)),
    });
    if (res.statusCode === 200) {
      expect(res.json().valid).toBe(false);
      expect(res.json().errors.map((e: { code: string }) => e.code)).toContain(code);
    } else {
      expectEnvelope(res, code);
    }
  });

  it("refuses a batch with one unstorable job, storing none", async ({ app }) => {
    const tenant = newTenant();
    const res = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: { "x-service-token": TEST_SERVICE_TOKEN },
      payload: {
        tenantId: tenant.tenantId,
        createdBy: tenant.userId,
        jobs: [jobBody(), jobBody({ tags: [`t${NUL}`] })],
      },
    });
    expectEnvelope(res, "VALIDATION_ERROR");
    expect(await jobsOf(app, tenant)).toEqual([]);
  });

  it("accepts a body nested just under the bound, and Latin-1 header values", async ({ app }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, {
      config: httpConfig({
        body: nested(MAX_JSON_DEPTH - 4),
        headers: { "x-name": "café\tcrème", "x-scheduled-by": "me" },
      }),
    });
    expect(job.id).toBeTruthy();
  });
});

describe("unstorable filters and ids", () => {
  it.for([
    `/jobs?name=a${encodeURIComponent(NUL)}`,
    `/jobs?tag=${encodeURIComponent(NUL)}`,
    `/executions?cursor=${encodeURIComponent(NUL)}`,
    `/audit?action=${encodeURIComponent(NUL)}`,
    `/audit?targetId=${encodeURIComponent(NUL)}`,
    `/jobs/${encodeURIComponent(NUL)}`,
    `/executions/${randomUUID().slice(0, 35)}${encodeURIComponent(NUL)}`,
  ])("answers %s with 400 in the envelope", async (path, { app }) => {
    const res = await app.inject({ url: `${API}${path}`, headers: auth(newTenant().token()) });
    expectEnvelope(res, "VALIDATION_ERROR");
  });
});
