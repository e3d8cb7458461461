import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CommandRunOptions, runCommandJob } from "./executors/command.js";
import { runFunctionJob } from "./executors/function.js";
import { ExecutionError, type RunContext } from "./executors/http.js";
import { CommandJobConfig, FunctionJobConfig } from "./job.js";
import { openConfig, parseKeyRing, sealConfig } from "./secrets.js";
import { checkJobTarget, type TargetRules } from "./targets.js";

/**
 * Command and function jobs, run by the real executors: arguments reach the program as
 * given (no shell), names and values that could smuggle anything are refused, and the
 * job sees none of the worker's environment, descriptors or files outside its root.
 */

/** Variables a worker holds that no job may see. */
const WORKER_SECRETS: Record<string, string> = {
  DATABASE_URL: `postgres://scheduler:pg-${randomUUID()}@db/scheduler`,
  REDIS_URL: `redis://:redis-${randomUUID()}@redis:6379`,
  CONFIG_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 9).toString("base64")}`,
  JWT_SECRET: `jwt-${randomUUID()}`,
  INTERNAL_SERVICE_TOKEN: `svc-${randomUUID()}`,
  AWS_SECRET_ACCESS_KEY: `aws-${randomUUID()}`,
};

let root: string;
let outside: string;
let registry: string;
/** A file a command would create if any argument were run by a shell. */
const canary = join(tmpdir(), `sec-cmd-canary-${randomUUID()}`);
let listener: Server;
let connection: Socket;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sec-cmd-root-"));
  outside = await mkdtemp(join(tmpdir(), "sec-cmd-outside-"));
  registry = await mkdtemp(join(tmpdir(), "sec-fn-registry-"));
  await symlink(outside, join(root, "escape"));
  await writeFile(
    join(registry, "peek.mjs"),
    `import { workerData, getEnvironmentData } from "node:worker_threads";
     export function peek() {
       return { env: { ...process.env }, workerData, argv: process.argv, execArgv: process.execArgv,
         shared: ${JSON.stringify(Object.keys(WORKER_SECRETS))}.map((k) => getEnvironmentData(k)) };
     }`,
  );
  for (const [name, value] of Object.entries(WORKER_SECRETS)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
  // An open socket, as the worker's PostgreSQL and Redis connections are.
  listener = createServer(() => {});
  listener.listen(0, "127.0.0.1");
  await new Promise((resolve) => listener.once("listening", resolve));
  connection = new Socket();
  await new Promise((resolve) =>
    connection.connect((listener.address() as { port: number }).port, "127.0.0.1", () =>
      resolve(undefined),
    ),
  );
});
afterAll(async () => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  connection.destroy();
  listener.close();
  await Promise.all([root, outside, registry].map((d) => rm(d, { recursive: true, force: true })));
});

function ctx(): RunContext {
  return {
    executionId: `job:${randomUUID()}`,
    scheduledAt: new Date(1000),
    attempt: 1,
    signal: new AbortController().signal,
  };
}

function options(extra: Partial<CommandRunOptions> = {}): CommandRunOptions {
  return {
    allowedCommands: ["printf", "sh", "ls", "cat", "env", "pwd"],
    workdirRoot: root,
    killGraceMs: 300,
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<ExecutionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExecutionError);
  return error as ExecutionError;
}

const stdoutOf = (result: { result?: unknown }) => (result.result as { stdout: string }).stdout;

const rules = (): TargetRules => ({
  allowedCidrs: [],
  commandAllowed: ["printf", "echo"],
  commandWorkdirRoot: root,
  functionsDir: registry,
});

describe("command arguments", () => {
  const payloads = [
    `; touch ${canary}`,
    `$(touch ${canary})`,
    `\`touch ${canary}\``,
    `x\ntouch ${canary}`,
    `&& touch ${canary}`,
    `| touch ${canary}`,
    `> ${canary}`,
    "*",
    "~",
    "$HOME",
    `$${"{PATH}"}`,
    "'quoted' \"double\" \\back",
    "--version",
  ];

  it("reach the program exactly as given, with nothing run by a shell", async () => {
    const config = CommandJobConfig.parse({ command: "printf", args: ["[%s]\\n", ...payloads] });
    const result = await runCommandJob(config, ctx(), options());
    expect(stdoutOf(result)).toBe(payloads.map((p) => `[${p}]\n`).join(""));
    expect(existsSync(canary)).toBe(false);
  });

  it.each([
    ["a command with a shell separator", "printf;touch"],
    ["a command with a space and an argument", "printf x"],
    ["a command with a substitution", "$(touch)"],
    ["a command with a newline", "printf\ntouch"],
    ["a command that is an option", "-c"],
    ["a relative path", "./printf"],
    ["an absolute path", "/usr/bin/printf"],
    ["a command only allowed in another case", "PRINTF"],
  ])("refuses %s at create and at run time", async (_case, command) => {
    const parsed = CommandJobConfig.safeParse({ command });
    if (parsed.success) {
      expect(checkJobTarget("command", parsed.data, rules())).not.toEqual([]);
    }
    const stored = { command } as CommandJobConfig;
    const error = await failure(runCommandJob(stored, ctx(), options()));
    expect(error.errorType).toBe("VALIDATION_ERROR");
  });

  it.each([
    ["an argument", { command: "printf", args: ["%s", `secret-value-${randomUUID()}\0tail`] }],
    [
      "an environment value",
      { command: "printf", args: ["x"], environment: { TOKEN: `secret-value-${randomUUID()}\0x` } },
    ],
  ])(
    "refuses a NUL byte in %s at create time, and at run time without quoting it",
    async (_case, raw) => {
      expect(CommandJobConfig.safeParse(raw).success).toBe(false);
      // A config stored before the schema refused it still reaches the worker.
      const error = await failure(runCommandJob(raw as CommandJobConfig, ctx(), options()));
      expect(error.errorType).toBe("VALIDATION_ERROR");
      expect(error.message).toMatch(/contains a NUL byte/);
      expect(error.message).not.toContain("secret-value");
    },
  );

  it("refuses a sealed NUL environment value when the worker opens it, without quoting it", () => {
    const ring = parseKeyRing(`k1:${Buffer.alloc(32, 3).toString("base64")}`);
    const value = `secret-value-${randomUUID()}\0x`;
    const sealed = sealConfig(
      "command",
      { command: "printf", environment: { TOKEN: value } } as CommandJobConfig,
      ring,
    );
    let message = "";
    try {
      openConfig("command", sealed, ring);
    } catch (error) {
      message = error instanceof Error ? `${error.message} ${error.stack}` : String(error);
    }
    expect(message).not.toBe("");
    expect(message).not.toContain("secret-value");
  });
});

