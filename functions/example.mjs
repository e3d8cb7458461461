/**
 * Example function of the operator's registry (FUNCTIONS_DIR; see docs/worker.md).
 *
 * A registry module is an ES module; each named export that is a function can be run
 * by a job whose config names the file and the export:
 *
 *   { "modulePath": "example.mjs", "functionName": "countTo",
 *     "parameters": { "to": 5, "stepMs": 200 } }
 *
 * The function gets `(parameters, ctx)`: `ctx.signal` aborts on timeout or cancel,
 * `ctx.progress(n)` reports 0..100, `ctx.executionId`, `ctx.scheduledAt` and
 * `ctx.attempt` identify the run. Its return value (JSON) is stored as the
 * execution's result; a throw fails the execution with USER_ERROR.
 */
export async function countTo(parameters, ctx) {
  const to = Number(parameters?.to ?? 3);
  const stepMs = Number(parameters?.stepMs ?? 100);
  if (!Number.isInteger(to) || to < 1 || to > 10_000) {
    throw new RangeError("parameters.to must be an integer in 1..10000");
  }
  for (let i = 1; i <= to; i++) {
    await sleep(stepMs, ctx.signal);
    ctx.progress(Math.floor((i * 100) / to));
  }
  return { counted: to, executionId: ctx.executionId, attempt: ctx.attempt };
}

/** Resolves after `ms`, or rejects as soon as `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
