/**
 * rare-cron: the API process alone, 200 `POST /jobs/validate?count=100` sent at once,
 * each with a different rare schedule (the fifth Monday of February, the last Friday of
 * February, 31 December when a fifth Monday…: a full 30-year search each), while
 * `GET /health` is asked every 20 ms. Prints the slowest validate and the /health
 * latencies during the storm (issue 16: these searches ran on the event loop, ~100 ms
 * each, and pushed /health to 2.7 s). Prints only.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/rareCron.ts [--requests 200]
 */
import { parseArgs } from "node:util";
import { signTestJwt } from "@scheduler/testkit/jwt";
import { closeAll, JWT_SECRET, Scratch } from "../lib/scratch.js";
import { percentile, sleep } from "../lib/stats.js";
import { freePort } from "../lib/target.js";

const { values } = parseArgs({ options: { requests: { type: "string", default: "200" } } });
const REQUESTS = Number(values.requests);
const RARE = ["* 2 1#5", "? 2 5L", "* 2 6#5", "L 2 *", "? 2 0L", "29 2 *"];

async function timed(url: string, init?: RequestInit): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return { ms: performance.now() - started, status: res.status };
}

async function main(): Promise<void> {
  const scratch = await Scratch.create();
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    scratch.startApp("api", scratch.appEnv({ PORT: String(port) }));
    for (let i = 0; (await fetch(`${base}/health`).catch(() => null))?.status !== 200; i++) {
      if (i > 300) throw new Error("api did not become healthy");
      await sleep(100);
    }
    const token = signTestJwt(
      { sub: crypto.randomUUID(), tenantId: crypto.randomUUID(), permissions: ["jobs:write"] },
      JWT_SECRET,
    );
    const validate = (i: number) =>
      timed(`${base}/api/v1/scheduler/jobs/validate?count=100`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          name: `rare-${i}`,
          // Distinct seconds and minutes: no request finds its schedule already parsed.
          cronExpression: `${i % 60} ${Math.floor(i / 60) % 60} 0 ${RARE[i % RARE.length]}`,
          timezone: "America/New_York",
          jobType: "http",
          config: { url: "https://example.com/", method: "GET" },
        }),
      });
    await validate(REQUESTS + 1); // compiled and warm
    const health: number[] = [];
    let storming = true;
    const prober = (async () => {
      while (storming) {
        health.push((await timed(`${base}/health`)).ms);
        await sleep(20);
      }
    })();
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => validate(i)));
    const stormMs = performance.now() - started;
    storming = false;
    await prober;
    const slowest = Math.max(...answers.map((a) => a.ms));
    const failed = answers.filter((a) => a.status !== 200).length;
    console.log(
      `${REQUESTS} validate?count=100 of rare schedules at once: all answered in ${stormMs.toFixed(0)} ms, slowest ${slowest.toFixed(0)} ms, non-200: ${failed}`,
    );
    console.log(
      `GET /health during the storm (${health.length} probes): p50 ${percentile(health, 0.5).toFixed(1)} ms, max ${Math.max(...health).toFixed(1)} ms`,
    );
  } finally {
    await scratch.close();
    await closeAll();
  }
}

await main();
