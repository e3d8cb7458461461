import { setImmediate as nextTurn } from "node:timers/promises";

/**
 * Runs CPU-bound pieces of request work one at a time, each in an event-loop turn of
 * its own. A burst of them (200 `validate?count=100` at once, each parsing and
 * searching a schedule) then no longer runs back to back in one turn: the I/O of other
 * requests, `/health` among them, is served between two pieces.
 */
export class Turns {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => T): Promise<T> {
    const result = this.#tail.then(async () => {
      await nextTurn();
      return work();
    });
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
