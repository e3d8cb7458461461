import { realpath } from "node:fs/promises";
import { isAbsolute, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { type ResourceLimits, Worker } from "node:worker_threads";
import type { FunctionJobConfig, JobErrorType, JobResult } from "../job.js";
import { resolveFunctionModule } from "../targets.js";
import { FUNCTION_THREAD_SOURCE } from "./functionThread.js";
import { ExecutionError, type RunContext } from "./http.js";
import { bytesToMb, OutputTail, type RunHooks, readProcCpu } from "./procStat.js";

/** V8 limits of each function thread. Exceeding the heap ends the run as USER_ERROR. */
export const FUNCTION_RESOURCE_LIMITS: ResourceLimits = {
  maxOldGenerationSizeMb: 128,
  maxYoungGenerationSizeMb: 16,
  stackSizeMb: 4,
};

/** A function's return value is kept up to this many bytes of JSON; beyond, as cut text. */
export const MAX_FUNCTION_RESULT_BYTES = 64 * 1024;
/** What a function writes to stdout/stderr is kept up to this many bytes each (the tail). */
const MAX_FUNCTION_OUTPUT_BYTES = 64 * 1024;

export interface FunctionRunOptions extends RunHooks {
  /** The operator's registry (FUNCTIONS_DIR); relative to the process's working directory. */
  functionsDir: string;
  /** After ctx.signal aborts, the thread gets this long to settle before it is terminated, in ms. */
  killGraceMs: number;
  /** (Default: FUNCTION_RESOURCE_LIMITS) */
  resourceLimits?: ResourceLimits;
}

/** A function run that failed in the job's own code: carries that code's stack. */
export class FunctionError extends ExecutionError {
  override name = "FunctionError";
  constructor(
    errorType: JobErrorType,
    message: string,
    readonly userStack?: string,
    result?: JobResult,
  ) {
    super(errorType, message, result);
  }
}

/**
 * The file a `modulePath` names inside the registry (the same lookup the API validates
 * with, extensions included), or VALIDATION_ERROR. Symlinks are then resolved and the
 * file checked again, so a link cannot lead out of the registry.
 */
async function locateFunctionModule(functionsDir: string, modulePath: string): Promise<string> {
  const refuse = (why: string) =>
    new ExecutionError("VALIDATION_ERROR", `modulePath '${modulePath}' ${why}`);
  const found = resolveFunctionModule(modulePath, functionsDir);
  if (!found) throw refuse("names no module in the function registry");
  const [root, file] = await Promise.all([realpath(functionsDir), realpath(found)]);
  const inside = relative(root, file);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) {
    throw refuse("must be a path inside the function registry");
  }
  return file;
}

/**
 * Runs one attempt of a function job in a fresh worker thread: V8 resource limits,
 * empty `process.env`, no execArgv. A timeout or cancel aborts `ctx.signal` in the
 * thread and terminates it after `killGraceMs`, so a function stuck in a loop stops.
 * Resolves only after the thread is gone.
 */
export async function runFunctionJob(
  config: FunctionJobConfig,
  ctx: RunContext,
  options: FunctionRunOptions,
): Promise<JobResult> {
  const file = await locateFunctionModule(options.functionsDir, config.modulePath);
  const signal = config.timeout
    ? AbortSignal.any([ctx.signal, AbortSignal.timeout(config.timeout)])
    : ctx.signal;
  if (signal.aborted) throw abortError(signal);
  const thread = new Worker(FUNCTION_THREAD_SOURCE, {
    eval: true,
    env: {},
    execArgv: [],
    argv: [],
    stdout: true,
    stderr: true,
    resourceLimits: options.resourceLimits ?? FUNCTION_RESOURCE_LIMITS,
    workerData: {
      moduleUrl: pathToFileURL(file).href,
      functionName: config.functionName,
      parameters: config.parameters ?? null,
      executionId: ctx.executionId,
      scheduledAt: ctx.scheduledAt.toISOString(),
      attempt: ctx.attempt,
      maxResultBytes: MAX_FUNCTION_RESULT_BYTES,
    },
  });
  return new ThreadRun(thread, signal, config, options).settled;
}

type Outcome = { ok: true; result: JobResult } | { ok: false; error: ExecutionError };

interface ThreadMessage {
  type: string;
  tid?: number;
  percent?: number;
  bytes?: number;
  heapPeakBytes?: number;
  json?: string;
  truncated?: boolean;
  error?: { name: string; message: string; stack?: string; code?: string };
}

/** One thread from start to exit: collects messages, decides the outcome once. */
class ThreadRun {
  readonly settled: Promise<JobResult>;
  private outcome: Outcome | undefined;
  private tid: number | undefined;
  private heapPeakBytes = 0;
  private cpuTimeMs: number | null = null;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly stdout = new OutputTail(MAX_FUNCTION_OUTPUT_BYTES);
  private readonly stderr = new OutputTail(MAX_FUNCTION_OUTPUT_BYTES);

