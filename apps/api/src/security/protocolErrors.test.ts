import { connect } from "node:net";
import { test } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { describe, expect } from "vitest";
import { TEST_JWT_SECRET, TEST_SERVICE_TOKEN } from "../testApp.js";
import { buildTestApi } from "./routes.js";

/**
 * Requests the HTTP server or the router cannot read — a malformed request line or
 * header, headers over the limit, an undecodable URL, an over-long path parameter —
 * are answered in the error envelope, over a real socket.
 */

const it = test.extend<{ $file: { app: FastifyInstance; port: number } }>({
  app: [
    async ({ database, testRedis }, use) => {
      const app = await buildTestApi(database, testRedis, {
        JWT_SECRET: TEST_JWT_SECRET,
        INTERNAL_SERVICE_TOKEN: TEST_SERVICE_TOKEN,
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      await use(app);
      await app.close();
    },
    { scope: "file" },
  ],
  port: [
    async ({ app }, use) => use((app.server.address() as { port: number }).port),
    { scope: "file" },
  ],
});

/** Writes `raw` to the API and returns everything it answers until it closes. */
function exchange(port: number, raw: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", (error) => {
      // The server may close while we still write; what it answered is what counts.
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString("latin1"));
      else reject(error);
    });
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.write(raw);
  });
}

function parse(answer: string): {
  status: number;
  body: { error: { code: string }; path: string };
} {
  const [head, ...rest] = answer.split("\r\n\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head ?? "")?.[1]);
  return { status, body: JSON.parse(rest.join("\r\n\r\n")) };
}

const request = (lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;

describe("answers the server cannot get from a route", () => {
  it.for([
    ["a request line that is not HTTP", "GARBAGE\r\n\r\n", 400, "VALIDATION_ERROR"],
    [
      "a request line with a bad method",
      "G@T /health HTTP/1.1\r\nHost: x\r\n\r\n",
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a header line without a colon",
      request(["GET /health HTTP/1.1", "Host: x", "no colon here"]),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a NUL in a header value",
      request(["GET /health HTTP/1.1", "Host: x", "X-A: a\u0000b"]),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "headers over the limit",
      request(["GET /health HTTP/1.1", "Host: x", `X-Big: ${"a".repeat(20_000)}`]),
      431,
      "HEADERS_TOO_LARGE",
    ],
    [
      "a path parameter over the limit",
      request([
        `GET /api/v1/scheduler/jobs/${"a".repeat(500)} HTTP/1.1`,
        "Host: x",
        "Connection: close",
      ]),
      414,
      "URI_TOO_LONG",
    ],
    [
      "an internal path parameter over the limit",
      request([
        `GET /internal/jobs/${"a".repeat(500)}/status HTTP/1.1`,
        "Host: x",
        "Connection: close",
      ]),
      414,
      "URI_TOO_LONG",
    ],
    [
      "a URL that does not decode",
      request(["GET /api/v1/scheduler/jobs/%zz%E0%A4%A HTTP/1.1", "Host: x", "Connection: close"]),
      400,
      "VALIDATION_ERROR",
    ],
  ] as const)("answers %s in the envelope", async ([, raw, status, code], { port }) => {
    const answer = parse(await exchange(port, raw));
    expect(answer.status).toBe(status);
    expect(answer.body.error.code).toBe(code);
    expect(typeof answer.body.path).toBe("string");
  });

  it("answers an over-long path parameter in the envelope through inject too", async ({ app }) => {
    const res = await app.inject({ url: `/api/v1/scheduler/executions/${"b".repeat(300)}` });
    expect(res.statusCode).toBe(414);
    expect(res.json().error.code).toBe("URI_TOO_LONG");
    expect(res.json().path).toBe(`/api/v1/scheduler/executions/${"b".repeat(300)}`);
  });
});
