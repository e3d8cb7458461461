import { readFileSync } from "node:fs";

/** CPU and memory one attempt used; null where it cannot be measured (docs/worker.md). */
export interface ResourceUsage {
  cpuTimeMs: number | null;
  memoryPeakMb: number | null;
}

/** What an executor reports while it runs, besides its result. */
export interface RunHooks {
  /** Progress 0..100 as the job reports it, rounded and clamped. */
  onProgress?(percent: number): void;
  /** Called once per attempt, before the attempt settles. */
  onUsage?(usage: ResourceUsage): void;
}

/** Linux USER_HZ: /proc times count these ticks per second (100 on every mainstream arch). */
const TICKS_PER_SECOND = 100;

/** CPU time of a process or thread as /proc counts it, in ms. */
export interface ProcCpu {
  /** utime + stime of the process (or thread) itself. */
  ownMs: number;
  /** cutime + cstime: children it has waited for. */
  childrenMs: number;
}

/**
 * Reads `/proc/<path>/stat` (`self`, `<pid>`, `<pid>/task/<tid>`). Undefined when the
 * entry is gone or /proc does not exist (not Linux).
 */
export function readProcCpu(path: string): ProcCpu | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${path}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name sits in parentheses and may hold spaces: count fields after it.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Field 3 (state) is fields[0], so utime (14) … cstime (17) are fields[11..14].
  const ticks = fields.slice(11, 15).map(Number);
  if (ticks.length < 4 || ticks.some((t) => !Number.isFinite(t))) return undefined;
  const [utime, stime, cutime, cstime] = ticks as [number, number, number, number];
  const toMs = (t: number) => Math.round((t * 1000) / TICKS_PER_SECOND);
  return { ownMs: toMs(utime + stime), childrenMs: toMs(cutime + cstime) };
}

/** Peak resident set (VmHWM) of a process in MB, from `/proc/<pid>/status`. */
export function readPeakRssMb(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(text);
  return match ? Math.ceil(Number(match[1]) / 1024) : undefined;
}

/** Bytes to whole MB, rounded up so a small but real use never reads 0. */
export function bytesToMb(bytes: number): number {
  return Math.ceil(bytes / (1024 * 1024));
}

/** Keeps the last `limit` bytes of a stream of chunks. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private kept = 0;
  private seen = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.seen += chunk.length;
    this.chunks.push(chunk);
    this.kept += chunk.length;
    while (this.chunks.length > 1 && this.kept - this.chunks[0]!.length >= this.limit) {
      this.kept -= this.chunks.shift()!.length;
    }
  }

  get truncated(): boolean {
    return this.seen > this.limit;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString("utf8");
  }
}
