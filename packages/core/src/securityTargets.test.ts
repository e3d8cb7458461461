import type { LookupAddress } from "node:dns";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ExecutionError,
  type RunContext,
  runHttpJob,
  type TargetPolicy,
} from "./executors/http.js";
import { HttpJobConfig } from "./job.js";
import { checkJobTarget, type TargetRules } from "./targets.js";

/**
 * SSRF: spellings of non-public addresses that targets.test.ts does not list, the same
 * spellings as DNS answers and redirect locations, and DNS that changes its answer
 * between the check and the connection (rebinding), against two real servers: one
 * on 127.0.0.1 standing for a public host (the only address the policy allows) and
 * one on 127.0.0.2, on the same port, standing for the private one.
 */

const rules = (): TargetRules => ({
  allowedCidrs: [],
  commandAllowed: [],
  commandWorkdirRoot: "/srv/jobs",
  functionsDir: "/srv/functions",
});

/** The problems of a URL at create time: by the schema, or by the target rules. */
function createTimeProblems(url: string): string[] {
  const parsed = HttpJobConfig.safeParse({ url, method: "GET" });
  if (!parsed.success) return parsed.error.issues.map((i) => i.message);
  return checkJobTarget("http", parsed.data, rules()).map((p) => p.message);
}

describe("create time: every spelling of a non-public host", () => {
  it.each([
    ["dotted hex", "http://0x7f.0x0.0x0.0x1/"],
    ["zero-padded octets", "http://127.000.000.001/"],
    ["two-part octal", "http://0177.1/"],
    ["upper-case hex", "http://0X7F000001/"],
    ["upper-case scheme", "HTTP://127.0.0.1/"],
    ["one slash", "http:/127.0.0.1/"],
    ["backslashes", "http:\\\\127.0.0.1/"],
    ["IPv4-mapped in hex", "http://[::ffff:7f00:1]/"],
    ["IPv4-mapped, long form with dotted tail", "http://[0:0:0:0:0:ffff:127.0.0.1]/"],
    ["IPv4-translated (SIIT)", "http://[::ffff:0:127.0.0.1]/"],
    ["IPv4-mapped metadata in hex", "http://[::ffff:a9fe:a9fe]/"],
    ["IPv6 loopback with zeros", "http://[0000::1]/"],
    ["IPv6 unspecified with a port", "http://[::]:80/"],
    ["IPv6 unspecified, long", "http://[0:0:0:0:0:0:0:0]/"],
    ["0.0.0.0 with a trailing dot", "http://0.0.0.0./"],
    ["zeros", "http://00000/"],
    ["hex zero", "http://0x0/"],
    ["enclosed alphanumerics for localhost", "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/"],
    ["circled digits", "http://①②⑦.0.0.1/"],
    ["mixed-case localhost with a dot", "http://LocalHost./"],
    ["percent-encoded localhost", "http://loc%61lhost/"],
    ["percent-encoded trailing dot", "http://localhost%2e/"],
    ["a name before @", "http://public.example@127.0.0.1/"],
    ["user and password before an IPv6 loopback", "http://public.example:pw@[::1]/"],
    ["a fragment after the host", "http://127.0.0.1#@public.example/"],
    ["a backslash before @", "http://127.0.0.1\\@public.example/"],
    ["a port and a backslash before @", "http://127.0.0.1:80\\@public.example/"],
    ["Alibaba metadata (CGNAT)", "http://100.100.100.200/"],
    ["Oracle metadata (192.0.0.0/24)", "http://192.0.0.192/"],
    ["AWS IPv6 metadata (ULA)", "http://[fd00:ec2::254]/"],
    ["a NUL in the host", "http://127.0.0.1%00.public.example/"],
    ["a tab in the host", "http://127.0.0.1%09/"],
    ["no scheme", "//127.0.0.1/"],
    ["a file URL", "file:///etc/passwd"],
    ["a gopher URL", "gopher://127.0.0.1:6379/_INFO"],
    ["a data URL", "data:text/plain,hello"],
  ])("refuses %s", (_case, url) => {
    expect(createTimeProblems(url)).not.toEqual([]);
  });

  it.each([
    ["a name that only starts like an address", "http://127.0.0.1.nip.io/"],
    ["userinfo that looks like an address, public host", "http://127.0.0.1%2f@public.example/"],
  ])("leaves %s to the run-time check (a name, not an address)", (_case, url) => {
    expect(createTimeProblems(url)).toEqual([]);
  });
});

// Two servers on the same port: 127.0.0.1 is "public" (allowed), 127.0.0.2 "private".
let publicServer: Server;
let privateServer: Server;
let port: number;
const hits: { server: "public" | "private"; path: string }[] = [];
let connects: ReturnType<typeof vi.spyOn>;
const policy = (lookup?: TargetPolicy["lookup"]): TargetPolicy => ({
  allowedCidrs: ["127.0.0.1/32"],
  ...(lookup ? { lookup } : {}),
});

function serve(name: "public" | "private") {
  return createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    hits.push({ server: name, path: url.pathname });
    const to = url.searchParams.get("to");
    if (to) return void res.writeHead(302, { location: to }).end();
    res.end(`${name} answered`);
  });
}

beforeAll(async () => {
  publicServer = serve("public");
  publicServer.listen(0, "127.0.0.1");
  await once(publicServer, "listening");
  port = (publicServer.address() as { port: number }).port;
  privateServer = serve("private");
  privateServer.listen(port, "127.0.0.2");
  await once(privateServer, "listening");
});
afterAll(() => {
  for (const server of [publicServer, privateServer]) {
    server.closeAllConnections();
    server.close();
  }
});
beforeEach(() => {
  hits.length = 0;
  connects = vi.spyOn(Socket.prototype, "connect");
});
afterEach(() => connects.mockRestore());

