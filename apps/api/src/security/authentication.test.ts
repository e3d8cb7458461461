import { createHmac, createPublicKey, randomUUID, sign } from "node:crypto";
import { test } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { describe, expect } from "vitest";
import { jobBody, TEST_JWT_SECRET, TEST_SERVICE_TOKEN } from "../testApp.js";
import { buildTestApi, rsaKeys, servedRoutes } from "./routes.js";

/**
 * Who may call: tenant JWTs (algorithm confusion, `alg: none` in any letter case,
 * missing or bad time claims, issuer and audience, kid and embedded-key tricks) and the
 * internal service token (wrong length, wrong content, wrong header), on every route.
 */

const ISSUER = "https://id.example.test/";
const AUDIENCE = "scheduler-api";
const keys = rsaKeys();
const otherKeys = rsaKeys();
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

interface TokenParts {
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  /** Signs `header.payload`; the signature part is empty without it. */
  signer?: (input: string) => string;
}

function token({ header = {}, claims = {}, signer }: TokenParts): string {
  const input = `${b64url({ typ: "JWT", ...header })}.${b64url(claims)}`;
  return `${input}.${signer ? signer(input) : ""}`;
}

const hmac =
  (secret: string | Buffer, hash = "sha256") =>
  (input: string) =>
    createHmac(hash, secret).update(input).digest("base64url");
const rsa =
  (privateKey: string, hash = "sha256") =>
  (input: string) =>
    sign(hash, Buffer.from(input), privateKey).toString("base64url");
const pss = (privateKey: string) => (input: string) =>
  sign("sha256", Buffer.from(input), {
    key: privateKey,
    padding: 6, // RSA_PKCS1_PSS_PADDING
    saltLength: 32,
  }).toString("base64url");

const now = () => Math.floor(Date.now() / 1000);
const tenantClaims = () => ({
  sub: randomUUID(),
  tenantId: randomUUID(),
  permissions: ["scheduler:admin"],
  iat: now(),
  exp: now() + 600,
});
const hs = (claims: Record<string, unknown> = tenantClaims(), header = {}) =>
  token({ header: { alg: "HS256", ...header }, claims, signer: hmac(TEST_JWT_SECRET) });
const rs = (claims: Record<string, unknown>, header = {}) =>
  token({ header: { alg: "RS256", ...header }, claims, signer: rsa(keys.privateKey) });
const withIssuer = (claims = tenantClaims()) => ({ ...claims, iss: ISSUER, aud: AUDIENCE });
const without = (claims: Record<string, unknown>, name: string) => {
  const { [name]: _dropped, ...rest } = claims;
  return rest;
};
const attackerJwk = () => createPublicKey(otherKeys.publicKey).export({ format: "jwk" });

/** A request to `METHOD /path` that passes the route's schema, ids random. */
function sampleRequest(route: string) {
  const [method, path] = route.split(" ") as ["GET" | "POST" | "PUT" | "DELETE", string];
  const url = path.replace(/:\w+/g, () => randomUUID());
  const tenant = { tenantId: randomUUID() };
  const payloads: Record<string, unknown> = {
    "POST /api/v1/scheduler/jobs": jobBody(),
    "POST /api/v1/scheduler/jobs/validate": jobBody(),
    "PUT /api/v1/scheduler/jobs/:id": { description: "changed" },
    "POST /internal/jobs/create": { ...jobBody(), ...tenant, createdBy: randomUUID() },
    "POST /internal/jobs/batch-create": { ...tenant, createdBy: randomUUID(), jobs: [jobBody()] },
  };
  let payload = payloads[route];
  if (payload === undefined && method === "POST" && path.startsWith("/internal/")) payload = tenant;
  const query = route === "GET /internal/jobs/:jobId/status" ? `?tenantId=${tenant.tenantId}` : "";
  return { method, url: url + query, payload: payload as object | undefined };
}

const open = (route: string) => / \/(internal\/)?health$/.test(route);
const isTenant = (route: string) => route.includes(" /api/v1/scheduler/");
const isInternal = (route: string) => route.includes(" /internal/") && !open(route);

