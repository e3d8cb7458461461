/**
 * api: with 100,000 jobs stored, all of ONE tenant (`--tenants` spreads them) and created
 * as a user creates them, through the internal batch API (1000 a call, `--parallel` calls
 * in flight, the creation timed; no manual ANALYZE), the API process alone:
 * `GET /jobs/{id}`, `GET /jobs?limit=50` and `POST /jobs` for those tenants, each at 300 req/s paced
 * (an open loop: a request every 3.3 ms, whatever the answers do; the targets' load), at
 * 300 req/s as autocannon's `overallRate` sends it (each connection's share of a second
 * back to back at the top of the second), and flat out under autocannon (throughput).
 * Latencies are every response's own time.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/api.ts \
 *     [--jobs 100000] [--tenants 1] [--parallel 2] [--runs 3] [--rate 300] [--seconds 20]
 *     [--connections 10] [--profile]
 */
import { randomUUID } from "node:crypto";
import { Agent, type OutgoingHttpHeaders, request } from "node:http";
import { parseArgs } from "node:util";
import { signTestJwt } from "@scheduler/testkit/jwt";
import autocannon from "autocannon";
import { describeProfiles } from "../lib/cpuProfile.js";
import { REPO_ROOT } from "../lib/processes.js";
import { type ProcessFigures, samplerFor } from "../lib/procStats.js";
import { waitForQuietMachine } from "../lib/quiet.js";
import { appendResults, environmentLines } from "../lib/report.js";
import { closeAll, JWT_SECRET, Scratch, SERVICE_TOKEN } from "../lib/scratch.js";
import { percentile, showSpread, sleep, spread, table } from "../lib/stats.js";
import { freePort } from "../lib/target.js";
import { scatteredSchedules } from "./scatteredSchedules.js";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "100000" },
    tenants: { type: "string", default: "1" },
    parallel: { type: "string", default: "2" },
    runs: { type: "string", default: "3" },
    rate: { type: "string", default: "300" },
    seconds: { type: "string", default: "20" },
    connections: { type: "string", default: "10" },
    profile: { type: "boolean", default: false },
    "no-append": { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
const JOBS = Number(values.jobs);
const PER_CALL = 1000;
const PREFIX = "/api/v1/scheduler";

type Endpoint = "GET /jobs/{id}" | "GET /jobs?limit=50" | "POST /jobs";
type Mode = "paced" | "steady" | "flat out";
const ENDPOINTS: Endpoint[] = ["GET /jobs/{id}", "GET /jobs?limit=50", "POST /jobs"];

interface RunResult {
  /** Seconds to create the stored jobs through the batch API. */
  createSeconds: number;
  loads: LoadResult[];
}

interface LoadResult {
  endpoint: Endpoint;
  mode: Mode;
  requestsPerSecond: number;
  p50: number;
  p95: number;
  p99: number;
  non2xx: number;
  errors: number;
  processes: Record<string, ProcessFigures>;
}

interface Fixture {
  base: string;
  tokens: string[];
  /** Stored jobs, with the index of their tenant's token. */
  jobs: { id: string; tenant: number }[];
}

const pick = <T>(list: T[]) => list[Math.floor(Math.random() * list.length)]!;
let created = 0;

/** The request autocannon sends next: a random stored job or tenant, a new job's body. */
function nextRequest(endpoint: Endpoint, fixture: Fixture, targetUrl: string) {
  return (req: autocannon.Request): autocannon.Request => {
    if (endpoint === "GET /jobs/{id}") {
      const job = pick(fixture.jobs);
      return {
        ...req,
        method: "GET",
        path: `${PREFIX}/jobs/${job.id}`,
        headers: auth(fixture.tokens[job.tenant]!),
      };
    }
    const token = pick(fixture.tokens);
    if (endpoint === "GET /jobs?limit=50") {
      return { ...req, method: "GET", path: `${PREFIX}/jobs?limit=50`, headers: auth(token) };
    }
    const body = JSON.stringify({
      name: `api-bench-${created++}-${randomUUID().slice(0, 8)}`,
      cronExpression: "17 3 * * * *",
      timezone: "Europe/Berlin",
      jobType: "http",
      config: { url: targetUrl, method: "GET" },
    });
    return {
      ...req,
      method: "POST",
      path: `${PREFIX}/jobs`,
      headers: { ...auth(token), "content-type": "application/json" },
      body,
    };
  };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** One request on the agent's kept-alive sockets: its status once the body is read. */
function send(agent: Agent, base: URL, r: autocannon.Request): Promise<number> {
  const headers: OutgoingHttpHeaders = { ...r.headers };
  if (r.body) headers["content-length"] = Buffer.byteLength(r.body as string);
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, method: r.method, path: r.path, headers },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(r.body);
  });
}

/**
 * A steady load, open loop: a request every 1000/rate ms whatever the answers do, over
 * up to `--connections` kept-alive connections (a request waits for a free one, and that
 * wait counts in its latency, taken from the moment it is sent). autocannon cannot do
 * this: with `overallRate` each of its connections sends its share of a second's
 * requests back to back at the top of the second (its lib/httpClient.js), then idles.
 */
