import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { HttpJobConfig } from "../job.js";
import {
  ExecutionError,
  MAX_KEPT_BODY_BYTES,
  type RunContext,
  runHttpJob,
  type TargetPolicy,
} from "./http.js";
import { HttpAgents } from "./httpAgents.js";

interface SeenRequest {
  port: number;
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  method?: string;
  /** The server address the request came in on, and the client port: one per connection. */
  localAddress?: string;
  remotePort?: number;
}

/** Every test talks only to these two servers, both on 127.0.0.1. */
let servers: Server[] = [];
let base: string;
let otherBase: string;
let port: number;
let seen: SeenRequest[] = [];
let connects: ReturnType<typeof vi.spyOn>;

/** The policies of a test, with the connections of its describe block (see the end). */
let local: TargetPolicy;
let onlyOneLoopback: TargetPolicy;

/** Each test of the block runs with an HttpAgents of its own, or without (one per hop). */
function withConnections(shared: boolean): void {
  let agents: HttpAgents | undefined;
  beforeEach(() => {
    agents = shared ? new HttpAgents() : undefined;
    local = { allowedCidrs: ["127.0.0.0/8"], agents };
    onlyOneLoopback = { allowedCidrs: ["127.0.0.1/32"], agents };
  });
  afterEach(async () => {
    await agents?.close();
  });
}

async function startServer(host = "127.0.0.1", at = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const serverPort = (server.address() as { port: number }).port;
      seen.push({
        port: serverPort,
        path: url.pathname,
        headers: req.headers,
        body,
        method: req.method,
        localAddress: req.socket.localAddress,
        remotePort: req.socket.remotePort,
      });
      if (url.pathname === "/slow") return void setTimeout(() => res.end("late"), 2000);
      if (url.pathname === "/huge") return void res.end("y".repeat(MAX_KEPT_BODY_BYTES * 2));
      if (url.pathname === "/redirect") {
        const status = Number(url.searchParams.get("status") ?? 302);
        return void res
          .writeHead(status, { location: url.searchParams.get("to") ?? "/" })
          .end("moved");
      }
      if (url.pathname === "/chain") {
        const left = Number(url.searchParams.get("n"));
        if (left > 0) return void res.writeHead(302, { location: `/chain?n=${left - 1}` }).end();
        return void res.end("end of chain");
      }
      res.writeHead(Number(url.searchParams.get("status") ?? 200)).end("hello");
    });
  });
  server.listen(at, host);
  await once(server, "listening");
  servers.push(server);
  return { server, port: (server.address() as { port: number }).port };
}

beforeAll(async () => {
  port = (await startServer()).port;
  base = `http://127.0.0.1:${port}`;
  otherBase = `http://127.0.0.1:${(await startServer()).port}`;
});
afterAll(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  servers = [];
});
beforeEach(() => {
  seen = [];
  connects = vi.spyOn(Socket.prototype, "connect");
});
afterEach(() => {
  connects.mockRestore();
});

/** The hosts sockets were asked to connect to during the test. */
function connectedHosts(): string[] {
  return connects.mock.calls.map((args: unknown[]) => {
    const [first] = args;
    const options = Array.isArray(first) ? first[0] : first;
    return String((options as { host?: string }).host);
  });
}

function ctx(signal = new AbortController().signal): RunContext {
  return { executionId: "job:1000", scheduledAt: new Date(1000), attempt: 2, signal };
}

async function failure(promise: Promise<unknown>): Promise<ExecutionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExecutionError);
  return error as ExecutionError;
}

function redirectTo(target: string, status = 302, from = base): string {
  return `${from}/redirect?status=${status}&to=${encodeURIComponent(target)}`;
}

