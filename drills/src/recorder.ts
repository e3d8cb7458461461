import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { Redis } from "ioredis";
import type { Cluster, DrillProcess } from "./cluster.js";
import type { ApiProbe, LeaderSample, TargetHit } from "./record.js";

/** How long the slow target keeps a request before it answers. */
export const SLOW_TARGET_MS = 30_000;
/** What the huge target sends. */
export const HUGE_TARGET_BYTES = 64 * 1024 * 1024;

/**
 * The drill's HTTP target: records every request by `X-Scheduler-Execution-Id` and
 * answers by path: `/ok` at once, `/slow` after 30 s, `/wait?ms=N` after N ms (at most 10 s), `/huge` with 64 MiB, `/redirect`
 * with a redirect to a private (metadata) address, `/fail-first` 503 to an execution's
 * first attempt and 200 to the others.
 */
export async function startTarget() {
  const hits: TargetHit[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0]!;
    hits.push({
      executionId: String(req.headers["x-scheduler-execution-id"] ?? "none"),
      attempt: Number(req.headers["x-scheduler-attempt"] ?? 0),
      at: Date.now(),
      path,
    });
    if (path === "/wait") {
      const waitMs = Math.min(
        10_000,
        Number(new URL(req.url ?? "/", "http://x").searchParams.get("ms")) || 0,
      );
      const timer = setTimeout(() => res.end("waited"), waitMs);
      res.on("close", () => clearTimeout(timer));
    } else if (path === "/slow") {
      const timer = setTimeout(() => res.end("late"), SLOW_TARGET_MS);
      res.on("close", () => clearTimeout(timer));
    } else if (path === "/huge") {
      res.writeHead(200, { "content-type": "text/plain" });
      const chunk = Buffer.alloc(64 * 1024, "x");
      let sent = 0;
      const pump = () => {
        while (sent < HUGE_TARGET_BYTES) {
          sent += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        res.end();
      };
      res.on("error", () => {});
      pump();
    } else if (path === "/fail-first" && req.headers["x-scheduler-attempt"] === "1") {
      res.writeHead(503, { "content-type": "text/plain" }).end("first attempt fails");
    } else if (path === "/redirect") {
      res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    }
  });
  server.keepAliveTimeout = 1000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A fetch that gives up after `ms`, reporting what it got and how long it took. */
async function timedFetch(
  url: string,
  init: RequestInit,
  ms: number,
): Promise<{ status: number | null; body: string; durationMs: number; error?: string }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
    const body = await res.text();
    return { status: res.status, body, durationMs: performance.now() - t0 };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string } };
    return {
      status: null,
      body: "",
      durationMs: performance.now() - t0,
      error: e.cause?.code ?? e.name,
    };
  }
}

export interface SamplerOptions {
  cluster: Cluster;
  redis: Redis;
  lockKey: string;
  /** A tenant token with jobs:read and scheduler:monitor. */
  token: string;
  secrets: string[];
}

/**
 * Samples, while a drill runs: who leads (the API's /status, the Redis lock key, each
 * scheduler's leader gauge) every 300 ms, and the API's liveness (a jobs list from each
 * API process) every 500 ms. Every answer is scanned for the secrets.
 */
export class Sampler {
  readonly leaderSamples: LeaderSample[] = [];
  readonly probes: ApiProbe[] = [];
  responses = 0;
  readonly leaks = new Set<string>();
  private running = false;
  private loops: Promise<void>[] = [];
  private apiTurn = 0;

  constructor(private readonly options: SamplerOptions) {}

  start(): void {
    this.running = true;
    this.loops = [this.loop(300, () => this.sampleLeaders()), this.loop(500, () => this.probe())];
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(periodMs: number, body: () => Promise<void>): Promise<void> {
    while (this.running) {
      const t0 = Date.now();
      await body().catch(() => {});
      await new Promise((r) => setTimeout(r, Math.max(0, periodMs - (Date.now() - t0))));
    }
  }

  private liveApis(): DrillProcess[] {
    return this.options.cluster.live("api").filter((p) => !p.frozen && p.apiPort);
  }

  private scan(where: string, body: string): void {
    this.responses += 1;
    for (const secret of this.options.secrets) {
      if (body.includes(secret)) this.leaks.add(where);
    }
  }

  private async request(api: DrillProcess, route: string, kind: ApiProbe["kind"]) {
    const at = Date.now();
    const r = await timedFetch(
      `http://127.0.0.1:${api.apiPort}/api/v1/scheduler${route}`,
      { headers: { authorization: `Bearer ${this.options.token}` } },
      10_000,
    );
    // A process killed or frozen during the request: not a hang of the API.
    if (api.exitedAt !== undefined && api.exitedAt <= at + r.durationMs) return r;
    this.probes.push({
      at,
      api: api.name,
      route: `GET ${route.split("?")[0]}`,
      kind,
      durationMs: Math.round(r.durationMs),
      status: r.status,
      ...(r.error ? { error: r.error } : {}),
    });
    this.scan(`api:${route.split("?")[0]}`, r.body);
    return r;
  }

  private async sampleLeaders(): Promise<void> {
    const { cluster, redis, lockKey } = this.options;
    const apis = this.liveApis();
    const api = apis[this.apiTurn++ % Math.max(1, apis.length)];
    const status = api
      ? this.request(api, "/status", "monitor").then((r) => {
          if (r.status !== 200) return;
          const leader = (JSON.parse(r.body) as { leader: { id: string } | null }).leader;
          this.leaderSamples.push({
            at: Date.now(),
            source: "status",
            leaders: leader ? [leader.id] : [],
          });
        })
      : Promise.resolve();
    const lock = redis
      .get(lockKey)
      .then((value) => {
        this.leaderSamples.push({
          at: Date.now(),
          source: "lock",
          leaders: value ? [value.split("|")[0]!] : [],
        });
      })
      .catch(() => {});
    const at = Date.now();
    const schedulers = cluster.live("scheduler").filter((p) => p.metricsPort);
    const gauges = await Promise.all(
      schedulers.map(async (p) => {
        const r = await timedFetch(`http://127.0.0.1:${p.metricsPort}/metrics`, {}, 500);
        if (r.status !== 200) return undefined;
        const m = /^scheduler_leader\{[^}]*instance_id="([^"]+)"[^}]*\} 1$/m.exec(r.body);
        return { leader: m?.[1] };
      }),
    );
    const answered = gauges.filter((g) => g !== undefined);
    this.leaderSamples.push({
      at,
      source: "gauge",
      leaders: answered.flatMap((g) => (g.leader ? [g.leader] : [])),
      scraped: answered.length,
    });
    await Promise.all([status, lock]);
  }

  private async probe(): Promise<void> {
    await Promise.all(this.liveApis().map((api) => this.request(api, "/jobs?limit=5", "read")));
  }
}
