import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export type AppName = "api" | "scheduler" | "worker";

export interface RunningProcess {
  name: AppName;
  child: ChildProcess;
  /** Everything the process wrote, for the failure message of a test. */
  output(): string;
}

/**
 * Starts one app as its own OS process from source (tsx, the `@scheduler/source`
 * condition), as the dev start command does. `onOutput` sees everything it writes, for
 * callers that need more than the last 20,000 characters.
 */
export function startApp(
  name: AppName,
  env: Record<string, string>,
  options: { onOutput?: (chunk: string) => void } = {},
): RunningProcess {
  const child = spawn(
    process.execPath,
    ["--conditions=@scheduler/source", "--import", "tsx", `apps/${name}/src/main.ts`],
    {
      cwd: REPO_ROOT,
      // Metrics on an ephemeral port unless the test picks one: several processes of a
      // kind run at once across test files.
      env: { PATH: process.env.PATH ?? "", METRICS_PORT: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-20_000);
    options.onOutput?.(text);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  return { name, child, output: () => output };
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`. */
export async function stopApp(p: RunningProcess, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = once(p.child, "exit");
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
