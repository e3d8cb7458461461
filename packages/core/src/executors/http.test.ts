import { once } from "node:events";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpJobConfig } from "../job.js";
import { ExecutionError, MAX_KEPT_BODY_BYTES, type RunContext, runHttpJob } from "./http.js";

let server: Server;
let base: string;
let lastRequest: { headers: IncomingMessage["headers"]; body: string; method?: string };

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      lastRequest = { headers: req.headers, body, method: req.method };
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/slow") return void setTimeout(() => res.end("late"), 2000);
      if (url.pathname === "/huge") return void res.end("y".repeat(MAX_KEPT_BODY_BYTES * 2));
      res.writeHead(Number(url.searchParams.get("status") ?? 200)).end("hello");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

function ctx(signal = new AbortController().signal): RunContext {
  return { executionId: "job:1000", scheduledAt: new Date(1000), attempt: 2, signal };
}

async function failure(promise: Promise<unknown>): Promise<ExecutionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ExecutionError);
  return error as ExecutionError;
}

describe("runHttpJob", () => {
  it("sends the execution headers and the JSON body, and keeps status and body", async () => {
    const config = HttpJobConfig.parse({ url: `${base}/ok`, method: "POST", body: { a: 1 } });
    const result = await runHttpJob(config, ctx());
    expect(result).toEqual({
      success: true,
      result: "hello",
      metadata: { statusCode: 200, truncated: false },
    });
    expect(lastRequest.headers["x-scheduler-execution-id"]).toBe("job:1000");
    expect(lastRequest.headers["x-scheduler-scheduled-at"]).toBe("1970-01-01T00:00:01.000Z");
    expect(lastRequest.headers["x-scheduler-attempt"]).toBe("2");
    expect(lastRequest.headers["content-type"]).toBe("application/json");
    expect(lastRequest.body).toBe('{"a":1}');
  });

  it.each([
    ["a 503, retryable by default", "?status=503", {}, "SYSTEM_ERROR"],
    ["a 429, retryable by default", "?status=429", {}, "SYSTEM_ERROR"],
    ["a 404, not retryable", "?status=404", {}, "USER_ERROR"],
    ["a 200 when 201 is expected", "?status=200", { expectedStatusCode: 201 }, "USER_ERROR"],
    [
      "a 404 listed in retryOnStatusCodes",
      "?status=404",
      { retryOnStatusCodes: [404] },
      "SYSTEM_ERROR",
    ],
    [
      "a 503 not listed in retryOnStatusCodes",
      "?status=503",
      { retryOnStatusCodes: [502] },
      "USER_ERROR",
    ],
  ])("classifies %s", async (_case, query, extra, errorType) => {
    const config = HttpJobConfig.parse({ url: `${base}/s${query}`, ...extra });
    const error = await failure(runHttpJob(config, ctx()));
    expect(error.errorType).toBe(errorType);
    expect(error.result?.metadata?.statusCode).toBe(Number(query.split("=")[1]));
  });

  it("accepts the expected status code even when it is not 2xx", async () => {
    const config = HttpJobConfig.parse({ url: `${base}/s?status=302`, expectedStatusCode: 302 });
    expect((await runHttpJob(config, ctx())).success).toBe(true);
  });

  it("fails with TIMEOUT when the config's timeout passes", async () => {
    const config = HttpJobConfig.parse({ url: `${base}/slow`, timeout: 100 });
    expect((await failure(runHttpJob(config, ctx()))).errorType).toBe("TIMEOUT");
  });

  it("fails with CANCELLED when the run's signal aborts", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const config = HttpJobConfig.parse({ url: `${base}/slow` });
    expect((await failure(runHttpJob(config, ctx(controller.signal)))).errorType).toBe("CANCELLED");
  });

  it("fails with NETWORK_ERROR when nothing listens", async () => {
    const config = HttpJobConfig.parse({ url: "http://127.0.0.1:1/closed" });
    expect((await failure(runHttpJob(config, ctx()))).errorType).toBe("NETWORK_ERROR");
  });

  it("keeps at most 64 KiB of the response body", async () => {
    const result = await runHttpJob(HttpJobConfig.parse({ url: `${base}/huge` }), ctx());
    expect((result.result as string).length).toBe(MAX_KEPT_BODY_BYTES);
    expect(result.metadata?.truncated).toBe(true);
  });
});