async function statusOf(
  app: FastifyInstance,
  route: string,
  headers: Record<string, string | string[]>,
) {
  const { method, url, payload } = sampleRequest(route);
  const res = await app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  if (res.statusCode === 401) expect(res.json().error.code).toBe("UNAUTHORIZED");
  return res.statusCode;
}

interface Apps {
  /** HS256 with JWT_SECRET and a service token. */
  hsApp: FastifyInstance;
  /** RS256 with JWT_PUBLIC_KEY, JWT_ISSUER and JWT_AUDIENCE. */
  rsApp: FastifyInstance;
  /** No INTERNAL_SERVICE_TOKEN. */
  noServiceTokenApp: FastifyInstance;
  /** Every route the apps serve. */
  routes: string[];
}

const it = test.extend<{ $file: { apps: Apps } }>({
  apps: [
    async ({ database, testRedis }, use) => {
      const hsApp = await buildTestApi(database, testRedis, {
        JWT_SECRET: TEST_JWT_SECRET,
        INTERNAL_SERVICE_TOKEN: TEST_SERVICE_TOKEN,
      });
      const rsApp = await buildTestApi(database, testRedis, {
        JWT_PUBLIC_KEY: keys.publicKey,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        INTERNAL_SERVICE_TOKEN: TEST_SERVICE_TOKEN,
      });
      const noServiceTokenApp = await buildTestApi(database, testRedis, {
        JWT_SECRET: TEST_JWT_SECRET,
      });
      await Promise.all([hsApp.ready(), rsApp.ready(), noServiceTokenApp.ready()]);
      await use({ hsApp, rsApp, noServiceTokenApp, routes: servedRoutes(hsApp) });
      await Promise.all([hsApp.close(), rsApp.close(), noServiceTokenApp.close()]);
    },
    { scope: "file" },
  ],
});

