import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function lives: our package, a dependency, Node itself, or V8's bookkeeping. */
function areaOf(url: string, functionName: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.startsWith("node:")) return "node internals";
  const dep = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (dep) return dep[1]!;
  const ours = /\/((?:apps|packages|bench)\/[^/]+)\//.exec(url);
  return ours ? ours[1]! : url;
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by area (package), most first. */
  areas: [string, number][];
  /** Self time by function, most first. */
  functions: [string, number][];
  /** Our functions (apps/, packages/) by inclusive time: themselves and what they call. */
  oursInclusive: [string, number][];
}

/** Self time of a V8 `.cpuprofile` by area and by function (idle excluded from neither). */
export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === "(idle)") continue;
    totalUs += us;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const name = `${functionName || "(anonymous)"} ${url ? `${url.replace(/^.*?(node_modules\/|apps\/|packages\/)/, "$1")}:${lineNumber + 1}` : ""}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  const ms = (m: Map<string, number>) =>
    [...m].map(([k, us]): [string, number] => [k, us / 1000]).sort((a, b) => b[1] - a[1]);
  return {
    totalMs: totalUs / 1000,
    areas: ms(areas),
    functions: ms(functions),
    oursInclusive: ms(inclusiveOfOurs(profile, byId, selfUs)),
  };
}

/** Inclusive time of each of our functions, counted once per stack (recursion aside). */
function inclusiveOfOurs(
  profile: CpuProfile,
  byId: Map<number, ProfileNode>,
  selfUs: Map<number, number>,
): Map<string, number> {
  const out = new Map<string, number>();
  const visit = (id: number, onStack: Set<string>): number => {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const key =
      /\/(apps|packages)\//.test(url) && !url.includes("node_modules")
        ? `${functionName || "(anonymous)"} ${url.replace(/^.*?(apps\/|packages\/)/, "$1")}:${lineNumber + 1}`
        : undefined;
    const fresh = key !== undefined && !onStack.has(key);
    if (fresh) onStack.add(key);
    let total = node.callFrame.functionName === "(idle)" ? 0 : (selfUs.get(id) ?? 0);
    for (const child of node.children ?? []) total += visit(child, onStack);
    if (fresh) {
      onStack.delete(key);
      out.set(key, (out.get(key) ?? 0) + total);
    }
    return total;
  };
  visit(profile.nodes[0]!.id, new Set());
  return out;
}

/**
 * A short text report of each process's profile in a folder (one sub-folder per process;
 * of several profiles, the one with the most CPU time: the main thread, not tsx's
 * loader): top areas and functions by self time.
 */
export function describeProfiles(dir: string, top = 15): string {
  const lines: string[] = [];
  for (const process of readdirSync(dir)) {
    const files = readdirSync(join(dir, process)).filter((f) => f.endsWith(".cpuprofile"));
    const summaries = files.map((f) => ({ file: f, s: summarizeProfile(join(dir, process, f)) }));
    const main = summaries.sort((a, b) => b.s.totalMs - a.s.totalMs)[0];
    if (!main) continue;
    const { s } = main;
    const pct = (ms: number) => `${((100 * ms) / s.totalMs).toFixed(1)} %`;
    lines.push(`### ${process} (${main.file}): ${Math.round(s.totalMs)} ms on CPU`);
    lines.push(
      `areas: ${s.areas
        .slice(0, top)
        .map(([a, ms]) => `${a} ${pct(ms)}`)
        .join(", ")}`,
    );
    lines.push("top functions (self time):");
    for (const [f, ms] of s.functions.slice(0, top)) lines.push(`  ${pct(ms).padStart(7)}  ${f}`);
    lines.push("our functions (inclusive time):");
    for (const [f, ms] of s.oursInclusive.slice(0, top))
      lines.push(`  ${pct(ms).padStart(7)}  ${f}`);
  }
  return lines.join("\n");
}