async function paced(
  endpoint: Endpoint,
  rate: number,
  fixture: Fixture,
  api: { name: string; pid: number },
  backends: () => number[],
): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number(values.connections) });
  const base = new URL(fixture.base);
  const make = nextRequest(endpoint, fixture, "http://127.0.0.1:9/never-called");
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const sampler = samplerFor([api], backends);
  sampler.start();
  const from = Date.now();
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < rate * seconds; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    const sent = performance.now();
    inFlight.push(
      send(agent, base, make({} as autocannon.Request)).then(
        (status) => {
          latencies.push(performance.now() - sent);
          if (status < 200 || status > 299) non2xx++;
        },
        () => void errors++,
      ),
    );
  }
  await Promise.all(inFlight);
  sampler.stop();
  agent.destroy();
  return {
    endpoint,
    mode: "paced",
    requestsPerSecond: latencies.length / ((performance.now() - start) / 1000),
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    non2xx,
    errors,
    processes: sampler.window(from, Date.now()),
  };
}

async function load(
  endpoint: Endpoint,
  rate: number | undefined,
  fixture: Fixture,
  api: { name: string; pid: number },
  backends: () => number[],
): Promise<LoadResult> {
  const latencies: number[] = [];
  const sampler = samplerFor([api], backends);
  sampler.start();
  const from = Date.now();
  // Without a callback autocannon returns its event emitter with a `then` added (its
  // lib/init.js); its types offer the emitter or the promise, not both.
  const instance = autocannon({
    url: fixture.base,
    connections: Number(values.connections),
    duration: seconds,
    ...(rate ? { overallRate: rate } : {}),
    requests: [{ setupRequest: nextRequest(endpoint, fixture, "http://127.0.0.1:9/never-called") }],
  }) as unknown as autocannon.Instance & PromiseLike<autocannon.Result>;
  instance.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) =>
    latencies.push(ms),
  );
  const result = await instance;
  sampler.stop();
  return {
    endpoint,
    mode: rate ? "steady" : "flat out",
    requestsPerSecond: result.requests.total / seconds,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    processes: sampler.window(from, Date.now()),
  };
}

/**
 * Creates the stored jobs through `POST /internal/jobs/batch-create`, the calls spread
 * round-robin over the tenants, `--parallel` in flight; resolves with the seconds it took.
 */