describe("authentication", () => {
  it("covers every route: tenant routes, internal routes, and only health without auth", ({
    apps: { routes },
  }) => {
    expect(routes.filter(isTenant).length).toBeGreaterThan(20);
    expect(routes.filter(isInternal).length).toBeGreaterThan(5);
    expect(routes.filter((r) => !isTenant(r) && !isInternal(r))).toEqual([
      "GET /health",
      "GET /internal/health",
      "GET /readyz",
      "GET /livez",
    ]);
  });

  describe("tenant JWTs with HS256", () => {
    const refused: [string, () => string][] = [
      ...["none", "None", "NONE", "nOnE", "nonE"].flatMap((alg): [string, () => string][] => [
        [`alg ${alg}, no signature`, () => token({ header: { alg }, claims: tenantClaims() })],
        [
          `alg ${alg} with the HS256 signature kept`,
          () => token({ header: { alg }, claims: tenantClaims(), signer: hmac(TEST_JWT_SECRET) }),
        ],
      ]),
      [
        "no alg at all",
        () => token({ header: {}, claims: tenantClaims(), signer: hmac(TEST_JWT_SECRET) }),
      ],
      ["HS256 with the signature cut off", () => hs().replace(/[^.]+$/, "")],
      [
        "HS256 signed with another secret",
        () =>
          token({
            header: { alg: "HS256" },
            claims: tenantClaims(),
            signer: hmac(`${TEST_JWT_SECRET}x`),
          }),
      ],
      [
        "HS256 signed with an empty secret",
        () => token({ header: { alg: "HS256" }, claims: tenantClaims(), signer: hmac("") }),
      ],
      [
        "HS384 signed with the right secret",
        () =>
          token({
            header: { alg: "HS384" },
            claims: tenantClaims(),
            signer: hmac(TEST_JWT_SECRET, "sha384"),
          }),
      ],
      [
        "HS512 signed with the right secret",
        () =>
          token({
            header: { alg: "HS512" },
            claims: tenantClaims(),
            signer: hmac(TEST_JWT_SECRET, "sha512"),
          }),
      ],
      [
        "RS256 signed by a key of the caller's, its jwk in the header",
        () =>
          token({
            header: { alg: "RS256", jwk: attackerJwk() },
            claims: tenantClaims(),
            signer: rsa(otherKeys.privateKey),
          }),
      ],
      [
        "a kid naming /dev/null, signed with an empty secret",
        () =>
          token({
            header: { alg: "HS256", kid: "../../../../../../dev/null" },
            claims: tenantClaims(),
            signer: hmac(""),
          }),
      ],
      [
        "a kid with SQL in it, signed with another secret",
        () =>
          token({
            header: { alg: "HS256", kid: "x' UNION SELECT 'key" },
            claims: tenantClaims(),
            signer: hmac("key"),
          }),
      ],
      [
        "a jku pointing elsewhere, signed with another secret",
        () =>
          token({
            header: { alg: "HS256", jku: "http://127.0.0.1:1/jwks.json" },
            claims: tenantClaims(),
            signer: hmac("k"),
          }),
      ],
      [
        "an unknown critical header",
        () => hs(tenantClaims(), { crit: ["x-unknown"], "x-unknown": 1 }),
      ],
      [
        "a payload swapped after signing",
        () => {
          const [h, , s] = hs().split(".");
          return `${h}.${b64url(tenantClaims())}.${s}`;
        },
      ],
      ["no exp", () => hs(without(tenantClaims(), "exp"))],
      ["exp as a string", () => hs({ ...tenantClaims(), exp: String(now() + 600) })],
      ["exp passed", () => hs({ ...tenantClaims(), exp: now() - 5 })],
      ["nbf in the future", () => hs({ ...tenantClaims(), nbf: now() + 300 })],
      ["no sub", () => hs(without(tenantClaims(), "sub"))],
      ["no tenantId", () => hs(without(tenantClaims(), "tenantId"))],
      ["a tenantId that is not a UUID", () => hs({ ...tenantClaims(), tenantId: "*" })],
      ["a tenantId list", () => hs({ ...tenantClaims(), tenantId: [randomUUID(), randomUUID()] })],
      [
        "permissions as one string",
        () => hs({ ...tenantClaims(), permissions: "scheduler:admin" }),
      ],
      ["two segments only", () => hs().split(".").slice(0, 2).join(".")],
    ];

    it.for(refused)(
      "refuses %s on every tenant route",
      async ([, make], { apps: { hsApp, routes } }) => {
        const headers = { authorization: `Bearer ${make()}` };
        for (const route of routes.filter(isTenant)) {
          expect(await statusOf(hsApp, route, headers), route).toBe(401);
        }
      },
    );

    it("refuses the HEAD twin of every GET route without a valid token", async ({
      apps: { hsApp, routes },
    }) => {
      for (const route of routes.filter((r) => isTenant(r) || isInternal(r))) {
        if (!route.startsWith("GET ")) continue;
        const { url } = sampleRequest(route);
        for (const headers of [
          {},
          { authorization: `Bearer ${token({ header: { alg: "none" }, claims: tenantClaims() })}` },
        ]) {
          const res = await hsApp.inject({ method: "HEAD", url, headers });
          expect(res.statusCode, `HEAD ${url}`).toBe(401);
        }
      }
    });

    it("accepts a well-formed HS256 token (the control for the cases above)", async ({
      apps: { hsApp, routes },
    }) => {
      const headers = { authorization: `Bearer ${hs()}` };
      for (const route of routes.filter(isTenant)) {
        expect(await statusOf(hsApp, route, headers), route).not.toBe(401);
      }
    });

    it.for([
      ["in the query string", { query: true }],
      ["in a cookie", { cookie: true }],
      ["without the Bearer scheme", { bare: true }],
      ["in X-Service-Token", { service: true }],
    ] as const)("does not take a valid token %s", async ([, where], { apps: { hsApp } }) => {
      const valid = hs();
      const headers: Record<string, string> =
        "cookie" in where
          ? { cookie: `token=${valid}; access_token=${valid}` }
          : "bare" in where
            ? { authorization: valid }
            : "service" in where
              ? { "x-service-token": valid }
              : {};
      const q = "query" in where ? `?token=${valid}&access_token=${valid}` : "";
      const res = await hsApp.inject({ url: `/api/v1/scheduler/status${q}`, headers });
      expect([400, 401]).toContain(res.statusCode);
    });
  });

  describe("tenant JWTs with RS256, issuer and audience configured", () => {
    it.for([
      ...["none", "None", "NONE", "nOnE"].map((alg): [string, () => string] => [
        `alg ${alg}`,
        () => token({ header: { alg }, claims: withIssuer() }),
      ]),
      [
        "HS256 signed with the public key as the HMAC secret",
        () =>
          token({ header: { alg: "HS256" }, claims: withIssuer(), signer: hmac(keys.publicKey) }),
      ],
      [
        "HS256 signed with the public key's DER as the HMAC secret",
        () => {
          const der = createPublicKey(keys.publicKey).export({ format: "der", type: "spki" });
          return token({ header: { alg: "HS256" }, claims: withIssuer(), signer: hmac(der) });
        },
      ],
      [
        "RS256 signed by another key",
        () =>
          token({
            header: { alg: "RS256" },
            claims: withIssuer(),
            signer: rsa(otherKeys.privateKey),
          }),
      ],
      [
        "RS256 by another key whose jwk is in the header",
        () =>
          token({
            header: { alg: "RS256", jwk: attackerJwk() },
            claims: withIssuer(),
            signer: rsa(otherKeys.privateKey),
          }),
      ],
      [
        "RS512 signed by the right key",
        () =>
          token({
            header: { alg: "RS512" },
            claims: withIssuer(),
            signer: rsa(keys.privateKey, "sha512"),
          }),
      ],
      [
        "PS256 signed by the right key",
        () =>
          token({ header: { alg: "PS256" }, claims: withIssuer(), signer: pss(keys.privateKey) }),
      ],
      ["another issuer", () => rs({ ...withIssuer(), iss: "https://evil.example.test/" })],
      ["an issuer that only starts like ours", () => rs({ ...withIssuer(), iss: `${ISSUER}evil` })],
      ["no issuer", () => rs(without(withIssuer(), "iss"))],
      ["another audience", () => rs({ ...withIssuer(), aud: "another-api" })],
      ["no audience", () => rs(without(withIssuer(), "aud"))],
      ["no exp", () => rs(without(withIssuer(), "exp"))],
      ["exp passed", () => rs({ ...withIssuer(), exp: now() - 5 })],
    ] as [string, () => string][])("refuses %s", async ([, make], { apps: { rsApp, routes } }) => {
      const headers = { authorization: `Bearer ${make()}` };
      for (const route of routes.filter(isTenant)) {
        expect(await statusOf(rsApp, route, headers), route).toBe(401);
      }
    });

    it.for([
      ["its issuer and audience", () => rs(withIssuer())],
      ["its audience among others", () => rs({ ...withIssuer(), aud: ["other", AUDIENCE] })],
      ["any kid", () => rs(withIssuer(), { kid: "rotated-2026" })],
    ] as [string, () => string][])(
      "accepts RS256 by the configured key with %s",
      async ([, make], { apps: { rsApp } }) => {
        const res = await rsApp.inject({
          url: "/api/v1/scheduler/jobs",
          headers: { authorization: `Bearer ${make()}` },
        });
        expect(res.statusCode).toBe(200);
      },
    );
  });

  describe("the internal service token", () => {
    const right = TEST_SERVICE_TOKEN;
    const flip = (s: string, i: number) =>
      s.slice(0, i) + (s[i] === "a" ? "b" : "a") + s.slice(i + 1);
    it.for([
      ["no header", {}],
      ["an empty token", { "x-service-token": "" }],
      ["a one-character token", { "x-service-token": right[0]! }],
      ["the token less its last character", { "x-service-token": right.slice(0, -1) }],
      ["the token and one more character", { "x-service-token": `${right}x` }],
      ["the token twice", { "x-service-token": right + right }],
      ["the same length, first character wrong", { "x-service-token": flip(right, 0) }],
      [
        "the same length, last character wrong",
        { "x-service-token": flip(right, right.length - 1) },
      ],
      ["the token in upper case", { "x-service-token": right.toUpperCase() }],
      ["the token sent twice in the header", { "x-service-token": [right, right] }],
      ["the token as a bearer token", { authorization: `Bearer ${right}` }],
      ["the token in another header", { "x-api-key": right, "x-internal-token": right }],
      ["a tenant JWT as a bearer token", { authorization: `Bearer ${hs()}` }],
    ] as [string, Record<string, string | string[]>][])(
      "answers 401 to %s on every internal route",
      async ([, headers], { apps: { hsApp, routes } }) => {
        for (const route of routes.filter(isInternal)) {
          expect(await statusOf(hsApp, route, headers), route).toBe(401);
        }
      },
    );

    it("is not taken from the query string", async ({ apps: { hsApp } }) => {
      const res = await hsApp.inject({
        url: `/internal/jobs/${randomUUID()}/status?tenantId=${randomUUID()}&x-service-token=${right}`,
      });
      expect([400, 401]).toContain(res.statusCode);
    });

    it("is accepted on every internal route, and on no tenant route", async ({
      apps: { hsApp, routes },
    }) => {
      for (const route of routes.filter(isInternal)) {
        expect(await statusOf(hsApp, route, { "x-service-token": right }), route).not.toBe(401);
      }
      for (const route of routes.filter(isTenant)) {
        expect(await statusOf(hsApp, route, { "x-service-token": right }), route).toBe(401);
      }
    });

    it("opens nothing when INTERNAL_SERVICE_TOKEN is not set, whatever is sent", async ({
      apps: { noServiceTokenApp, routes },
    }) => {
      const sent: Record<string, string>[] = [
        {},
        { "x-service-token": "" },
        { "x-service-token": right },
      ];
      for (const headers of sent) {
        for (const route of routes.filter(isInternal)) {
          expect(await statusOf(noServiceTokenApp, route, headers), route).toBe(401);
        }
      }
    });
  });
});

