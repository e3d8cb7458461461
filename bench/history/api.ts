import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { signTestJwt } from "@scheduler/testkit/jwt";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const JWT_SECRET = "bench-history-secret-of-at-least-32-chars";
const CONFIG_ENCRYPTION_KEY = `bench:${Buffer.alloc(32, 7).toString("base64")}`;

/** The API as its own process, from source under tsx as the e2e tests start it. */
export interface ApiProcess {
  baseUrl: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

export async function startApi(databaseUrl: string, redisPrefix: string): Promise<ApiProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ["--conditions=@scheduler/source", "--import", "tsx", "apps/api/src/main.ts"],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: databaseUrl,
        REDIS_URL: process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379",
        REDIS_KEY_PREFIX: redisPrefix,
        JWT_SECRET,
        CONFIG_ENCRYPTION_KEY,
        // The bench sends thousands of requests per tenant; the limit is not what it measures.
        TENANT_RATE_LIMIT_PER_MINUTE: "1000000",
        PORT: String(port),
        HOST: "127.0.0.1",
        METRICS_PORT: "0",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output = (output + chunk).slice(-10_000)));
  child.stderr?.on("data", (chunk: Buffer) => (output = (output + chunk).slice(-10_000)));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`api exited:\n${output}`);
    const up = await fetch(`${baseUrl}/health`).then(
      (r) => r.status > 0,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`api did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    baseUrl,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A read-only token of a tenant. */
export function tokenOf(tenantId: string): string {
  return signTestJwt(
    { sub: "00000000-0000-4000-8000-00000000beef", tenantId, permissions: ["jobs:read"] },
    JWT_SECRET,
  );
}

/** GETs `path` as the tenant; returns the JSON and the client-side latency in ms. */
export async function timedGet(
  api: ApiProcess,
  tenantId: string,
  path: string,
): Promise<{ ms: number; body: unknown }> {
  const headers = { authorization: `Bearer ${tokenOf(tenantId)}` };
  const started = performance.now();
  const res = await fetch(`${api.baseUrl}/api/v1/scheduler${path}`, { headers });
  const body = await res.json();
  const ms = performance.now() - started;
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(body)}`);
  return { ms, body };
}

/** A cursor at an arbitrary position of a list (its format is the API's own, serialize.ts). */
export function cursorAt(at: Date): string {
  return Buffer.from(
    JSON.stringify([at.getTime(), "ffffffff-ffff-ffff-ffff-ffffffffffff"]),
  ).toString("base64url");
}

/** Nearest-rank percentile of unsorted values, `p` in 0..1. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN
  );
}
