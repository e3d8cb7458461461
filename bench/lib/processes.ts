import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface BenchProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last 20,000 characters the process wrote, for a failure message. */
  output(): string;
  /** Resolves at the first line of output that matches. */
  lineMatching(pattern: RegExp, timeoutMs: number): Promise<string>;
}

export interface StartOptions {
  /** Write a V8 CPU profile (`--cpu-prof`) to this folder when the process exits. */
  cpuProfileDir?: string;
  /** Plain JavaScript: run without tsx. */
  plain?: boolean;
}

/**
 * Starts a TypeScript entry point as its own OS process from source, as the e2e tests
 * and the dev start command do (tsx, the `@scheduler/source` condition); with `plain`,
 * a JavaScript file with nothing loaded before it.
 */
export function startProcess(
  name: string,
  entry: string,
  env: Record<string, string>,
  options: StartOptions = {},
): BenchProcess {
  const nodeArgs = options.plain ? [] : ["--conditions=@scheduler/source", "--import", "tsx"];
  if (options.cpuProfileDir) {
    // A folder per process: tsx's loader thread writes a profile of its own beside the main one.
    const dir = `${options.cpuProfileDir}/${name}`;
    mkdirSync(dir, { recursive: true });
    nodeArgs.push("--cpu-prof", `--cpu-prof-dir=${dir}`);
  }
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    for (const line of text.split("\n")) {
      for (const w of waiters.filter((x) => x.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  return {
    name,
    child,
    pid: child.pid,
    output: () => output,
    lineMatching(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`${name}: no line matching ${pattern} in ${timeoutMs} ms\n${output}`)),
          timeoutMs,
        );
        const exited = () => reject(new Error(`${name} exited early:\n${output}`));
        child.once("exit", exited);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            child.off("exit", exited);
            resolve(line);
          },
        });
      });
    },
  };
}

/**
 * A built copy of the repository (bench/buildCopy.sh): when set, our apps run as in
 * production, `node apps/<name>/dist/main.js`, without tsx's loader in their memory.
 */
export const BUILT_ROOT = process.env.BENCH_BUILT_ROOT;

/** Starts one of our apps: from source (apps/<name>/src/main.ts), or built with BENCH_BUILT_ROOT. */
export function startApp(
  name: "api" | "scheduler" | "worker",
  env: Record<string, string>,
  options: StartOptions = {},
): BenchProcess {
  if (BUILT_ROOT)
    return startProcess(name, `${BUILT_ROOT}/apps/${name}/dist/main.js`, env, {
      ...options,
      plain: true,
    });
  return startProcess(name, `apps/${name}/src/main.ts`, env, options);
}

/** SIGTERM (the apps drain and exit, writing a CPU profile if asked), then SIGKILL after `graceMs`. */
export async function stopProcess(p: BenchProcess, graceMs = 15_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = once(p.child, "exit");
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
