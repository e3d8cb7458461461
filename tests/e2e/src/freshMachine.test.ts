import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@scheduler/testkit";
import { afterAll, describe, expect, it } from "vitest";

const LIB = fileURLToPath(new URL("../../../scripts/lib.sh", import.meta.url));

/**
 * A PATH holding only what scripts/lib.sh needs besides the services: no PostgreSQL,
 * no Redis, no apt-get (so nothing can be installed), and Docker or not.
 */
function barePath(withDocker: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), "fresh-machine-"));
  const tools = ["bash", "id", "grep", "seq", "sleep", "ls", "head", "cat", "dirname", "mkdir"];
  for (const tool of tools) {
    const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout;
    symlinkSync(found.trim(), join(dir, tool));
  }
  symlinkSync(process.execPath, join(dir, "node"));
  // Never run: only its presence changes the advice.
  if (withDocker) symlinkSync(join(dir, "cat"), join(dir, "docker"));
  made.push(dir);
  return dir;
}
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

describe("scripts/lib.sh on a machine without PostgreSQL and Redis", () => {
  it.each([
    ["without Docker", false],
    ["with Docker", true],
  ])("stops at once with a message saying how to get them (%s)", async (_, withDocker) => {
    const run = spawnSync("bash", ["-c", `source "${LIB}" && ensure_services`], {
      encoding: "utf8",
      env: {
        PATH: barePath(withDocker),
        LOCAL_PG_PORT: String(await freePort()),
        LOCAL_REDIS_PORT: String(await freePort()),
      },
      timeout: 20_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/PostgreSQL does not answer on 127\.0\.0\.1:\d+/);
    expect(run.stderr).toContain("apt-get install postgresql redis-server");
    if (withDocker) {
      expect(run.stderr).toContain("POSTGRES_HOST_AUTH_METHOD=trust postgres:15");
      expect(run.stderr).toContain("docker compose up -d");
    } else {
      expect(run.stderr).not.toContain("docker");
    }
  });
});
