import { readdir, readFile } from "node:fs/promises";

/**
 * Reading /proc (Linux): which processes a job left behind. A command job's processes
 * carry SCHEDULER_EXECUTION_ID in their environment, which is how they are found.
 */

async function procEntries(): Promise<string[]> {
  return (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
}

function statFields(stat: string): string[] {
  // The command name sits in parentheses and may hold spaces: count fields after it.
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Process groups of the live processes whose environment names this execution. */
export async function processGroupsOf(executionId: string): Promise<Set<number>> {
  const groups = new Set<number>();
  for (const pid of await procEntries()) {
    const environ = await readFile(`/proc/${pid}/environ`, "latin1").catch(() => "");
    if (!environ.includes(`SCHEDULER_EXECUTION_ID=${executionId}\0`)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    if (stat) groups.add(Number(statFields(stat)[2]));
  }
  return groups;
}

/** Every process still in one of these groups, zombies included (`<pid> <state>`). */
export async function membersOfGroups(groups: Set<number>): Promise<string[]> {
  const members: string[] = [];
  for (const pid of await procEntries()) {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const fields = statFields(stat);
    if (stat && groups.has(Number(fields[2]))) members.push(`${pid} ${fields[0]}`);
  }
  return members;
}

/** A live process that carries an execution's id in its environment. */
export interface ExecutionProcess {
  pid: number;
  executionId: string;
  /** One-letter state from /proc/<pid>/stat (Z: zombie). */
  state: string;
}

/** Every live process whose environment holds SCHEDULER_EXECUTION_ID. */
export async function executionProcesses(): Promise<ExecutionProcess[]> {
  const found: ExecutionProcess[] = [];
  for (const pid of await procEntries()) {
    const environ = await readFile(`/proc/${pid}/environ`, "latin1").catch(() => "");
    const entry = environ.split("\0").find((e) => e.startsWith("SCHEDULER_EXECUTION_ID="));
    if (entry === undefined) continue;
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    if (!stat) continue;
    found.push({
      pid: Number(pid),
      executionId: entry.slice("SCHEDULER_EXECUTION_ID=".length),
      state: statFields(stat)[0] ?? "?",
    });
  }
  return found;
}
