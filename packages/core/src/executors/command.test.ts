import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandJobConfig } from "../job.js";
import { type CommandRunOptions, runCommandJob } from "./command.js";
import { ExecutionError, type RunContext } from "./http.js";
import type { ResourceUsage } from "./procStat.js";

let root: string;
let outside: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "cmd-root-"));
  outside = await mkdtemp(join(tmpdir(), "cmd-outside-"));
  await symlink(outside, join(root, "escape"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

function ctx(signal = new AbortController().signal): RunContext {
  return { executionId: `job:${randomUUID()}`, scheduledAt: new Date(1000), attempt: 1, signal };
}

function options(extra: Partial<CommandRunOptions> = {}): CommandRunOptions {
  return {
    allowedCommands: ["sh", "env", "pwd", "sleep", "no-such-command"],
    workdirRoot: root,
    killGraceMs: 300,
    ...extra,
  };
}

function sh(script: string, extra: Partial<CommandJobConfig> = {}): CommandJobConfig {
  return CommandJobConfig.parse({ command: "sh", args: ["-c", script], ...extra });
}

async function failure(promise: Promise<unknown>): Promise<ExecutionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExecutionError);
  return error as ExecutionError;
}

async function procEntries(): Promise<string[]> {
  return (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
}

/** Process groups of the live processes whose environment names this execution. */
async function groupsOf(executionId: string): Promise<Set<number>> {
  const groups = new Set<number>();
  for (const pid of await procEntries()) {
    const environ = await readFile(`/proc/${pid}/environ`, "latin1").catch(() => "");
    if (!environ.includes(`SCHEDULER_EXECUTION_ID=${executionId}\0`)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    groups.add(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]));
  }
  return groups;
}

/** Every process (zombies included) still in one of these groups. */
async function membersOf(groups: Set<number>): Promise<string[]> {
  const members: string[] = [];
  for (const pid of await procEntries()) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (groups.has(Number(fields[2]))) members.push(`${pid} ${fields[0]}`);
  }
  return members;
}