describe("what a command job can reach", () => {
  it("sees none of the worker's variables, by env or through /proc/self/environ", async () => {
    const config = CommandJobConfig.parse({
      command: "sh",
      args: ["-c", "env; set; tr '\\0' '\\n' < /proc/self/environ"],
      environment: { GREETING: "hello" },
    });
    const out = stdoutOf(await runCommandJob(config, ctx(), options()));
    expect(out).toContain("GREETING=hello");
    for (const [name, value] of Object.entries(WORKER_SECRETS)) {
      expect(out, name).not.toContain(value);
      expect(out, name).not.toMatch(new RegExp(`^${name}=`, "m"));
    }
  });

  it("inherits no descriptor the worker opened: its connections stay its own", async () => {
    // Node opens every descriptor close-on-exec. Only descriptors this process was
    // started with and that lack the flag (its parent's business) may pass through.
    const passedOn = new Set(
      (await readdir("/proc/self/fd")).filter((fd) => {
        let info = "";
        try {
          info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
        } catch {
          return false; // the directory listing's own descriptor, closed since
        }
        const flags = /flags:\s+(\d+)/.exec(info);
        return flags !== null && (Number.parseInt(flags[1]!, 8) & 0o2000000) === 0;
      }),
    );
    const ours = await readlink(
      `/proc/self/fd/${(connection as unknown as { _handle: { fd: number } })._handle.fd}`,
    );
    expect(ours).toMatch(/^socket:/);
    const config = CommandJobConfig.parse({ command: "ls", args: ["-l", "/proc/self/fd"] });
    const out = stdoutOf(await runCommandJob(config, ctx(), options()));
    const fds = [...out.matchAll(/ (\d+) -> (.*)$/gm)].map(([, fd, to]) => ({ fd: fd!, to: to! }));
    expect(fds.find((f) => f.fd === "0")?.to).toBe("/dev/null");
    expect(out).not.toContain(ours);
    const unexpected = fds.filter(
      (f) => Number(f.fd) > 2 && !f.to.startsWith("/proc/") && !passedOn.has(f.fd),
    );
    expect(unexpected).toEqual([]);
  });

  it("creates no directory outside the root through a symlink inside it", async () => {
    const config = CommandJobConfig.parse({
      command: "pwd",
      workingDirectory: "escape/made-by-a-job/deeper",
    });
    const error = await failure(runCommandJob(config, ctx(), options()));
    expect(error.errorType).toBe("VALIDATION_ERROR");
    expect(existsSync(join(outside, "made-by-a-job"))).toBe(false);
  });
});

describe("what a function job can reach", () => {
  it("sees none of the worker's variables in process.env, workerData, argv or shared data", async () => {
    const config = FunctionJobConfig.parse({ modulePath: "peek", functionName: "peek" });
    const result = await runFunctionJob(config, ctx(), {
      functionsDir: registry,
      killGraceMs: 200,
    });
    const seen = JSON.stringify(result.result);
    expect((result.result as { env: object }).env).toEqual({});
    for (const [name, value] of Object.entries(WORKER_SECRETS)) {
      expect(seen, name).not.toContain(value);
    }
  });
});
