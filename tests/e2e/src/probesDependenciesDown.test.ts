import {
  freePort,
  type RunningProcess,
  startApp,
  stopApp,
  TEST_CONFIG_ENCRYPTION_KEY,
  test,
  waitFor,
} from "@scheduler/testkit";
import { afterAll, describe, expect } from "vitest";

/** Nothing listens on port 1 or 2: connections are refused at once. */
const NOWHERE = {
  DATABASE_URL: "postgres://postgres@127.0.0.1:1/none",
  REDIS_URL: "redis://127.0.0.1:2",
};

describe("orchestrator probes with PostgreSQL and Redis unreachable", () => {
  const processes: RunningProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p, 2000)));
  });

  test("every process answers /livez 200 and /readyz and /health 503", async () => {
    const apiPort = await freePort();
    const env = {
      ...NOWHERE,
      JWT_SECRET: "e2e-secret-of-at-least-thirty-two-characters",
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
      PORT: String(apiPort),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      NODE_ENV: "test",
    };
    const started = (["api", "scheduler", "worker"] as const).map((name) => startApp(name, env));
    processes.push(...started);
    const bases = [`http://127.0.0.1:${apiPort}`];
    try {
      for (const p of started) {
        const port = await waitFor(
          () => Number(/"metricsPort":(\d+)/.exec(p.output())?.[1]) || undefined,
          { timeoutMs: 60_000, what: `${p.name} metrics port` },
        );
        bases.push(`http://127.0.0.1:${port}`);
      }
      const status = async (url: string) =>
        (await fetch(url, { signal: AbortSignal.timeout(6000) }).catch(() => null))?.status;
      await waitFor(async () => (await status(`${bases[0]}/livez`)) === 200, {
        timeoutMs: 30_000,
        what: "the api listening",
      });
      for (const base of bases) {
        expect(await status(`${base}/livez`), `${base}/livez`).toBe(200);
        expect(await status(`${base}/readyz`), `${base}/readyz`).toBe(503);
        expect(await status(`${base}/health`), `${base}/health`).toBe(503);
      }
    } catch (error) {
      (error as Error).message +=
        `\n${processes.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join("\n")}`;
      throw error;
    }
  }, 90_000);
});
