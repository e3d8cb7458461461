/**
 * Failpoints (docs/reliability.md §Failpoints): named places in a process where a fault test can
 * make it crash or stall, e.g. `SCHEDULER_FAILPOINTS=tick.after_commit_before_enqueue:crash`.
 * Parsing is pure; the process decides whether to honour them (only when NODE_ENV=test).
 */

/** What a failpoint does when reached. */
export type FailpointAction = { kind: "crash" } | { kind: "pause"; pauseMs: number };

/** Failpoints by name; an empty map means none is armed. */
export type Failpoints = ReadonlyMap<string, FailpointAction>;

/** Exit code of a crash, as the shell reports a process killed by SIGKILL. */
export const FAILPOINT_CRASH_EXIT_CODE = 137;

const NAME = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const PAUSE = /^pause:(\d{1,9})$/;

/**
 * Parses `name:action[,name:action…]`, action `crash` or `pause:<ms>`. Names are dotted
 * lowercase (`tick.before_commit`). Empty or unset: no failpoint. Throws an Error naming
 * the bad entry otherwise.
 */
export function parseFailpoints(value: string | undefined): Failpoints {
  const points = new Map<string, FailpointAction>();
  for (const raw of (value ?? "").split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const colon = entry.indexOf(":");
    const name = colon === -1 ? entry : entry.slice(0, colon);
    const action = colon === -1 ? "" : entry.slice(colon + 1);
    if (!NAME.test(name)) {
      throw new Error(
        `failpoint "${entry}": name must be dotted lowercase, e.g. tick.before_commit`,
      );
    }
    if (points.has(name)) throw new Error(`failpoint "${name}" is given twice`);
    const pause = PAUSE.exec(action);
    if (action === "crash") points.set(name, { kind: "crash" });
    else if (pause) points.set(name, { kind: "pause", pauseMs: Number(pause[1]) });
    else throw new Error(`failpoint "${entry}": action must be crash or pause:<ms>`);
  }
  return points;
}

/**
 * Acts out failpoint `name` if it is armed: `crash` exits the process at once with
 * code 137 (no cleanup, as `kill -9` would), `pause` resolves after its delay.
 * Resolves at once when `name` is not armed. `exit` is for tests of this module.
 */
export async function failpoint(
  points: Failpoints,
  name: string,
  exit: (code: number) => void = (code) => process.exit(code),
): Promise<void> {
  const action = points.get(name);
  if (action === undefined) return;
  if (action.kind === "crash") {
    exit(FAILPOINT_CRASH_EXIT_CODE);
    return;
  }
  await new Promise((resolve) => setTimeout(resolve, action.pauseMs));
}
