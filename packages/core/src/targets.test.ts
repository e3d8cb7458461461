import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandJobConfig, FunctionJobConfig, HttpJobConfig } from "./job.js";
import {
  checkJobTarget,
  isAllowedAddress,
  isLocalhostName,
  isValidCidr,
  resolveFunctionModule,
  resolveWorkingDirectory,
  type TargetRules,
} from "./targets.js";

let functionsDir: string;
const workdirRoot = "/srv/scheduler-jobs";

function rules(overrides: Partial<TargetRules> = {}): TargetRules {
  return {
    allowedCidrs: [],
    commandAllowed: ["backup", "echo"],
    commandWorkdirRoot: workdirRoot,
    functionsDir,
    ...overrides,
  };
}

function httpProblems(url: string, allowedCidrs: string[] = []) {
  const config = { url, method: "GET" } as HttpJobConfig;
  return checkJobTarget("http", config, rules({ allowedCidrs }));
}

beforeAll(() => {
  functionsDir = mkdtempSync(join(tmpdir(), "functions-"));
  mkdirSync(join(functionsDir, "sub"));
  mkdirSync(join(functionsDir, "dir"));
  for (const file of ["daily.js", "sub/x.mjs", "y.cjs", "z.ts", "dir/index.js"]) {
    writeFileSync(join(functionsDir, file), "export function run() {}\n");
  }
});
afterAll(() => rmSync(functionsDir, { recursive: true, force: true }));

