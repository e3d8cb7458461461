import { mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FunctionJobConfig } from "../job.js";
import { type FunctionError, type FunctionRunOptions, runFunctionJob } from "./function.js";
import { ExecutionError, type RunContext } from "./http.js";
import type { ResourceUsage } from "./procStat.js";

const SHIPPED_REGISTRY = fileURLToPath(new URL("../../../../functions", import.meta.url));

/** Test functions, one module each, written to a temporary registry. */
const MODULES: Record<string, string> = {
  "env.mjs": "export const keys = () => Object.keys(process.env);",
  "loop.mjs": "export function spin() { for (;;) {} }",
  "polite.mjs": `export const wait = (_p, ctx) => new Promise((_, reject) => {
      ctx.progress(1);
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
    });`,
  "throws.mjs": `export function fail() { throw new TypeError("bad input"); }`,
  "hog.mjs": `export function hog() { const kept = []; for (;;) kept.push(new Array(1e5).fill(kept.length)); }`,
  "big.mjs": `export const big = () => "x".repeat(200 * 1024);`,
  "chatty.mjs": `export function talk(p) { console.log("hello", p.name); console.error("careful"); return 1; }`,
  "exits.mjs": "export function leave() { process.exit(3); }",
  "broken.mjs": "export function ( {",
};

let registry: string;
let outside: string;

