import { once } from "node:events";
import { appendFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import {
  type AppName,
  freePort,
  type RunningProcess,
  startApp,
  TEST_CONFIG_ENCRYPTION_KEY,
} from "@scheduler/testkit/harness";

/** Short knobs (docs/reliability.md §Knobs) so that a takeover or a redelivery takes seconds. */
export const KNOBS = {
  tickMs: 200,
  lockTtlMs: 2000,
  lookaheadMs: 2000,
  reconcileMs: 1000,
  stalledMs: 1000,
  killGraceMs: 500,
  /** The production default: a failover or a 20 s Redis outage is no misfire. */
  misfireThresholdMs: 60_000,
};

export const JWT_SECRET = "drill-jwt-secret-of-at-least-thirty-two-chars";
export const SERVICE_TOKEN = "drill-internal-service-token";

/** One app process the drill started, with what its log told. */
export interface DrillProcess {
  name: string;
  kind: AppName;
  run: RunningProcess;
  pid: number;
  startedAt: number;
  /** Scheduler instance id (`scheduler-<host>-<pid>`). */
  instanceId: string;
  apiPort?: number;
  metricsPort?: number;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: string | null; at: number }>;
  exitedAt?: number;
  /** The harness stopped it (SIGSTOP) and has not resumed it. */
  frozen: boolean;
  /** The harness asked it to exit (SIGTERM or SIGKILL). */
  exitRequested: boolean;
  /** It has a failpoint armed: exiting at it is its purpose. */
  armed: boolean;
}

export interface LeaderEvent {
  at: number;
  instanceId: string;
}

/** Which log line says a process of each kind is ready. */
const READY: Record<AppName, string> = {
  api: "metrics listening",
  scheduler: "scheduler started",
  worker: "worker started",
};

/**
 * The api, scheduler and worker processes of one drill: started, killed, restarted by
 * name, their logs read line by line (metrics ports, leadership changes) and scanned
 * for secrets as they are written.
 */
export class Cluster {
  readonly all: DrillProcess[] = [];
  readonly leaderEvents: LeaderEvent[] = [];
  logBytes = 0;
  readonly leaks = new Set<string>();
  private readonly envByKind: Record<AppName, Record<string, string>>;

  constructor(
    common: Record<string, string>,
    perKind: Partial<Record<AppName, Record<string, string>>>,
    private readonly secrets: string[],
    /** Where each process's whole output is written, `<dir>/<name>.log`. */
    private readonly logDir?: string,
  ) {
    const targets = {
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
      HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
      COMMAND_JOB_ALLOWED: "sh,sleep",
      COMMAND_JOB_WORKDIR_ROOT: `/tmp/scheduler-drills-${process.pid}`,
    };
    this.envByKind = {
      api: {
        ...common,
        ...targets,
        HOST: "127.0.0.1",
        JWT_SECRET,
        INTERNAL_SERVICE_TOKEN: SERVICE_TOKEN,
        TENANT_RATE_LIMIT_PER_MINUTE: "100000",
        DATABASE_POOL_SIZE: "4",
        ...perKind.api,
      },
      scheduler: {
        ...common,
        SCHEDULER_TICK_MS: String(KNOBS.tickMs),
        SCHEDULER_LOCK_TTL_MS: String(KNOBS.lockTtlMs),
        SCHEDULER_LOOKAHEAD_MS: String(KNOBS.lookaheadMs),
        RECONCILE_INTERVAL_MS: String(KNOBS.reconcileMs),
        MISFIRE_THRESHOLD_MS: String(KNOBS.misfireThresholdMs),
        DATABASE_POOL_SIZE: "4",
        ...perKind.scheduler,
      },
      worker: {
        ...common,
        ...targets,
        FUNCTIONS_DIR: new URL("../../functions", import.meta.url).pathname,
        WORKER_STALLED_INTERVAL_MS: String(KNOBS.stalledMs),
        WORKER_HEARTBEAT_MS: "500",
        CANCEL_KILL_GRACE_MS: String(KNOBS.killGraceMs),
        WORKER_SHUTDOWN_GRACE_MS: "1000",
        WORKER_CONCURRENCY: "20",
        DATABASE_POOL_SIZE: "8",
        ...perKind.worker,
      },
    };
  }

