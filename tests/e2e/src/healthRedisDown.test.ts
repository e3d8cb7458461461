import {
  freePort,
  OwnRedis,
  type RunningProcess,
  startApp,
  stopApp,
  TEST_CONFIG_ENCRYPTION_KEY,
  test,
  waitFor,
} from "@scheduler/testkit";
import { afterAll, describe, expect } from "vitest";

describe("health while Redis is down", () => {
  const processes: RunningProcess[] = [];
  let redis: OwnRedis | undefined;
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
    await redis?.dispose();
  });

  test("answers 503 within 5 s of Redis stopping and 200 once it is back", async ({ database }) => {
    redis = await OwnRedis.start();
    const port = await freePort();
    const metricsPort = await freePort();
    processes.push(
      startApp("api", {
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        JWT_SECRET: "e2e-secret-of-at-least-thirty-two-characters",
        CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
        PORT: String(port),
        METRICS_PORT: String(metricsPort),
        HOST: "127.0.0.1",
        LOG_LEVEL: "error",
        NODE_ENV: "test",
      }),
    );
    const status = async (url: string) =>
      (await fetch(url, { signal: AbortSignal.timeout(4000) }).catch(() => null))?.status;
    const urls = [`http://127.0.0.1:${port}/health`, `http://127.0.0.1:${metricsPort}/health`];
    for (const url of urls)
      await waitFor(async () => (await status(url)) === 200, {
        timeoutMs: 30_000,
        what: `${url} healthy`,
      });

    await redis.stopServer();
    const stoppedAt = Date.now();
    for (const url of urls)
      await waitFor(async () => (await status(url)) === 503, {
        timeoutMs: 5000,
        what: `${url} unhealthy`,
      });
    expect(Date.now() - stoppedAt).toBeLessThan(5000);
    const body = (await (await fetch(urls[0]!)).json()) as {
      dependencies: Record<string, boolean>;
    };
    expect(body.dependencies).toMatchObject({ database: true, redis: false });

    await redis.startServer();
    for (const url of urls)
      await waitFor(async () => (await status(url)) === 200, {
        timeoutMs: 15_000,
        what: `${url} healthy again`,
      });
  }, 90_000);
});