beforeAll(async () => {
  registry = await mkdtemp(join(tmpdir(), "fn-registry-"));
  outside = await mkdtemp(join(tmpdir(), "fn-outside-"));
  for (const [name, source] of Object.entries(MODULES)) {
    await writeFile(join(registry, name), source);
  }
  await writeFile(join(outside, "secret.mjs"), "export const leak = () => 'leaked';");
  await symlink(join(outside, "secret.mjs"), join(registry, "link.mjs"));
});
afterAll(async () => {
  await rm(registry, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

function ctx(signal = new AbortController().signal): RunContext {
  return { executionId: "job:1000", scheduledAt: new Date(1000), attempt: 1, signal };
}

function options(extra: Partial<FunctionRunOptions> = {}): FunctionRunOptions {
  return { functionsDir: registry, killGraceMs: 200, ...extra };
}

function config(modulePath: string, functionName: string, parameters?: unknown) {
  return FunctionJobConfig.parse({ modulePath, functionName, parameters });
}

async function failure(promise: Promise<unknown>): Promise<ExecutionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExecutionError);
  return error as ExecutionError;
}

/** OS threads of this process: a terminated function thread no longer counts. */
async function threadCount(): Promise<number> {
  return (await readdir("/proc/self/task")).length;
}

describe("runFunctionJob", () => {
  it("runs the shipped example with its parameters and reports progress and usage", async () => {
    const progress: number[] = [];
    const usage: ResourceUsage[] = [];
    const result = await runFunctionJob(
      config("example.mjs", "countTo", { to: 4, stepMs: 10 }),
      ctx(),
      options({
        functionsDir: SHIPPED_REGISTRY,
        onProgress: (p) => progress.push(p),
        onUsage: (u) => usage.push(u),
      }),
    );
    expect(result).toMatchObject({
      success: true,
      result: { counted: 4, executionId: "job:1000", attempt: 1 },
    });
    expect(progress).toEqual([25, 50, 75, 100]);
    expect(usage).toHaveLength(1);
    expect(usage[0]!.memoryPeakMb).toBeGreaterThan(0);
    expect(usage[0]!.cpuTimeMs).toBeGreaterThanOrEqual(0);
  });

  it("gives the function an empty process.env", async () => {
    process.env.WORKER_ONLY_SECRET = "do-not-leak";
    try {
      const result = await runFunctionJob(config("env.mjs", "keys"), ctx(), options());
      expect(result.result).toEqual([]);
    } finally {
      delete process.env.WORKER_ONLY_SECRET;
    }
  });

  it("terminates a function stuck in an endless loop at its timeout", async () => {
    const before = await threadCount();
    const started = Date.now();
    const error = await failure(
      runFunctionJob(
        FunctionJobConfig.parse({ ...config("loop.mjs", "spin"), timeout: 300 }),
        ctx(),
        options(),
      ),
    );
    expect(error.errorType).toBe("TIMEOUT");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await threadCount()).toBeLessThanOrEqual(before);
  });

  it("terminates a function that ignores a cancel", async () => {
    const controller = new AbortController();
    const run = runFunctionJob(config("loop.mjs", "spin"), ctx(controller.signal), options());
    setTimeout(() => controller.abort(), 200);
    const error = await failure(run);
    expect(error.errorType).toBe("CANCELLED");
  });

  it("aborts ctx.signal inside the thread on cancel", async () => {
    const controller = new AbortController();
    // Cancelled once the function runs (its first progress report), not before.
    const run = runFunctionJob(
      config("polite.mjs", "wait"),
      ctx(controller.signal),
      options({ killGraceMs: 60_000, onProgress: () => controller.abort() }),
    );
    const started = Date.now();
    expect((await failure(run)).errorType).toBe("CANCELLED");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("fails with USER_ERROR and the function's stack when it throws", async () => {
    const error = await failure(runFunctionJob(config("throws.mjs", "fail"), ctx(), options()));
    expect(error.errorType).toBe("USER_ERROR");
    expect(error.message).toBe("TypeError: bad input");
    expect((error as FunctionError).userStack).toContain("throws.mjs");
  });

  it("fails with USER_ERROR when the function exceeds its heap limit", async () => {
    const limits = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 };
    const error = await failure(
      runFunctionJob(config("hog.mjs", "hog"), ctx(), options({ resourceLimits: limits })),
    );
    expect(error.errorType).toBe("USER_ERROR");
    expect(error.message).toMatch(/out of memory/);
  });

  it("fails with USER_ERROR when the function exits its thread", async () => {
    const error = await failure(runFunctionJob(config("exits.mjs", "leave"), ctx(), options()));
    expect(error.errorType).toBe("USER_ERROR");
    expect(error.message).toMatch(/exit code 3/);
  });

  it("keeps at most 64 KiB of a large result, marked truncated", async () => {
    const result = await runFunctionJob(config("big.mjs", "big"), ctx(), options());
    expect(result.metadata).toMatchObject({ truncated: true });
    expect(String(result.result)).toHaveLength(64 * 1024);
  });

  it("keeps what the function writes to stdout and stderr", async () => {
    const result = await runFunctionJob(
      config("chatty.mjs", "talk", { name: "ada" }),
      ctx(),
      options(),
    );
    expect(result.metadata).toMatchObject({ stdout: "hello ada\n", stderr: "careful\n" });
  });

  it.each([
    {
      name: "a missing export",
      modulePath: "env.mjs",
      fn: "nothing",
      message: /no exported function/,
    },
    {
      name: "a module that does not parse",
      modulePath: "broken.mjs",
      fn: "x",
      message: /cannot be loaded/,
    },
    {
      name: "a missing module",
      modulePath: "absent.mjs",
      fn: "x",
      message: /names no module in the function registry/,
    },
    {
      name: "a symlink out of the registry",
      modulePath: "link.mjs",
      fn: "leak",
      message: /inside the function registry/,
    },
  ])("refuses $name with VALIDATION_ERROR", async ({ modulePath, fn, message }) => {
    const error = await failure(runFunctionJob(config(modulePath, fn), ctx(), options()));
    expect(error.errorType).toBe("VALIDATION_ERROR");
    expect(error.message).toMatch(message);
  });

  it("refuses a path that climbs out of the registry even without the schema", async () => {
    const raw = { modulePath: "../outside.mjs", functionName: "x" } as FunctionJobConfig;
    const error = await failure(runFunctionJob(raw, ctx(), options()));
    expect(error.errorType).toBe("VALIDATION_ERROR");
  });
});