describe("checkJobTarget for http", () => {
  it.each([
    ["decimal loopback", "http://2130706433/"],
    ["hex loopback", "http://0x7f.1/"],
    ["whole hex loopback", "http://0x7f000001/"],
    ["octal loopback", "http://0177.0.0.1/"],
    ["whole octal loopback", "http://017700000001/"],
    ["short loopback", "http://127.1/"],
    ["three-part loopback", "http://127.0.1/"],
    ["loopback with a trailing dot", "http://127.0.0.1./"],
    ["full-width digits", "http://１２７.0.0.1/"],
    ["ideographic dots", "http://127。0。0。1/"],
    ["percent-encoded loopback", "http://%31%32%37.0.0.1/"],
    ["loopback behind credentials and a port", "https://user:pw@127.0.0.1:8443/"],
    ["IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/"],
    ["IPv4-mapped loopback in hex", "http://[0:0:0:0:0:ffff:7f00:1]/"],
    ["IPv4-compatible loopback", "http://[::127.0.0.1]/"],
    ["IPv6 loopback", "http://[::1]:8080/"],
    ["IPv6 unspecified", "http://[::]/"],
    ["0", "http://0/"],
    ["0.0.0.0", "http://0.0.0.0/"],
    ["metadata", "http://169.254.169.254/latest/meta-data"],
    ["metadata in hex", "http://0xa9fea9fe/"],
    ["metadata in decimal", "http://2852039166/"],
    ["IPv4-mapped metadata", "http://[::ffff:169.254.169.254]/"],
    ["NAT64 metadata", "http://[64:ff9b::a9fe:a9fe]/"],
    ["6to4 loopback", "http://[2002:7f00:1::]/"],
    ["10/8", "http://10.1.2.3/"],
    ["172.16/12", "http://172.31.255.255/"],
    ["192.168/16", "http://192.168.1.1/"],
    ["CGNAT", "http://100.64.0.1/"],
    ["multicast", "http://224.0.0.1/"],
    ["broadcast", "http://255.255.255.255/"],
    ["reserved 240/4", "http://240.0.0.1/"],
    ["benchmarking", "http://198.18.0.1/"],
    ["TEST-NET-1", "http://192.0.2.1/"],
    ["IETF protocol assignments", "http://192.0.0.8/"],
    ["IPv6 ULA", "http://[fd00::1]/"],
    ["IPv6 link-local", "http://[fe80::1]/"],
    ["IPv6 site-local", "http://[fec0::1]/"],
    ["IPv6 multicast", "http://[ff02::1]/"],
    ["IPv6 documentation", "http://[2001:db8::1]/"],
    ["Teredo", "http://[2001::1]/"],
    ["localhost", "http://localhost/"],
    ["LOCALHOST. with trailing dot", "http://LOCALHOST./"],
    ["a .localhost name", "http://api.localhost:3000/"],
    ["a .localhost name with trailing dot", "http://a.b.localhost./"],
    ["localhost with two trailing dots", "http://localhost../"],
  ])("refuses %s", (_case, url) => {
    const problems = httpProblems(url);
    expect(problems).toEqual([
      {
        code: "INVALID_JOB_CONFIG",
        field: "config.url",
        message: expect.stringContaining("config.url"),
      },
    ]);
  });

  it.each([
    ["a name", "https://example.com/hook"],
    ["a name that may resolve to metadata: left to run time", "http://metadata.google.internal/"],
    ["a public IPv4", "http://93.184.216.34/"],
    ["just outside 172.16/12", "http://172.32.0.1/"],
    ["just outside CGNAT", "http://100.128.0.1/"],
    ["a public IPv6", "http://[2606:4700:4700::1111]/"],
    ["NAT64 of a public IPv4", "http://[64:ff9b::808:808]/"],
    ["IPv4-mapped public IPv4", "http://[::ffff:8.8.8.8]/"],
  ])("accepts %s", (_case, url) => {
    expect(httpProblems(url)).toEqual([]);
  });

  it.each([
    ["ftp", "ftp://example.com/file"],
    ["file", "file:///etc/passwd"],
    ["javascript", "javascript:alert(1)"],
  ])("refuses the %s scheme", (_case, url) => {
    expect(httpProblems(url)[0]?.message).toMatch(/http or https/);
  });

  it.each([
    ["loopback spellings when 127.0.0.0/8 is allowed", "http://0x7f.1/", ["127.0.0.0/8"], true],
    [
      "mapped loopback when 127.0.0.0/8 is allowed",
      "http://[::ffff:127.0.0.1]/",
      ["127.0.0.0/8"],
      true,
    ],
    [
      "mapped loopback when only 10.0.0.0/8 is allowed",
      "http://[::ffff:127.0.0.1]/",
      ["10.0.0.0/8"],
      false,
    ],
    ["10.1.2.3 when 10.0.0.0/8 is allowed", "http://10.1.2.3/", ["10.0.0.0/8"], true],
    ["10.1.2.3 when only 10.0.0.0/16 is allowed", "http://10.1.2.3/", ["10.0.0.0/16"], false],
    ["a single allowed address", "http://192.168.1.10/", ["192.168.1.10"], true],
    ["an allowed IPv6 range", "http://[fd12::5]/", ["fd12::/16"], true],
    ["localhost when loopback is allowed", "http://localhost:3000/", ["127.0.0.0/8"], true],
    ["localhost when only ::1 is allowed", "http://localhost:3000/", ["::1/128"], false],
    ["metadata when only loopback is allowed", "http://169.254.169.254/", ["127.0.0.0/8"], false],
  ])("with HTTP_JOB_ALLOWED_CIDRS, treats %s as allowed: %s", (_case, url, allowed, ok) => {
    expect(httpProblems(url, allowed)).toHaveLength(ok ? 0 : 1);
  });
});

describe("isAllowedAddress", () => {
  it.each([
    ["a public IPv4", "8.8.8.8", [], true],
    ["a public IPv6", "2a00:1450:4001::200e", [], true],
    ["loopback", "127.0.0.1", [], false],
    ["link-local IPv6 with a zone", "fe80::1%eth0", [], false],
    ["a bracketed IPv6 loopback", "[::1]", [], false],
    ["a mapped private address inside the allowed range", "::ffff:10.0.0.1", ["10.0.0.0/8"], true],
    ["a private address inside the allowed range", "10.9.9.9", ["10.0.0.0/8"], true],
    ["a name, which is not an address", "example.com", [], false],
    ["a legacy spelling, which is not an address", "0x7f.1", ["127.0.0.0/8"], false],
  ])("answers for %s", (_case, address, allowed, ok) => {
    expect(isAllowedAddress(address, allowed)).toBe(ok);
  });

  it("throws naming HTTP_JOB_ALLOWED_CIDRS when an entry is not a CIDR", () => {
    expect(() => isAllowedAddress("10.0.0.1", ["10.0.0.0/33"])).toThrow(/HTTP_JOB_ALLOWED_CIDRS/);
  });
});

