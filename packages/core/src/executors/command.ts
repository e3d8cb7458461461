import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, mkdir, realpath, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CommandJobConfig, JobResult } from "../job.js";
import { resolveWorkingDirectory } from "../targets.js";
import { ExecutionError, type RunContext } from "./http.js";
import { OutputTail, type RunHooks, readPeakRssMb, readProcCpu } from "./procStat.js";

/** stdout and stderr are each kept up to this many bytes (the tail). */
export const MAX_KEPT_OUTPUT_BYTES = 64 * 1024;
/** The PATH a command gets, whatever the worker's own PATH is. */
export const COMMAND_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** How often a running command's CPU and peak memory are read from /proc, in ms. */
const USAGE_SAMPLE_MS = 250;
/** A `::progress N` line longer than this is not a progress line. */
const MAX_PROGRESS_LINE = 256;
const PROGRESS_LINE = /^::progress\s+(\d{1,3}(?:\.\d+)?)\s*$/;

export interface CommandRunOptions extends RunHooks {
  /** Bare executable names command jobs may run (COMMAND_JOB_ALLOWED). */
  allowedCommands: readonly string[];
  /** Working directories lie under this (COMMAND_JOB_WORKDIR_ROOT); created if missing. */
  workdirRoot: string;
  /** On timeout or cancel: SIGTERM to the process group, SIGKILL after this, in ms. */
  killGraceMs: number;
  /** Directories searched for the executable. (Default: the worker's PATH) */
  searchPath?: string;
}

/**
 * Runs one attempt of a command job: an allow-listed executable, spawned without a
 * shell as the leader of its own process group, with a minimal environment and a
 * working directory under the root. On timeout or cancel, and after it exits (to sweep
 * anything it left running), the whole group gets SIGTERM, then SIGKILL after
 * `killGraceMs`. Resolves only once the group is gone.
 */
export async function runCommandJob(
  config: CommandJobConfig,
  ctx: RunContext,
  options: CommandRunOptions,
): Promise<JobResult> {
  if (config.command.includes("/") || !options.allowedCommands.includes(config.command)) {
    throw new ExecutionError("VALIDATION_ERROR", `command '${config.command}' is not allowed`);
  }
  const executable = await findExecutable(config.command, options.searchPath ?? process.env.PATH);
  const cwd = await resolveWorkdir(options.workdirRoot, config.workingDirectory);
  const signal = config.timeout
    ? AbortSignal.any([ctx.signal, AbortSignal.timeout(config.timeout)])
    : ctx.signal;
  if (signal.aborted) throw abortError(signal);
  const env = commandEnvironment(config, ctx, cwd);
  refuseNulBytes(config.args ?? [], env);
  let child: ChildProcess;
  try {
    child = spawn(executable, config.args ?? [], {
      cwd,
      env,
      detached: true,
      shell: false,
      stdio: ["ignore", "pipe", "pipe"],
      argv0: config.command,
    });
  } catch (error) {
    // spawn's own messages quote the offending argument or variable: its code only.
    const code = (error as { code?: string }).code ?? "spawn failed";
    throw new ExecutionError("SYSTEM_ERROR", `command '${config.command}' did not start: ${code}`);
  }
  return new ChildRun(child, signal, options).settled;
}

/**
 * A NUL byte cannot be passed to exec; spawn would throw an error quoting the whole
 * value, a secret environment value included. The schema refuses them; a config stored
 * before it did is refused here, naming the place and never the value.
 */
function refuseNulBytes(args: readonly string[], env: Record<string, string>): void {
  const index = args.findIndex((arg) => arg.includes("\0"));
  if (index >= 0) {
    throw new ExecutionError("VALIDATION_ERROR", `config.args[${index}] contains a NUL byte`);
  }
  const name = Object.keys(env).find((key) => env[key]!.includes("\0"));
  if (name !== undefined) {
    throw new ExecutionError("VALIDATION_ERROR", `config.environment.${name} contains a NUL byte`);
  }
}

/**
 * PATH, HOME (the working directory), LANG, the job's `environment`, and the execution's
 * identity; the worker's own variables never. The job cannot override PATH (the schema
 * refuses it) nor the SCHEDULER_* identity.
 */
export function commandEnvironment(
  config: CommandJobConfig,
  ctx: RunContext,
  home: string,
): Record<string, string> {
  return {
    HOME: home,
    LANG: "C.UTF-8",
    ...config.environment,
    PATH: COMMAND_PATH,
    SCHEDULER_EXECUTION_ID: ctx.executionId,
    SCHEDULER_SCHEDULED_AT: ctx.scheduledAt.toISOString(),
  };
}

/** The absolute path of an allowed command, looked up in the worker's PATH. */
async function findExecutable(command: string, searchPath: string | undefined): Promise<string> {
  for (const dir of (searchPath ?? COMMAND_PATH).split(":")) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new ExecutionError(
    "VALIDATION_ERROR",
    `command '${command}' is not installed on this worker`,
  );
}

/**
 * The working directory inside the root (the API's rule: relative to the root, no '..'),
 * created if missing; symlinks resolved and checked again. What already exists of the
 * path is checked before anything is created, so a symlink inside the root (which an
 * earlier command could have made) cannot have directories created outside it.
 */
async function resolveWorkdir(root: string, workingDirectory: string | undefined): Promise<string> {
  const refuse = () =>
    new ExecutionError(
      "VALIDATION_ERROR",
      `workingDirectory '${workingDirectory}' must lie under COMMAND_JOB_WORKDIR_ROOT`,
    );
  const target = resolveWorkingDirectory(workingDirectory ?? ".", root);
  if (!target) throw refuse();
  await mkdir(root, { recursive: true });
  const realBase = await realpath(root);
  const isInside = (path: string) => {
    const inside = relative(realBase, path);
    return !(inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside));
  };
  if (!isInside(await realpath(await deepestExisting(target)))) throw refuse();
  await mkdir(target, { recursive: true });
  const realTarget = await realpath(target);
  if (!isInside(realTarget)) throw refuse();
  return realTarget;
}