function ctx(): RunContext {
  return {
    executionId: "job:1",
    scheduledAt: new Date(1000),
    attempt: 1,
    signal: new AbortController().signal,
  };
}

async function failure(promise: Promise<unknown>): Promise<ExecutionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExecutionError);
  return error as ExecutionError;
}

/** A resolver that answers each call with the next list (the last one from then on). */
function changingDns(...answers: string[][]) {
  const asked: string[] = [];
  const lookup = async (hostname: string): Promise<LookupAddress[]> => {
    asked.push(hostname);
    const next = answers[Math.min(asked.length, answers.length) - 1]!;
    return next.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return { lookup, asked };
}

const run = (url: string, p: TargetPolicy) =>
  runHttpJob(HttpJobConfig.parse({ url, method: "GET" }), ctx(), p);

describe("run time: DNS answers in every spelling", () => {
  it.each([
    "127.0.0.2",
    "::ffff:127.0.0.2",
    "::ffff:7f00:2",
    "::ffff:169.254.169.254",
    "0.0.0.0",
    "::",
    "::1",
    "::127.0.0.1",
    "fe80::1%lo",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "fd00:ec2::254",
    "100.100.100.200",
    "192.168.0.1",
    "not-an-address",
  ])(
    "refuses a name that resolves to %s, connecting nowhere and naming no address",
    async (answer) => {
      const dns = changingDns([answer]);
      const error = await failure(run(`http://svc.test:${port}/`, policy(dns.lookup)));
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(error.message).toContain("svc.test");
      expect(error.message).not.toContain(answer);
      expect(connects).not.toHaveBeenCalled();
      expect(hits).toEqual([]);
    },
  );

  it("refuses a name when one answer of several is private, whatever its position", async () => {
    for (const answers of [
      ["127.0.0.1", "127.0.0.2"],
      ["127.0.0.2", "127.0.0.1"],
      ["127.0.0.1", "::1"],
    ]) {
      const error = await failure(
        run(`http://svc.test:${port}/`, policy(changingDns(answers).lookup)),
      );
      expect(error.errorType, answers.join(",")).toBe("VALIDATION_ERROR");
    }
    expect(hits).toEqual([]);
  });
});

describe("run time: DNS rebinding", () => {
  it("connects to the address it checked although every later answer is private", async () => {
    const dns = changingDns(["127.0.0.1"], ["127.0.0.2"]);
    const result = await run(`http://rebind.test:${port}/data`, policy(dns.lookup));
    expect(result.success).toBe(true);
    expect(result.result).toBe("public answered");
    expect(dns.asked).toEqual(["rebind.test"]);
    expect(hits).toEqual([{ server: "public", path: "/data" }]);
  });

  it("checks the name again on a redirect to itself, refusing the private answer", async () => {
    const dns = changingDns(["127.0.0.1"], ["127.0.0.2"]);
    const back = encodeURIComponent(`http://rebind.test:${port}/second`);
    const error = await failure(
      run(`http://rebind.test:${port}/first?to=${back}`, policy(dns.lookup)),
    );
    expect(error.errorType).toBe("VALIDATION_ERROR");
    expect(error.message).toMatch(/^redirect 1 location host rebind\.test /);
    expect(dns.asked).toEqual(["rebind.test", "rebind.test"]);
    expect(hits).toEqual([{ server: "public", path: "/first" }]);
  });

  it("keeps each run's answer to itself: a later run is checked afresh", async () => {
    const dns = changingDns(["127.0.0.1"], ["127.0.0.2"]);
    expect((await run(`http://rebind.test:${port}/`, policy(dns.lookup))).success).toBe(true);
    const error = await failure(run(`http://rebind.test:${port}/`, policy(dns.lookup)));
    expect(error.errorType).toBe("VALIDATION_ERROR");
    expect(hits.map((h) => h.server)).toEqual(["public"]);
  });
});

describe("run time: redirects to a private host in every spelling", () => {
  it.each([
    ["scheme-relative", () => `//127.0.0.2:${port}/`],
    ["upper-case scheme", () => `HTTP://127.0.0.2:${port}/`],
    ["decimal", () => `http://2130706434:${port}/`],
    ["dotted hex", () => `http://0x7f.0.0.2:${port}/`],
    ["IPv4-mapped", () => `http://[::ffff:127.0.0.2]:${port}/`],
    ["a name before @", () => `http://public.example@127.0.0.2:${port}/`],
    ["percent-encoded", () => `http://%31%32%37.0.0.2:${port}/`],
    ["IPv6 unspecified", () => `http://[::]:${port}/`],
    ["0", () => `http://0:${port}/`],
    ["a file URL", () => "file:///etc/passwd"],
    ["a gopher URL", () => `gopher://127.0.0.2:${port}/_x`],
  ])("refuses a redirect written %s, reaching only the first server", async (_case, location) => {
    const to = encodeURIComponent(location());
    const error = await failure(run(`http://127.0.0.1:${port}/start?to=${to}`, policy()));
    expect(error.errorType).toBe("VALIDATION_ERROR");
    expect(error.message).toMatch(/^redirect 1 location /);
    expect(hits).toEqual([{ server: "public", path: "/start" }]);
  });
});