/** Polls until the command's processes exist, returning their process groups. */
async function runningGroups(executionId: string, count: number): Promise<Set<number>> {
  for (let i = 0; i < 100; i++) {
    const groups = await groupsOf(executionId);
    if (groups.size > 0 && (await membersOf(groups)).length >= count) return groups;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("command processes did not appear");
}

describe("runCommandJob", () => {
  it("keeps stdout, stderr and the exit code", async () => {
    const result = await runCommandJob(sh("echo out; echo err >&2"), ctx(), options());
    expect(result).toMatchObject({
      success: true,
      result: { stdout: "out\n", stderr: "err\n", exitCode: 0 },
    });
  });

  it("gives the command only PATH, HOME, LANG, the execution's identity and its environment", async () => {
    process.env.WORKER_ONLY_SECRET = "do-not-leak";
    try {
      const run = ctx();
      const config = CommandJobConfig.parse({ command: "env", environment: { GREETING: "hi" } });
      const result = await runCommandJob(config, run, options());
      const lines = String((result.result as { stdout: string }).stdout)
        .trim()
        .split("\n");
      const names = lines.map((line) => line.slice(0, line.indexOf("="))).sort();
      expect(names).toEqual(
        [
          "GREETING",
          "HOME",
          "LANG",
          "PATH",
          "SCHEDULER_EXECUTION_ID",
          "SCHEDULER_SCHEDULED_AT",
        ].sort(),
      );
      expect(lines).toContain(`SCHEDULER_EXECUTION_ID=${run.executionId}`);
      expect(lines).toContain("SCHEDULER_SCHEDULED_AT=1970-01-01T00:00:01.000Z");
    } finally {
      delete process.env.WORKER_ONLY_SECRET;
    }
  });

  it("runs in its working directory under the root, created when missing", async () => {
    const config = CommandJobConfig.parse({ command: "pwd", workingDirectory: "tenant-a/job-1" });
    const result = await runCommandJob(config, ctx(), options());
    expect((result.result as { stdout: string }).stdout.trim()).toMatch(/tenant-a\/job-1$/);
  });

  it.each([
    { name: "a command not in the allow-list", config: { command: "ls" }, message: /not allowed/ },
    {
      name: "a command that is not installed",
      config: { command: "no-such-command" },
      message: /not installed/,
    },
    {
      name: "a working directory that climbs out",
      config: { command: "pwd", workingDirectory: "../x" },
      message: /must lie under/,
    },
    {
      name: "an absolute working directory elsewhere",
      config: { command: "pwd", workingDirectory: "/etc" },
      message: /must lie under/,
    },
    {
      name: "a symlink out of the root",
      config: { command: "pwd", workingDirectory: "escape" },
      message: /must lie under/,
    },
  ])("refuses $name with VALIDATION_ERROR", async ({ config, message }) => {
    const error = await failure(runCommandJob(CommandJobConfig.parse(config), ctx(), options()));
    expect(error.errorType).toBe("VALIDATION_ERROR");
    expect(error.message).toMatch(message);
  });

  it("fails with USER_ERROR on a non-zero exit, keeping the output", async () => {
    const error = await failure(runCommandJob(sh("echo partial; exit 7"), ctx(), options()));
    expect(error.errorType).toBe("USER_ERROR");
    expect(error.message).toBe("command exited with code 7");
    expect(error.result?.result).toMatchObject({ stdout: "partial\n", exitCode: 7 });
  });

  it("reports ::progress lines from stdout", async () => {
    const progress: number[] = [];
    await runCommandJob(
      sh(
        "echo '::progress 10'; echo 'noise ::progress 99'; printf '::prog'; printf 'ress 55\\n'; echo '::progress 250'",
      ),
      ctx(),
      options({ onProgress: (p) => progress.push(p) }),
    );
    expect(progress).toEqual([10, 55, 100]);
  });

  it("keeps the last 64 KiB of a flood of output", async () => {
    const result = await runCommandJob(
      sh("head -c 300000 /dev/zero | tr '\\0' a; echo END"),
      ctx(),
      options(),
    );
    const stdout = (result.result as { stdout: string }).stdout;
    expect(stdout).toHaveLength(64 * 1024);
    expect(stdout.endsWith("aEND\n")).toBe(true);
    expect(result.metadata).toMatchObject({ stdoutTruncated: true, stderrTruncated: false });
  });

  it("kills the whole group on timeout, a grandchild that ignores SIGTERM included", async () => {
    const run = ctx();
    const config = sh("trap '' TERM; sleep 300 & sleep 300", { timeout: 2000 });
    const pending = runCommandJob(config, run, options());
    const groups = await runningGroups(run.executionId, 3);
    const error = await failure(pending);
    expect(error.errorType).toBe("TIMEOUT");
    expect(await membersOf(groups)).toEqual([]);
  });

  it("kills sleep and its children on cancel", async () => {
    const controller = new AbortController();
    const run = ctx(controller.signal);
    const pending = runCommandJob(sh("sleep 300 & sleep 300 & wait"), run, options());
    const groups = await runningGroups(run.executionId, 3);
    controller.abort();
    const error = await failure(pending);
    expect(error.errorType).toBe("CANCELLED");
    expect(await membersOf(groups)).toEqual([]);
  });

  it("sweeps background processes a command leaves behind when it exits", async () => {
    const run = ctx();
    const result = await runCommandJob(sh("sleep 300 & echo started"), run, options());
    expect((result.result as { stdout: string }).stdout).toBe("started\n");
    expect((await groupsOf(run.executionId)).size).toBe(0);
  });

  it("reports the command's CPU time and peak memory", async () => {
    const usage: ResourceUsage[] = [];
    await runCommandJob(sh("sleep 0.6"), ctx(), options({ onUsage: (u) => usage.push(u) }));
    expect(usage).toHaveLength(1);
    expect(usage[0]!.cpuTimeMs).toBeGreaterThanOrEqual(0);
    expect(usage[0]!.memoryPeakMb).toBeGreaterThan(0);
  });
});