describe("isValidCidr", () => {
  it.each([
    ["10.0.0.0/8", true],
    ["127.0.0.1", true],
    ["::1/128", true],
    ["fd00::/8", true],
    ["10.0.0.0/33", false],
    ["::/129", false],
    ["10.0.0.0/", false],
    ["10.0.0.0/8/8", false],
    ["10.0.0.0/-1", false],
    ["example.com/8", false],
    ["127.1/8", false],
  ])("reads %s as valid: %s", (cidr, valid) => {
    expect(isValidCidr(cidr)).toBe(valid);
  });
});

describe("isLocalhostName", () => {
  it.each([
    ["localhost", true],
    ["localhost.", true],
    ["Api.LocalHost", true],
    ["notlocalhost", false],
    ["localhost.example.com", false],
  ])("reads %s as localhost: %s", (name, expected) => {
    expect(isLocalhostName(name)).toBe(expected);
  });
});

describe("checkJobTarget for command", () => {
  const command = (extra: Partial<CommandJobConfig> = {}) =>
    ({ command: "backup", ...extra }) as CommandJobConfig;

  it("refuses every command job when COMMAND_JOB_ALLOWED is empty", () => {
    expect(checkJobTarget("command", command(), rules({ commandAllowed: [] }))).toEqual([
      {
        code: "INVALID_JOB_CONFIG",
        field: "jobType",
        message: "command jobs are disabled on this deployment",
      },
    ]);
  });

  it("refuses a command outside the allow-list, naming it", () => {
    const [found] = checkJobTarget("command", command({ command: "rm" }), rules());
    expect(found).toMatchObject({
      field: "config.command",
      message: expect.stringContaining('"rm"'),
    });
  });

  it.each([
    ["no working directory", undefined, true],
    ["a relative directory", "tenant-a/jobs", true],
    ["an absolute directory under the root", `${workdirRoot}/tenant-a`, true],
    ["the root itself", workdirRoot, true],
    ["a sibling whose name starts with the root's", `${workdirRoot}-evil`, false],
    ["an absolute directory elsewhere", "/etc", false],
    ["a relative escape", "../etc", false],
    ["a '..' that normalises inside", "a/../b", false],
    ["a deep escape", "a/b/../../../etc", false],
  ])("accepts %s as working directory: %s", (_case, workingDirectory, ok) => {
    const problems = checkJobTarget("command", command({ workingDirectory }), rules());
    expect(problems).toHaveLength(ok ? 0 : 1);
    if (!ok) expect(problems[0]?.field).toBe("config.workingDirectory");
  });

  it("resolves a relative working directory from the root", () => {
    expect(resolveWorkingDirectory("a/b", workdirRoot)).toBe(`${workdirRoot}/a/b`);
  });
});

describe("checkJobTarget for function", () => {
  const fn = (modulePath: string) => ({ modulePath, functionName: "run" }) as FunctionJobConfig;

  it.each([
    ["a bare name found as .js", "daily", true],
    ["a name with its extension", "daily.js", true],
    ["a nested bare name found as .mjs", "sub/x", true],
    ["a bare name found as .cjs", "y", true],
    ["a TypeScript file", "z.ts", false],
    ["a bare name whose only file is TypeScript", "z", false],
    ["a directory", "dir", false],
    ["a missing module", "missing", false],
    ["an absolute path", "/etc/passwd", false],
    ["a backslash-absolute path", "\\etc\\passwd", false],
    ["an escape", "../daily", false],
    ["a '..' that normalises inside", "sub/../daily", false],
  ])("accepts %s: %s", (_case, modulePath, ok) => {
    const problems = checkJobTarget("function", fn(modulePath), rules());
    expect(problems).toHaveLength(ok ? 0 : 1);
    if (!ok) expect(problems[0]?.field).toBe("config.modulePath");
  });

  it("resolves a bare name to the file it found", () => {
    expect(resolveFunctionModule("sub/x", functionsDir)).toBe(join(functionsDir, "sub/x.mjs"));
  });
});