  /** Starts a process; `ready` resolves when its log says so. */
  async start(
    kind: AppName,
    name: string,
    env: Record<string, string> = {},
  ): Promise<DrillProcess> {
    const apiPort = kind === "api" ? await freePort() : undefined;
    let resolveReady!: () => void;
    const ready = new Promise<void>((r) => {
      resolveReady = r;
    });
    let pending = "";
    let tail = "";
    const longest = Math.max(0, ...this.secrets.map((s) => s.length));
    // Assigned once the process exists; the log reader runs only after that.
    let p: DrillProcess;
    const onOutput = (chunk: string) => {
      this.logBytes += chunk.length;
      if (this.logDir) appendFileSync(`${this.logDir}/${name}.log`, chunk);
      const scanned = tail + chunk;
      for (const secret of this.secrets) {
        if (scanned.includes(secret)) this.leaks.add(`logs:${name}`);
      }
      tail = scanned.slice(-longest);
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        let entry: {
          msg?: string;
          time?: string | number;
          metricsPort?: number;
          instanceId?: string;
        };
        try {
          entry = JSON.parse(line);
        } catch {
          continue;
        }
        if (entry.msg === "metrics listening" && p) p.metricsPort = entry.metricsPort;
        if (entry.msg === READY[kind]) resolveReady();
        if (entry.msg === "leadership acquired") {
          this.leaderEvents.push({
            at:
              typeof entry.time === "string" ? Date.parse(entry.time) : (entry.time ?? Date.now()),
            instanceId: entry.instanceId ?? "?",
          });
        }
      }
    };
    const run = startApp(
      kind,
      { ...this.envByKind[kind], ...(apiPort ? { PORT: String(apiPort) } : {}), ...env },
      { onOutput },
    );
    const exited = once(run.child, "exit").then(([code, signal]) => {
      p.exitedAt = Date.now();
      return { code: code as number | null, signal: signal as string | null, at: p.exitedAt };
    });
    p = {
      name,
      kind,
      run,
      pid: run.child.pid ?? -1,
      startedAt: Date.now(),
      instanceId: `scheduler-${hostname()}-${run.child.pid}`,
      apiPort,
      ready: Promise.race([
        ready,
        exited.then(({ code }) => {
          throw new Error(`${name} exited (${code}) before it was ready:\n${run.output()}`);
        }),
      ]),
      exited,
      frozen: false,
      exitRequested: false,
      armed: Boolean(env.SCHEDULER_FAILPOINTS),
    };
    p.ready.catch(() => {});
    this.all.push(p);
    return p;
  }

  /** Starts and waits until ready (60 s: the machine is shared). */
  async startReady(kind: AppName, name: string, env: Record<string, string> = {}) {
    const p = await this.start(kind, name, env);
    await withTimeout(p.ready, 60_000, `${name} ready`);
    return p;
  }

  live(kind?: AppName): DrillProcess[] {
    return this.all.filter((p) => p.exitedAt === undefined && (!kind || p.kind === kind));
  }

  /** Processes that exited without being asked to (a crash), failpoints aside. */
  unexpectedExits(): DrillProcess[] {
    return this.all.filter((p) => p.exitedAt !== undefined && !p.exitRequested && !p.armed);
  }

  byInstance(instanceId: string): DrillProcess | undefined {
    return this.all.find((p) => p.kind === "scheduler" && p.instanceId === instanceId);
  }

  signal(p: DrillProcess, signal: NodeJS.Signals): void {
    if (p.exitedAt !== undefined) return;
    if (signal === "SIGKILL" || signal === "SIGTERM") p.exitRequested = true;
    p.run.child.kill(signal);
    if (signal === "SIGSTOP") p.frozen = true;
    if (signal === "SIGCONT") p.frozen = false;
  }

  /** kill -9, and wait for the exit. */
  async kill(p: DrillProcess): Promise<number> {
    this.signal(p, "SIGKILL");
    return (await p.exited).at;
  }

  /** SIGTERM (after SIGCONT), SIGKILL after the grace; waits for the exit. */
  async stop(p: DrillProcess, graceMs = 8000): Promise<void> {
    if (p.exitedAt !== undefined) return;
    this.signal(p, "SIGCONT");
    this.signal(p, "SIGTERM");
    const timer = setTimeout(() => this.signal(p, "SIGKILL"), graceMs);
    await p.exited;
    clearTimeout(timer);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.live().map((p) => this.stop(p)));
  }

  /** Output of every process, for a failure message. */
  diagnostics(): string {
    return this.all
      .map((p) => `--- ${p.name} (pid ${p.pid})\n${p.run.output().slice(-1500)}`)
      .join("\n");
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resident memory and open descriptors of a process, from /proc. */
export async function resourcesOf(pid: number): Promise<{ rssKb: number; fds: number } | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const rss = /VmRSS:\s+(\d+)/.exec(status);
    const fds = (await readdir(`/proc/${pid}/fd`)).length;
    return { rssKb: Number(rss?.[1] ?? 0), fds };
  } catch {
    return null;
  }
}
