/** Why a running execution is stopped from outside its own timeout. */
export type StopReason = "cancelled" | "shutdown";

/** The abort reason of a stopped execution's signal. */
export class StopRequest extends Error {
  override name = "StopRequest";
  constructor(readonly reason: StopReason) {
    super(reason === "cancelled" ? "execution cancelled" : "worker shutting down");
  }
}

/** Why a signal was stopped, if by a StopRequest (checked by name: no instanceof across copies). */
export function stopReasonOf(signal: AbortSignal): StopReason | undefined {
  if (!signal.aborted) return undefined;
  const reason = signal.reason as { name?: string; reason?: StopReason } | undefined;
  return reason?.name === "StopRequest" ? reason.reason : undefined;
}

/**
 * The executions this process holds, by `job_executions.id`, each with the signal that
 * stops it. An execution is registered before it is claimed, so a cancel published
 * while it starts still reaches it.
 */
export class RunningExecutions {
  private readonly controllers = new Map<string, AbortController>();

  register(id: string): AbortSignal {
    const controller = new AbortController();
    this.controllers.set(id, controller);
    return controller.signal;
  }

  release(id: string): void {
    this.controllers.delete(id);
  }

  /** Stops one execution; false when this process does not hold it. */
  stop(id: string, reason: StopReason): boolean {
    const controller = this.controllers.get(id);
    if (!controller) return false;
    if (!controller.signal.aborted) controller.abort(new StopRequest(reason));
    return true;
  }

  stopAll(reason: StopReason): void {
    for (const id of this.controllers.keys()) this.stop(id, reason);
  }

  ids(): string[] {
    return [...this.controllers.keys()];
  }

  get size(): number {
    return this.controllers.size;
  }
}