/** The permission each tenant route needs (API.md §Transport); every route must be listed. */
const NEEDS: Record<string, string> = {
  "POST /api/v1/scheduler/jobs": "jobs:write",
  "GET /api/v1/scheduler/jobs": "jobs:read",
  "POST /api/v1/scheduler/jobs/validate": "jobs:write",
  "GET /api/v1/scheduler/jobs/:id": "jobs:read",
  "PUT /api/v1/scheduler/jobs/:id": "jobs:write",
  "DELETE /api/v1/scheduler/jobs/:id": "jobs:write",
  "POST /api/v1/scheduler/jobs/:id/validate": "jobs:write",
  "GET /api/v1/scheduler/jobs/:id/executions": "jobs:read",
  "POST /api/v1/scheduler/jobs/:id/trigger": "jobs:execute",
  "POST /api/v1/scheduler/jobs/:id/pause": "jobs:execute",
  "POST /api/v1/scheduler/jobs/:id/resume": "jobs:execute",
  "POST /api/v1/scheduler/jobs/:id/stop": "jobs:execute",
  "GET /api/v1/scheduler/executions": "jobs:read",
  "GET /api/v1/scheduler/executions/stats": "jobs:read",
  "GET /api/v1/scheduler/executions/:id": "jobs:read",
  "POST /api/v1/scheduler/executions/:id/cancel": "jobs:execute",
  "POST /api/v1/scheduler/executions/:id/retry": "jobs:execute",
  "GET /api/v1/scheduler/audit": "jobs:read",
  "GET /api/v1/scheduler/status": "scheduler:monitor",
  "GET /api/v1/scheduler/metrics": "scheduler:monitor",
  "GET /api/v1/scheduler/queues": "scheduler:monitor",
  "GET /api/v1/scheduler/workers": "scheduler:monitor",
};
const ALL = ["jobs:read", "jobs:write", "jobs:execute", "scheduler:monitor"];

describe("permissions", () => {
  it("are listed for every tenant route", ({ apps: { routes } }) => {
    expect(routes.filter(isTenant).sort()).toEqual(Object.keys(NEEDS).sort());
  });

  it.for(Object.entries(NEEDS))(
    "%s needs %s: every other permission together answers 403",
    async ([route, needed], { apps: { hsApp } }) => {
      const bearer = (permissions: string[]) => ({
        authorization: `Bearer ${hs({ ...tenantClaims(), permissions })}`,
      });
      const others = [
        ...ALL.filter((p) => p !== needed),
        "jobs:*",
        "*",
        "admin",
        "SCHEDULER:ADMIN",
      ];
      expect(await statusOf(hsApp, route, bearer(others))).toBe(403);
      expect(await statusOf(hsApp, route, bearer([]))).toBe(403);
      expect(await statusOf(hsApp, route, bearer([needed]))).not.toBe(403);
      expect(await statusOf(hsApp, route, bearer(["scheduler:admin"]))).not.toBe(403);
    },
  );
});