/** The longest leading part of `path` that exists (following symlinks). */
async function deepestExisting(path: string): Promise<string> {
  for (let current = path; ; current = dirname(current)) {
    try {
      await stat(current);
      return current;
    } catch {
      if (dirname(current) === current) return current;
    }
  }
}

/** One child from spawn until its process group is gone. */
class ChildRun {
  readonly settled: Promise<JobResult>;
  private readonly stdout = new OutputTail(MAX_KEPT_OUTPUT_BYTES);
  private readonly stderr = new OutputTail(MAX_KEPT_OUTPUT_BYTES);
  private readonly progress: ProgressLines;
  private cpuTimeMs: number | null = null;
  private memoryPeakMb: number | null = null;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly signal: AbortSignal,
    private readonly options: CommandRunOptions,
  ) {
    this.progress = new ProgressLines((percent) => options.onProgress?.(percent));
    child.stdout!.on("data", (chunk: Buffer) => {
      this.stdout.push(chunk);
      this.progress.push(chunk);
    });
    child.stderr!.on("data", (chunk: Buffer) => this.stderr.push(chunk));
    this.settled = this.run();
  }

  private async run(): Promise<JobResult> {
    const { child, signal } = this;
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once("exit", (code, sig) => resolve({ code, signal: sig }));
        child.once("error", (error) => {
          if (child.pid === undefined) reject(spawnError(error));
        });
      },
    );
    const onAbort = () => void this.stopGroup();
    signal.addEventListener("abort", onAbort, { once: true });
    const sampler = setInterval(() => this.sampleUsage(), USAGE_SAMPLE_MS);
    setImmediate(() => this.sampleUsage());
    try {
      const exit = await exited;
      // Anything the command left running in its group goes too.
      await this.stopGroup();
      await Promise.race([closed, sleep(1000)]);
      if (signal.aborted) throw abortError(signal, this.resultOf(exit));
      return this.judge(exit);
    } finally {
      clearInterval(sampler);
      signal.removeEventListener("abort", onAbort);
      this.options.onUsage?.({ cpuTimeMs: this.cpuTimeMs, memoryPeakMb: this.memoryPeakMb });
    }
  }

  private judge(exit: { code: number | null; signal: NodeJS.Signals | null }): JobResult {
    const result = this.resultOf(exit);
    if (exit.code === 0) return result;
    const how =
      exit.code === null ? `was ended by ${exit.signal}` : `exited with code ${exit.code}`;
    throw new ExecutionError("USER_ERROR", `command ${how}`, result);
  }

  private resultOf(exit: { code: number | null; signal: NodeJS.Signals | null }): JobResult {
    return {
      success: exit.code === 0,
      result: { stdout: this.stdout.text(), stderr: this.stderr.text(), exitCode: exit.code },
      metadata: {
        signal: exit.signal,
        stdoutTruncated: this.stdout.truncated,
        stderrTruncated: this.stderr.truncated,
      },
    };
  }

  private stopGroup(): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined) return Promise.resolve();
    this.stopping ??= killProcessGroup(pid, this.options.killGraceMs);
    return this.stopping;
  }

  /** CPU of the child and the children it reaped; its peak resident memory. */
  private sampleUsage(): void {
    const pid = this.child.pid;
    if (pid === undefined || this.child.exitCode !== null) return;
    const cpu = readProcCpu(String(pid));
    if (cpu) this.cpuTimeMs = cpu.ownMs + cpu.childrenMs;
    const peak = readPeakRssMb(pid);
    if (peak !== undefined) this.memoryPeakMb = Math.max(this.memoryPeakMb ?? 0, peak);
  }
}

/**
 * SIGTERM to every process of the group, then SIGKILL to whatever is left after
 * `graceMs`; resolves once the group is empty (or a short wait after SIGKILL passed).
 */
export async function killProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pgid, "SIGTERM")) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(Math.min(50, graceMs));
    if (!signalGroup(pgid, 0)) return;
  }
  signalGroup(pgid, "SIGKILL");
  for (let i = 0; i < 80 && signalGroup(pgid, 0); i++) await sleep(25);
}

/** Sends a signal to a process group; false once the group no longer exists. */
function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

/** Finds `::progress N` lines in a stream of stdout chunks. */
class ProgressLines {
  private partial = "";
  private overlong = false;

  constructor(private readonly report: (percent: number) => void) {}

  push(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString("latin1")).split("\n");
    this.partial = lines.pop()!;
    for (const line of lines) {
      if (!this.overlong) this.match(line);
      this.overlong = false;
    }
    if (this.partial.length > MAX_PROGRESS_LINE) {
      this.partial = "";
      this.overlong = true;
    }
  }

  private match(line: string): void {
    const found = PROGRESS_LINE.exec(line.replace(/\r$/, ""));
    if (found) this.report(Math.min(100, Math.round(Number(found[1]))));
  }
}

function abortError(signal: AbortSignal, result?: JobResult): ExecutionError {
  const timedOut = (signal.reason as { name?: string } | undefined)?.name === "TimeoutError";
  return timedOut
    ? new ExecutionError("TIMEOUT", "command timed out", result)
    : new ExecutionError("CANCELLED", "command cancelled", result);
}

function spawnError(error: Error): ExecutionError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "EACCES") {
    return new ExecutionError("VALIDATION_ERROR", `command cannot be started (${code})`);
  }
  return new ExecutionError("SYSTEM_ERROR", `command cannot be started: ${code ?? error.message}`);
}