async function createStoredJobs(base: string, tenants: string[]): Promise<number> {
  const schedules = scatteredSchedules(JOBS);
  const calls = Array.from({ length: Math.ceil(JOBS / PER_CALL) }, (_, i) => i);
  const createdBy = randomUUID();
  const started = performance.now();
  const lane = async () => {
    for (let call = calls.shift(); call !== undefined; call = calls.shift()) {
      const jobs = schedules.slice(call * PER_CALL, (call + 1) * PER_CALL).map((s, i) => ({
        name: `stored-${call}-${i}`,
        cronExpression: s.cron,
        timezone: s.zone,
        jobType: "http",
        config: { url: "http://127.0.0.1:9/x", method: "GET" },
      }));
      const tenantId = tenants[call % tenants.length]!;
      const res = await fetch(`${base}/internal/jobs/batch-create`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-service-token": SERVICE_TOKEN },
        body: JSON.stringify({ tenantId, createdBy, jobs }),
      });
      if (res.status !== 201)
        throw new Error(`batch ${call}: HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: Number(values.parallel) }, lane));
  return (performance.now() - started) / 1000;
}

async function runOnce(profileDir?: string): Promise<RunResult> {
  await waitForQuietMachine();
  const scratch = await Scratch.create();
  try {
    const tenants: string[] = Array.from({ length: Number(values.tenants) }, () => randomUUID());
    const port = await freePort();
    // A rate limit no bench load reaches (the limiter's Redis round trip is still
    // measured), and a quota above the stored jobs and every POST of the loads.
    const api = scratch.startApp(
      "api",
      scratch.appEnv({
        PORT: String(port),
        TENANT_RATE_LIMIT_PER_MINUTE: "100000000",
        TENANT_MAX_JOBS: String(JOBS + 1_000_000),
      }),
      profileDir ? { cpuProfileDir: profileDir } : {},
    );
    const base = `http://127.0.0.1:${port}`;
    for (let ok = false; !ok; await sleep(250))
      ok = (await fetch(`${base}/health`).catch(() => null))?.ok ?? false;
    const createSeconds = await createStoredJobs(base, tenants);
    console.error(`${JOBS} jobs created through the batch API in ${createSeconds.toFixed(2)} s`);
    const { rows } = await scratch.pool.query(
      "SELECT id, tenant_id FROM scheduled_jobs ORDER BY random() LIMIT 5000",
    );
    const fixture: Fixture = {
      base,
      tokens: tenants.map((tenantId) =>
        signTestJwt(
          { sub: tenantId, tenantId, permissions: ["jobs:read", "jobs:write"] },
          JWT_SECRET,
        ),
      ),
      jobs: rows.map((r) => ({
        id: r.id as string,
        tenant: tenants.indexOf(r.tenant_id as string),
      })),
    };
    const loads: LoadResult[] = [];
    // Warm-up: JIT and connection pools, not measured.
    for (const endpoint of ENDPOINTS) await warm(endpoint, fixture);
    for (const endpoint of ENDPOINTS) {
      loads.push(await paced(endpoint, Number(values.rate), fixture, api, scratch.backendPids()));
      loads.push(await load(endpoint, Number(values.rate), fixture, api, scratch.backendPids()));
      loads.push(await load(endpoint, undefined, fixture, api, scratch.backendPids()));
    }
    return { createSeconds, loads };
  } finally {
    await scratch.close();
  }
}

async function warm(endpoint: Endpoint, fixture: Fixture): Promise<void> {
  await autocannon({
    url: fixture.base,
    connections: 5,
    amount: 500,
    requests: [{ setupRequest: nextRequest(endpoint, fixture, "http://127.0.0.1:9/x") }],
  });
}

const TARGETS: Partial<Record<Endpoint, number>> = { "GET /jobs/{id}": 5, "POST /jobs": 15 };
const LOAD_LABEL: Record<Mode, string> = {
  paced: `${values.rate} req/s paced (open loop, ≤ ${values.connections} connections)`,
  steady: `${values.rate} req/s, autocannon (each second's share at once)`,
  "flat out": `flat out, ${values.connections} connections`,
};

const CREATE_TARGET_SECONDS = 5;

function report(all: RunResult[]): string[] {
  const rows: string[][] = [];
  for (const endpoint of ENDPOINTS) {
    for (const mode of ["paced", "steady", "flat out"] as const) {
      const runs = all.map((r) => r.loads.find((x) => x.endpoint === endpoint && x.mode === mode)!);
      const s = (f: (r: LoadResult) => number, d?: number) => showSpread(spread(runs.map(f)), d);
      const p95 = spread(runs.map((r) => r.p95));
      const goal = mode === "paced" ? TARGETS[endpoint] : undefined;
      rows.push([
        endpoint,
        LOAD_LABEL[mode],
        s((r) => r.requestsPerSecond, 0),
        s((r) => r.p50),
        s((r) => r.p95),
        s((r) => r.p99),
        s((r) => r.non2xx + r.errors, 0),
        s((r) => r.processes.api?.cpuPercent ?? Number.NaN, 0),
        s((r) => r.processes["postgres (this run's backends)"]?.cpuPercent ?? Number.NaN, 0),
        s((r) => r.processes.api?.peakRssMb ?? Number.NaN, 0),
        goal && p95.runs > 0 ? `p95 < ${goal} ms: ${p95.median < goal ? "met" : "**missed**"}` : "",
      ]);
    }
  }
  const create = spread(all.map((r) => r.createSeconds));
  const stored = `${JOBS.toLocaleString("en-US")} jobs of ${values.tenants === "1" ? "one tenant" : `${values.tenants} tenants`}`;
  return [
    `### ${stored} stored, API process alone — ${all.length} runs, ${seconds} s per load, medians (min–max)`,
    "",
    `Created through \`POST /internal/jobs/batch-create\` (${PER_CALL} a call, ${values.parallel} in flight), no manual ANALYZE: ${showSpread(create, 2)} s (${showSpread(spread(all.map((r) => JOBS / r.createSeconds)), 0)} jobs/s); target for 100,000 ≤ ${CREATE_TARGET_SECONDS} s${JOBS === 100_000 && create.runs > 0 ? `: ${create.median <= CREATE_TARGET_SECONDS ? "met" : "**missed**"}` : ""}.`,
    "",
    table(
      [
        "endpoint",
        "load",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "non-2xx + errors",
        "api CPU %",
        "its postgres backends CPU %",
        "api peak RSS MB",
        "target",
      ],
      rows,
    ),
    "",
  ];
}

const environment = await environmentLines();
const all: RunResult[] = [];
try {
  for (let i = 0; i < Number(values.runs); i++) {
    all.push(await runOnce());
    console.error(JSON.stringify(all.at(-1)!.loads.map(({ processes, ...r }) => r)));
  }
  if (values.profile) {
    const dir = `${REPO_ROOT}bench/profiles/api-${Date.now()}`;
    await runOnce(dir);
    console.error(`CPU profile of the api (an extra run, not in the medians): ${dir}`);
    console.error(describeProfiles(dir));
  }
} finally {
  await closeAll();
}
const command = `node --conditions=@scheduler/source --import tsx bench/workloads/api.ts --jobs ${values.jobs} --tenants ${values.tenants} --parallel ${values.parallel} --runs ${values.runs} --rate ${values.rate} --seconds ${seconds} --connections ${values.connections}`;
const body = [...environment, "", ...report(all)];
if (values["no-append"]) console.log(body.join("\n"));
else appendResults(`api (${JOBS.toLocaleString("en-US")} jobs stored)`, command, body);
process.exit(0);