  constructor(
    private readonly thread: Worker,
    private readonly signal: AbortSignal,
    private readonly config: FunctionJobConfig,
    private readonly options: FunctionRunOptions,
  ) {
    thread.stdout.on("data", (chunk: Buffer) => this.stdout.push(chunk));
    thread.stderr.on("data", (chunk: Buffer) => this.stderr.push(chunk));
    const onAbort = () => this.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.settled = new Promise<JobResult>((resolve, reject) => {
      thread.on("message", (message: ThreadMessage) => this.onMessage(message));
      const heapLimitMb = (options.resourceLimits ?? FUNCTION_RESOURCE_LIMITS)
        .maxOldGenerationSizeMb;
      thread.on("error", (error) =>
        this.decide({ ok: false, error: threadError(error, heapLimitMb) }),
      );
      thread.on("exit", (code) => {
        signal.removeEventListener("abort", onAbort);
        clearTimeout(this.killTimer);
        this.decide({ ok: false, error: exitedError(code) });
        this.options.onUsage?.({
          cpuTimeMs: this.cpuTimeMs,
          memoryPeakMb: this.heapPeakBytes > 0 ? bytesToMb(this.heapPeakBytes) : null,
        });
        const outcome = this.outcome!;
        if (outcome.ok) resolve(outcome.result);
        else reject(outcome.error);
      });
    });
  }

  private onMessage(message: ThreadMessage): void {
    if (message.heapPeakBytes)
      this.heapPeakBytes = Math.max(this.heapPeakBytes, message.heapPeakBytes);
    switch (message.type) {
      case "started":
        this.tid = message.tid;
        return;
      case "heap":
        this.heapPeakBytes = Math.max(this.heapPeakBytes, message.bytes ?? 0);
        return;
      case "progress":
        this.options.onProgress?.(Math.min(100, Math.max(0, Math.round(message.percent ?? 0))));
        return;
      default:
        this.decide(this.finalOutcome(message));
        this.terminate();
    }
  }

  private finalOutcome(message: ThreadMessage): Outcome {
    const { functionName, modulePath } = this.config;
    switch (message.type) {
      case "returned":
        return { ok: true, result: this.resultOf(message) };
      case "missing":
        return fail(
          "VALIDATION_ERROR",
          `'${modulePath}' has no exported function '${functionName}'`,
        );
      case "unloadable":
        return fail(
          "VALIDATION_ERROR",
          `'${modulePath}' cannot be loaded: ${message.error?.message}`,
        );
      default: {
        const error = message.error ?? { name: "Error", message: "unknown failure" };
        const text = `${error.name}: ${error.message}`;
        return {
          ok: false,
          error: new FunctionError("USER_ERROR", text, error.stack, this.partial()),
        };
      }
    }
  }

  private resultOf(message: ThreadMessage): JobResult {
    const json = message.json ?? "null";
    const result = message.truncated ? json : (JSON.parse(json) as unknown);
    return {
      success: true,
      result,
      metadata: { ...this.output(), truncated: !!message.truncated },
    };
  }

  private partial(): JobResult {
    return { success: false, metadata: this.output() };
  }

  private output(): { stdout: string; stderr: string } {
    return { stdout: this.stdout.text(), stderr: this.stderr.text() };
  }

  private decide(outcome: Outcome): void {
    this.outcome ??= outcome;
  }

  /** Tells the thread to stop, then terminates it if it has not ended within the grace. */
  private abort(): void {
    this.decide({ ok: false, error: abortError(this.signal, this.partial()) });
    const reason = (this.signal.reason as { name?: string } | undefined)?.name;
    const message = reason === "TimeoutError" ? "timed out" : "cancelled";
    this.thread.postMessage({
      type: "abort",
      reason: reason === "TimeoutError" ? reason : "AbortError",
      message,
    });
    this.killTimer = setTimeout(() => this.terminate(), this.options.killGraceMs);
  }

  /** Reads the thread's CPU time while it still exists, then ends it. */
  private terminate(): void {
    if (this.tid !== undefined) {
      const cpu = readProcCpu(`${process.pid}/task/${this.tid}`);
      if (cpu) this.cpuTimeMs = cpu.ownMs;
    }
    void this.thread.terminate();
  }
}

function fail(errorType: JobErrorType, message: string): Outcome {
  return { ok: false, error: new ExecutionError(errorType, message) };
}

function abortError(signal: AbortSignal, result?: JobResult): ExecutionError {
  const timedOut = (signal.reason as { name?: string } | undefined)?.name === "TimeoutError";
  return timedOut
    ? new ExecutionError("TIMEOUT", "function timed out", result)
    : new ExecutionError("CANCELLED", "function cancelled", result);
}

function threadError(error: Error, heapLimitMb: number | undefined): ExecutionError {
  const code = (error as { code?: string }).code;
  if (code === "ERR_WORKER_OUT_OF_MEMORY") {
    const limit = heapLimitMb === undefined ? "" : ` (heap limit ${heapLimitMb} MB)`;
    return new ExecutionError("USER_ERROR", `function ran out of memory${limit}`);
  }
  return new FunctionError("USER_ERROR", `uncaught in function: ${error.message}`, error.stack);
}

function exitedError(code: number): ExecutionError {
  return new ExecutionError(
    "USER_ERROR",
    `function ended its thread (exit code ${code}) without returning`,
  );
}
