import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MAX_KEPT_OUTPUT_BYTES, runCommandJob } from "./executors/command.js";
import { type ExecutionError, MAX_KEPT_BODY_BYTES, runHttpJob } from "./executors/http.js";
import { CommandJobConfig, HttpJobConfig } from "./job.js";
import { scrubSecrets, secretValuesOf } from "./secrets.js";

/**
 * The forms in which a target echoes a job's secrets back, each scrubbed from what is
 * stored: the e2e sweep (tests/e2e/src/secretsSweep.test.ts) found parsed cookies.
 */
describe("scrubbing what a target echoes", () => {
  const config = HttpJobConfig.parse({
    url: "https://example.com/hook",
    headers: {
      Cookie: "sid=8f14e45fceea167a; csrf=c9f0f895fb98ab91; remember=true",
      "X-Api-Key": "k+y/with=signs&more",
    },
  });
  const secrets = secretValuesOf("http", config);

  it.each([
    [
      "each cookie value, parsed",
      { cookies: { sid: "8f14e45fceea167a", csrf: "c9f0f895fb98ab91" } },
    ],
    ["a cookie value in a sentence", "your session 8f14e45fceea167a expired"],
    ["a percent-encoded key, as in a query string", "/hook?key=k%2By%2Fwith%3Dsigns%26more"],
    [
      "the whole header",
      { youSent: { cookie: "sid=8f14e45fceea167a; csrf=c9f0f895fb98ab91; remember=true" } },
    ],
  ])("hides %s", (_case, echoed) => {
    const stored = JSON.stringify(scrubSecrets(echoed, secrets));
    for (const secret of [
      "8f14e45fceea167a",
      "c9f0f895fb98ab91",
      "k+y/with=signs&more",
      "k%2By%2Fwith%3Dsigns%26more",
    ]) {
      expect(stored).not.toContain(secret);
    }
    expect(stored).toContain("******");
  });

  it("leaves a short cookie value such as true alone: the result stays readable", () => {
    expect(scrubSecrets({ ok: true, text: "true" }, secrets)).toEqual({ ok: true, text: "true" });
  });
});

/**
 * What the worker stores of a run whose output was cut to its last (command) or first
 * (HTTP) 64 KiB right inside a secret: the executor, then scrubSecrets as the worker
 * calls it. The part of the secret left at the cut must not be stored either.
 */
describe("a secret cut by the output limit", () => {
  const ctx = () => ({
    executionId: "job:1",
    scheduledAt: new Date(1000),
    attempt: 1,
    signal: new AbortController().signal,
  });
  const secret = "tok_9b2f0e7c41d85a36f1c2e9d0b7a4";
  const kept = 20; // characters of the secret on the kept side of the cut

  it("in a command's stdout tail, keeps no end of it", async () => {
    const root = await mkdtemp(join(tmpdir(), "sec-cut-"));
    try {
      const filler = MAX_KEPT_OUTPUT_BYTES - kept;
      const config = CommandJobConfig.parse({
        command: "sh",
        args: ["-c", `printf '%s' "$TOKEN"; head -c ${filler} /dev/zero | tr '\\0' x`],
        environment: { TOKEN: secret },
      });
      const result = await runCommandJob(config, ctx(), {
        allowedCommands: ["sh"],
        workdirRoot: root,
        killGraceMs: 200,
      });
      const stdout = (result.result as { stdout: string }).stdout;
      expect(stdout.startsWith(secret.slice(-kept))).toBe(true); // the cut is where meant
      const stored = JSON.stringify(scrubSecrets(result, secretValuesOf("command", config)));
      expect(stored).not.toContain(secret.slice(-kept));
      expect(stored).not.toContain(secret.slice(-12));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("in an HTTP body cut at its limit, keeps no start of it", async () => {
    const server = createServer((_req, res) => {
      res.end("y".repeat(MAX_KEPT_BODY_BYTES - kept) + secret);
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const { port } = server.address() as { port: number };
      const config = HttpJobConfig.parse({
        url: `http://127.0.0.1:${port}/`,
        headers: { "X-Api-Key": secret },
      });
      const result = await runHttpJob(config, ctx(), { allowedCidrs: ["127.0.0.0/8"] }).catch(
        (e: ExecutionError) => e.result,
      );
      expect(String(result?.result).endsWith(secret.slice(0, kept))).toBe(true);
      const stored = JSON.stringify(scrubSecrets(result, secretValuesOf("http", config)));
      expect(stored).not.toContain(secret.slice(0, kept));
      expect(stored).not.toContain(secret.slice(0, 12));
    } finally {
      server.close();
    }
  });

  it("masks no unrelated text: only a cut end that continues into a secret", () => {
    const secrets = [secret];
    expect(scrubSecrets("tok_ is a prefix", secrets)).toBe("tok_ is a prefix");
    expect(scrubSecrets("ends with tok_9b2", secrets)).toBe("ends with tok_9b2");
    expect(scrubSecrets("ends with tok_9b2f0e7c4", secrets)).toBe("ends with ******");
    expect(scrubSecrets("d0b7a4 starts it", secrets)).toBe("d0b7a4 starts it");
    expect(scrubSecrets("1c2e9d0b7a4 starts it", secrets)).toBe("****** starts it");
  });
});
