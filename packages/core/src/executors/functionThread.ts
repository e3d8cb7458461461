/**
 * The code each function-job thread runs, evaluated by `new Worker(source, { eval: true })`.
 *
 * It is a string of plain JavaScript rather than a module file so that the same code
 * runs unbuilt (tsx, vitest), built (dist/) and bundled, with no loader in the thread:
 * the thread starts with empty execArgv, so it neither pays for nor inherits the
 * worker's TypeScript loader. It imports the registry module, calls the named export
 * with `(parameters, ctx)` and reports back by message:
 *
 * thread → worker: `started {tid}`, `progress {percent}`, `heap {bytes}`, and one final
 * `returned {json, truncated}` | `threw {error}` | `missing` | `unloadable {error}`,
 * each final one with `heapPeakBytes`. After the final message the thread waits to be
 * terminated, so the worker can read its CPU time from /proc while it still exists.
 *
 * worker → thread: `abort {reason, message}` aborts `ctx.signal` (reason is the
 * DOMException name: TimeoutError or AbortError).
 */
export const FUNCTION_THREAD_SOURCE = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const { getHeapStatistics } = require("node:v8");
const { readlinkSync } = require("node:fs");

let heapPeakBytes = 0;
function sampleHeap() {
  const stats = getHeapStatistics();
  heapPeakBytes = Math.max(heapPeakBytes, stats.used_heap_size + (stats.external_memory || 0));
  return heapPeakBytes;
}

function osThreadId() {
  try {
    return Number(readlinkSync("/proc/thread-self").split("/").pop());
  } catch {
    return undefined;
  }
}

function describeError(value) {
  if (value !== null && typeof value === "object") {
    return {
      name: String(value.name || "Error"),
      message: String(value.message || ""),
      stack: typeof value.stack === "string" ? value.stack : undefined,
      code: typeof value.code === "string" ? value.code : undefined,
    };
  }
  return { name: "Error", message: String(value) };
}

const controller = new AbortController();
parentPort.on("message", (message) => {
  if (message && message.type === "abort" && !controller.signal.aborted) {
    controller.abort(new DOMException(message.message, message.reason));
  }
});
setInterval(() => parentPort.postMessage({ type: "heap", bytes: sampleHeap() }), 250).unref();

async function main() {
  parentPort.postMessage({ type: "started", tid: osThreadId() });
  let namespace;
  try {
    namespace = await import(workerData.moduleUrl);
  } catch (error) {
    return { type: "unloadable", error: describeError(error) };
  }
  const fn = namespace[workerData.functionName];
  if (typeof fn !== "function") return { type: "missing" };
  // Aborted while the thread started: the function is not called at all.
  if (controller.signal.aborted) return { type: "threw", error: describeError(controller.signal.reason) };
  const ctx = Object.freeze({
    executionId: workerData.executionId,
    scheduledAt: new Date(workerData.scheduledAt),
    attempt: workerData.attempt,
    signal: controller.signal,
    progress(percent) {
      const value = Number(percent);
      if (Number.isFinite(value)) parentPort.postMessage({ type: "progress", percent: value });
    },
  });
  let value;
  try {
    value = await fn(workerData.parameters, ctx);
  } catch (error) {
    return { type: "threw", error: describeError(error) };
  }
  let json;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    const message = "function returned a value that is not JSON: " + describeError(error).message;
    return { type: "threw", error: { name: "TypeError", message } };
  }
  if (json === undefined) json = "null";
  const limit = workerData.maxResultBytes;
  if (Buffer.byteLength(json) > limit) {
    return { type: "returned", json: Buffer.from(json).subarray(0, limit).toString(), truncated: true };
  }
  return { type: "returned", json, truncated: false };
}

main().then(
  (outcome) => parentPort.postMessage({ ...outcome, heapPeakBytes: sampleHeap() }),
  (error) => parentPort.postMessage({ type: "threw", error: describeError(error), heapPeakBytes: sampleHeap() }),
);
`;