/** A DNS stand-in: answers each call with the next list, and records the names asked. */
function scriptedLookup(...answers: string[][]) {
  const names: string[] = [];
  const lookup = async (hostname: string): Promise<LookupAddress[]> => {
    names.push(hostname);
    const next = answers[Math.min(names.length, answers.length) - 1] ?? [];
    return next.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { lookup, names };
}

describe.for([
  { connections: "one per hop", shared: false },
  { connections: "kept by HttpAgents", shared: true },
])("with connections $connections", ({ shared }) => {
  withConnections(shared);

  describe("runHttpJob", () => {
    it("sends the execution headers and the JSON body, and keeps status and body", async () => {
      const config = HttpJobConfig.parse({ url: `${base}/ok`, method: "POST", body: { a: 1 } });
      const result = await runHttpJob(config, ctx(), local);
      expect(result).toEqual({
        success: true,
        result: "hello",
        metadata: { statusCode: 200, truncated: false },
      });
      const [request] = seen;
      expect(request?.headers["x-scheduler-execution-id"]).toBe("job:1000");
      expect(request?.headers["x-scheduler-scheduled-at"]).toBe("1970-01-01T00:00:01.000Z");
      expect(request?.headers["x-scheduler-attempt"]).toBe("2");
      expect(request?.headers["content-type"]).toBe("application/json");
      expect(request?.body).toBe('{"a":1}');
    });

    it.each([
      ["a 503, retryable by default", "?status=503", {}, "SYSTEM_ERROR"],
      ["a 429, retryable by default", "?status=429", {}, "SYSTEM_ERROR"],
      ["a 404, not retryable", "?status=404", {}, "USER_ERROR"],
      ["a 200 when 201 is expected", "?status=200", { expectedStatusCode: 201 }, "USER_ERROR"],
      [
        "a 404 listed in retryOnStatusCodes",
        "?status=404",
        { retryOnStatusCodes: [404] },
        "SYSTEM_ERROR",
      ],
      [
        "a 503 not listed in retryOnStatusCodes",
        "?status=503",
        { retryOnStatusCodes: [502] },
        "USER_ERROR",
      ],
    ])("classifies %s", async (_case, query, extra, errorType) => {
      const config = HttpJobConfig.parse({ url: `${base}/s${query}`, ...extra });
      const error = await failure(runHttpJob(config, ctx(), local));
      expect(error.errorType).toBe(errorType);
      expect(error.result?.metadata?.statusCode).toBe(Number(query.split("=")[1]));
    });

    it("accepts the expected status code even when it is not 2xx", async () => {
      const config = HttpJobConfig.parse({ url: `${base}/s?status=302`, expectedStatusCode: 302 });
      expect((await runHttpJob(config, ctx(), local)).success).toBe(true);
    });

    it("fails with TIMEOUT when the config's timeout passes", async () => {
      const config = HttpJobConfig.parse({ url: `${base}/slow`, timeout: 100 });
      expect((await failure(runHttpJob(config, ctx(), local))).errorType).toBe("TIMEOUT");
    });

    it("fails with CANCELLED when the run's signal aborts", async () => {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const config = HttpJobConfig.parse({ url: `${base}/slow` });
      const error = await failure(runHttpJob(config, ctx(controller.signal), local));
      expect(error.errorType).toBe("CANCELLED");
    });

    it("fails with NETWORK_ERROR when nothing listens", async () => {
      const config = HttpJobConfig.parse({ url: "http://127.0.0.1:1/closed" });
      expect((await failure(runHttpJob(config, ctx(), local))).errorType).toBe("NETWORK_ERROR");
    });

    it("keeps at most 64 KiB of the response body", async () => {
      const result = await runHttpJob(HttpJobConfig.parse({ url: `${base}/huge` }), ctx(), local);
      expect((result.result as string).length).toBe(MAX_KEPT_BODY_BYTES);
      expect(result.metadata?.truncated).toBe(true);
    });
  });

  describe("runHttpJob target checks", () => {
    it("refuses 127.0.0.1 under the default policy, before connecting", async () => {
      const error = await failure(runHttpJob(HttpJobConfig.parse({ url: `${base}/ok` }), ctx()));
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(error.message).toMatch(/^config\.url host 127\.0\.0\.1 is not a public address/);
      expect(connects).not.toHaveBeenCalled();
      expect(seen).toEqual([]);
    });

    it.each([
      ["only 10.0.0.0/8 is allowed", ["10.0.0.0/8"], false],
      ["127.0.0.0/8 is allowed", ["127.0.0.0/8"], true],
    ])(
      "treats IPv4-mapped [::ffff:127.0.0.1] as 127.0.0.1 when %s",
      async (_case, allowedCidrs, ok) => {
        const config = HttpJobConfig.parse({ url: `http://[::ffff:127.0.0.1]:${port}/ok` });
        const run = runHttpJob(config, ctx(), { allowedCidrs });
        if (ok) {
          expect((await run).success).toBe(true);
        } else {
          expect((await failure(run)).errorType).toBe("VALIDATION_ERROR");
          expect(connects).not.toHaveBeenCalled();
        }
      },
    );

    it("refuses localhost names before any lookup when loopback is not allowed", async () => {
      const dns = scriptedLookup(["127.0.0.1"]);
      const config = HttpJobConfig.parse({ url: `http://localhost.:${port}/ok` });
      const error = await failure(
        runHttpJob(config, ctx(), { allowedCidrs: ["10.0.0.0/8"], lookup: dns.lookup }),
      );
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(dns.names).toEqual([]);
      expect(connects).not.toHaveBeenCalled();
    });

    it.each([
      ["cloud metadata", "http://169.254.169.254/latest/meta-data", "169.254.169.254"],
      ["metadata in hex", "http://0xa9fea9fe/latest/meta-data", "169.254.169.254"],
      ["IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe"],
      ["a private address", "http://10.0.0.1/", "10.0.0.1"],
      ["an IPv6 ULA", "http://[fd00::1]/", "fd00::1"],
      ["IPv6 loopback", "http://[::1]/", "::1"],
      ["another loopback address", "http://127.0.0.2/", "127.0.0.2"],
      ["another loopback address in decimal", "http://2130706434/", "127.0.0.2"],
      ["an ftp URL", "ftp://example.com/", "example.com"],
    ])("refuses a redirect to %s before connecting to it", async (_case, target, address) => {
      const config = HttpJobConfig.parse({ url: redirectTo(target) });
      const error = await failure(runHttpJob(config, ctx(), onlyOneLoopback));
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(error.message).toMatch(/^redirect 1 location /);
      expect(seen).toHaveLength(1);
      expect(connectedHosts()).toEqual(["127.0.0.1"]);
      expect(connectedHosts()).not.toContain(address);
    });

    it("refuses a name when any of its addresses is not allowed, without naming them", async () => {
      const dns = scriptedLookup(["127.0.0.1", "10.1.2.3"]);
      const config = HttpJobConfig.parse({ url: `http://mixed.test:${port}/ok` });
      const error = await failure(runHttpJob(config, ctx(), { ...local, lookup: dns.lookup }));
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(error.message).toContain("mixed.test");
      expect(error.message).not.toMatch(/127\.0\.0\.1|10\.1\.2\.3/);
      expect(connects).not.toHaveBeenCalled();
    });

    it("connects to the checked address although DNS would answer differently later", async () => {
      // First answer allowed, second one not: a rebinding attack. Both stay on loopback.
      const dns = scriptedLookup(["127.0.0.1"], ["127.0.0.2"]);
      const config = HttpJobConfig.parse({ url: `http://pinned.test:${port}/ok` });
      const result = await runHttpJob(config, ctx(), { ...onlyOneLoopback, lookup: dns.lookup });
      expect(result.success).toBe(true);
      expect(dns.names).toEqual(["pinned.test"]);
      expect(seen).toHaveLength(1);
      expect(seen[0]?.headers.host).toBe(`pinned.test:${port}`);
    });

    it("looks up once per hop and checks every hop's answer", async () => {
      const dns = scriptedLookup(["127.0.0.1"], ["127.0.0.1"], ["127.0.0.2"]);
      const policy = { ...onlyOneLoopback, lookup: dns.lookup };
      const second = `http://second.test:${port}/redirect?to=${encodeURIComponent(`http://third.test:${port}/ok`)}`;
      const config = HttpJobConfig.parse({
        url: redirectTo(second, 302, `http://first.test:${port}`),
      });
      const error = await failure(runHttpJob(config, ctx(), policy));
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(error.message).toMatch(/^redirect 2 location host third\.test resolves/);
      expect(dns.names).toEqual(["first.test", "second.test", "third.test"]);
      expect(seen.map((r) => r.headers.host)).toEqual([
        `first.test:${port}`,
        `second.test:${port}`,
      ]);
    });

    it("fails with NETWORK_ERROR when the name does not resolve", async () => {
      const lookup = () => Promise.reject(Object.assign(new Error("nope"), { code: "ENOTFOUND" }));
      const config = HttpJobConfig.parse({ url: "http://missing.test/" });
      const error = await failure(runHttpJob(config, ctx(), { ...local, lookup }));
      expect(error.errorType).toBe("NETWORK_ERROR");
      expect(error.message).toBe("cannot resolve missing.test: ENOTFOUND");
    });

    it("fails with TIMEOUT when the lookup outlasts the timeout", async () => {
      const lookup = () => new Promise<LookupAddress[]>(() => {});
      const config = HttpJobConfig.parse({ url: "http://slow-dns.test/", timeout: 100 });
      expect((await failure(runHttpJob(config, ctx(), { ...local, lookup }))).errorType).toBe(
        "TIMEOUT",
      );
    });
  });

  describe("runHttpJob redirects", () => {
    it("follows 5 redirects", async () => {
      const result = await runHttpJob(
        HttpJobConfig.parse({ url: `${base}/chain?n=5` }),
        ctx(),
        local,
      );
      expect(result.result).toBe("end of chain");
      expect(seen).toHaveLength(6);
    });

    it("fails with USER_ERROR at the 6th redirect, without following it", async () => {
      const error = await failure(
        runHttpJob(HttpJobConfig.parse({ url: `${base}/chain?n=6` }), ctx(), local),
      );
      expect(error.errorType).toBe("USER_ERROR");
      expect(error.message).toBe("more than 5 redirects");
      expect(seen).toHaveLength(6);
    });

    it("does not follow a redirect whose status is the expected one", async () => {
      const config = HttpJobConfig.parse({
        url: redirectTo(`${base}/ok`),
        expectedStatusCode: 302,
      });
      const result = await runHttpJob(config, ctx(), local);
      expect(result).toMatchObject({ success: true, result: "moved" });
      expect(seen).toHaveLength(1);
    });

    it.each([
      ["POST", 303, "GET"],
      ["PUT", 303, "GET"],
      ["POST", 302, "GET"],
      ["POST", 301, "GET"],
      ["PUT", 302, "PUT"],
      ["DELETE", 301, "DELETE"],
      ["POST", 307, "POST"],
      ["PATCH", 308, "PATCH"],
    ] as const)("turns %s answered %i into %s", async (method, status, expected) => {
      const config = HttpJobConfig.parse({
        url: redirectTo(`${base}/ok`, status),
        method,
        body: { a: 1 },
      });
      await runHttpJob(config, ctx(), local);
      const final = seen[1];
      expect(final?.method).toBe(expected);
      const keepsBody = expected !== "GET";
      expect(final?.body).toBe(keepsBody ? '{"a":1}' : "");
      expect(final?.headers["content-type"]).toBe(keepsBody ? "application/json" : undefined);
      expect(final?.headers["x-scheduler-execution-id"]).toBe("job:1000");
    });

    it.each([
      ["keeps", "the same origin", () => `${base}/ok`, true],
      ["drops", "another origin", () => `${otherBase}/ok`, false],
    ])("%s the secret headers on a redirect to %s", async (_verb, _case, target, kept) => {
      const headers = {
        Authorization: "Bearer abcdefgh",
        "X-Api-Key": "k-123456",
        "X-Request-Id": "r1",
      };
      const config = HttpJobConfig.parse({ url: redirectTo(target()), headers });
      await runHttpJob(config, ctx(), local);
      const final = seen[1]!;
      expect(final.headers.authorization).toBe(kept ? "Bearer abcdefgh" : undefined);
      expect(final.headers["x-api-key"]).toBe(kept ? "k-123456" : undefined);
      expect(final.headers["x-request-id"]).toBe("r1");
      expect(final.headers["x-scheduler-attempt"]).toBe("2");
    });

    it("fails with USER_ERROR on a Location that is not a URL", async () => {
      const config = HttpJobConfig.parse({ url: redirectTo("http://[::1") });
      const error = await failure(runHttpJob(config, ctx(), local));
      expect(error.errorType).toBe("USER_ERROR");
    });
  });
});

describe("runHttpJob with HttpAgents", () => {
  const ok = HttpJobConfig.parse({ url: `http://127.0.0.1:1/ok` });
  /**
   * One run after the other. undici hands a connection back to its pool once it has
   * parsed the end of the response, in the same I/O callback that ended the body; the
   * next run starts a turn of the event loop later, as the next execution would.
   */
  const runs = async (count: number, policy: TargetPolicy, config = ok) => {
    for (let i = 0; i < count; i++) {
      await runHttpJob(config, ctx(), policy);
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  it("sends several executions to a target over one connection", async () => {
    const agents = new HttpAgents();
    try {
      const config = { ...ok, url: `${base}/ok` };
      await runs(3, { allowedCidrs: ["127.0.0.1/32"], agents }, config);
      expect(seen).toHaveLength(3);
      expect(new Set(seen.map((r) => r.remotePort)).size).toBe(1);
      seen = [];
      // Without it, each execution opens a connection of its own.
      await runs(3, { allowedCidrs: ["127.0.0.1/32"] }, config);
      expect(new Set(seen.map((r) => r.remotePort)).size).toBe(3);
    } finally {
      await agents.close();
    }
  });

  it("reuses a connection only for the address the name was checked to have", async () => {
    // Two servers on one port of two loopback addresses: one name, two DNS answers.
    const other = await startServer("127.0.0.2");
    await startServer("127.0.0.1", other.port);
    const dns = scriptedLookup(["127.0.0.1"], ["127.0.0.2"], ["127.0.0.1"]);
    const agents = new HttpAgents();
    try {
      const config = { ...ok, url: `http://rebind.test:${other.port}/ok` };
      await runs(3, { allowedCidrs: ["127.0.0.0/8"], lookup: dns.lookup, agents }, config);
      expect(dns.names).toEqual(["rebind.test", "rebind.test", "rebind.test"]);
      expect(seen.map((r) => r.localAddress)).toEqual(["127.0.0.1", "127.0.0.2", "127.0.0.1"]);
      expect(seen[2]?.remotePort).toBe(seen[0]?.remotePort);
      expect(agents.size).toBe(2);
    } finally {
      await agents.close();
    }
  });

  it("keeps at most maxAgents agents, the most recently used", async () => {
    const agents = new HttpAgents({ maxAgents: 2 });
    try {
      const at = (address: string) => ({ address, family: 4 });
      const first = agents.agentFor("http://a.test", at("127.0.0.1"), 0);
      agents.agentFor("http://b.test", at("127.0.0.1"), 1);
      expect(agents.agentFor("http://a.test", at("127.0.0.1"), 2)).toBe(first);
      agents.agentFor("http://c.test", at("127.0.0.1"), 3);
      expect(agents.size).toBe(2);
      expect(agents.agentFor("http://a.test", at("127.0.0.1"), 4)).toBe(first);
      expect(agents.agentFor("http://a.test", at("127.0.0.2"), 5)).not.toBe(first);
    } finally {
      await agents.close();
    }
  });

  it("closes an agent unused for idleMs", async () => {
    const agents = new HttpAgents({ idleMs: 1000 });
    try {
      const at = { address: "127.0.0.1", family: 4 };
      const first = agents.agentFor("http://a.test", at, 0);
      expect(agents.agentFor("http://a.test", at, 999)).toBe(first);
      agents.agentFor("http://b.test", at, 2000);
      expect(agents.size).toBe(1);
      expect(agents.agentFor("http://a.test", at, 2001)).not.toBe(first);
    } finally {
      await agents.close();
    }
  });
});
