import { readdirSync, readFileSync } from "node:fs";

/** sysconf(_SC_CLK_TCK): the unit of utime/stime in /proc/<pid>/stat on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** A process (or a group of them, such as PostgreSQL's backends) to watch. */
export interface Watched {
  name: string;
  /** The pids to read now; a group is re-listed at each sample. */
  pids(): number[];
  /** RSS is meaningless for a group sharing memory (PostgreSQL): report CPU only. */
  cpuOnly?: boolean;
  /**
   * Pids come and go (database backends of a run): count each pid's CPU as last seen,
   * so one that disappears does not take its time out of the total.
   */
  accumulate?: boolean;
}

interface Sample {
  atMs: number;
  /** utime + stime (+ reaped children's) in clock ticks, summed over the pids. */
  cpuTicks: number;
  rssKb: number;
}

/** CPU and memory of one watched process over a window. */
export interface ProcessFigures {
  /** Average CPU over the window, in % of one core. */
  cpuPercent: number;
  cpuSeconds: number;
  /** Highest RSS sampled in the window, in MB; null for a group. */
  peakRssMb: number | null;
}

/** Counts children's CPU too: PostgreSQL's postmaster accumulates its exited backends. */
function readCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const [utime, stime, cutime, cstime] = [11, 12, 13, 14].map((i) => Number(fields[i]));
  return utime! + stime! + cutime! + cstime!;
}

function readRssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Pids whose command name (/proc/<pid>/comm) is `comm`: postgres, redis-server. */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === comm) pids.push(Number(entry));
    } catch {
      // The process exited while we listed it.
    }
  }
  return pids;
}

/**
 * Samples every watched process's CPU time and RSS every `intervalMs` (250 ms as the
 * issue asks), so any window of a run can be summarised afterwards.
 */
export class ProcessSampler {
  private readonly samples = new Map<string, Sample[]>();
  private readonly lastTicks = new Map<string, Map<number, number>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly watched: Watched[],
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Figures of each watched process between two instants (epoch ms). */
  window(fromMs: number, toMs: number): Record<string, ProcessFigures> {
    const out: Record<string, ProcessFigures> = {};
    for (const w of this.watched) {
      const all = this.samples.get(w.name) ?? [];
      const inside = all.filter((s) => s.atMs >= fromMs && s.atMs <= toMs);
      if (inside.length < 2) continue;
      const first = inside[0]!;
      const last = inside.at(-1)!;
      const cpuSeconds = (last.cpuTicks - first.cpuTicks) / CLOCK_TICKS_PER_SECOND;
      const seconds = (last.atMs - first.atMs) / 1000;
      out[w.name] = {
        cpuPercent: (100 * cpuSeconds) / seconds,
        cpuSeconds,
        peakRssMb: w.cpuOnly ? null : Math.max(...inside.map((s) => s.rssKb)) / 1024,
      };
    }
    return out;
  }

  private sample(): void {
    const atMs = Date.now();
    for (const w of this.watched) {
      let cpuTicks = 0;
      let rssKb = 0;
      const seen = this.lastTicks.get(w.name) ?? new Map<number, number>();
      for (const pid of w.pids()) {
        try {
          const ticks = readCpuTicks(pid);
          if (w.accumulate) seen.set(pid, ticks);
          else cpuTicks += ticks;
          if (!w.cpuOnly) rssKb += readRssKb(pid);
        } catch {
          // Exited between listing and reading.
        }
      }
      if (w.accumulate) {
        this.lastTicks.set(w.name, seen);
        for (const ticks of seen.values()) cpuTicks += ticks;
      }
      const list = this.samples.get(w.name) ?? [];
      list.push({ atMs, cpuTicks, rssKb });
      this.samples.set(w.name, list);
    }
  }
}

/**
 * Watches the given processes plus PostgreSQL (the whole server, other users included,
 * and, with `backends`, only the backends serving this run's database), Redis and this
 * bench process (which hosts the HTTP target).
 */
export function samplerFor(
  processes: { name: string; pid: number }[],
  backends?: () => number[],
): ProcessSampler {
  return new ProcessSampler([
    ...processes.map((p) => ({ name: p.name, pids: () => [p.pid] })),
    ...(backends
      ? [
          {
            name: "postgres (this run's backends)",
            pids: backends,
            cpuOnly: true,
            accumulate: true,
          },
        ]
      : []),
    { name: "postgres (whole server)", pids: () => pidsNamed("postgres"), cpuOnly: true },
    { name: "redis-server", pids: () => pidsNamed("redis-server") },
    { name: "bench + target", pids: () => [process.pid] },
  ]);
}
