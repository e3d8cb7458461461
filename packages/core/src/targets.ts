import { statSync } from "node:fs";
import { BlockList, isIP } from "node:net";
import { extname, isAbsolute, relative, resolve, sep } from "node:path";
import { assertNever } from "./errors.js";
import type {
  CommandJobConfig,
  FunctionJobConfig,
  HttpJobConfig,
  JobConfig,
  JobType,
} from "./job.js";
import type { DefinitionProblem } from "./jobDefinition.js";

/** What a deployment lets jobs reach, from the api's and worker's config. */
export interface TargetRules {
  /** HTTP_JOB_ALLOWED_CIDRS: non-public ranges HTTP jobs may reach anyway. */
  allowedCidrs: readonly string[];
  /** COMMAND_JOB_ALLOWED: bare executable names; empty disables command jobs. */
  commandAllowed: readonly string[];
  /** COMMAND_JOB_WORKDIR_ROOT: command working directories lie under it. */
  commandWorkdirRoot: string;
  /** FUNCTIONS_DIR: the operator's function registry. */
  functionsDir: string;
}

/** Extensions a function module may have, in the order a bare modulePath tries them. */
export const FUNCTION_MODULE_EXTENSIONS = [".js", ".mjs", ".cjs"] as const;

/**
 * IANA special-purpose IPv4 ranges that are not globally reachable, plus multicast
 * and the 6to4 relay anycast. Everything else is public.
 */
const NON_PUBLIC_IPV4: readonly [string, number][] = [
  ["0.0.0.0", 8], // "this network", the unspecified address included
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // CGNAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata (169.254.169.254)
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // TEST-NET-1
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // TEST-NET-2
  ["203.0.113.0", 24], // TEST-NET-3
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, broadcast included
];

/**
 * Inside 2000::/3 (global unicast), the ranges that are still not public. Outside
 * 2000::/3 nothing is public (loopback, unspecified, ULA, link-local, site-local,
 * multicast, discard, SRv6 SIDs) except addresses that embed an IPv4 one.
 */
const NON_PUBLIC_IPV6: readonly [string, number][] = [
  ["2001::", 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID
  ["2001:db8::", 32], // documentation
  ["3fff::", 20], // documentation
];

const nonPublic = {
  ipv4: blockListOf(NON_PUBLIC_IPV4, "ipv4"),
  ipv6: blockListOf(NON_PUBLIC_IPV6, "ipv6"),
};

function blockListOf(ranges: readonly [string, number][], family: "ipv4" | "ipv6"): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, family);
  return list;
}

/**
 * Whether an HTTP job may connect to `address`: true for a public address or one
 * inside `allowedCidrs`. Anything that is not an IP address is refused. IPv4-mapped
 * IPv6 (`::ffff:127.0.0.1`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses
 * count as the IPv4 address they carry.
 */
export function isAllowedAddress(address: string, allowedCidrs: readonly string[]): boolean {
  const host = unbracket(address).replace(/%.*$/, "");
  const family = isIP(host);
  if (family === 0) return false;
  if (allowListOf(allowedCidrs).check(host, family === 4 ? "ipv4" : "ipv6")) return true;
  return family === 4 ? !nonPublic.ipv4.check(host, "ipv4") : isPublicIPv6(host);
}

function isPublicIPv6(address: string): boolean {
  const bytes = ipv6Bytes(address);
  const embedded = embeddedIPv4(bytes);
  if (embedded) return !nonPublic.ipv4.check(embedded, "ipv4");
  if ((bytes[0]! & 0xe0) !== 0x20) return false;
  return !nonPublic.ipv6.check(address, "ipv6");
}

function embeddedIPv4(bytes: number[]): string | undefined {
  const startsWith = (prefix: number[]) => prefix.every((b, i) => bytes[i] === b);
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
  const nat64 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0];
  if (startsWith(mapped) || startsWith(nat64)) return bytes.slice(12).join(".");
  if (startsWith([0x20, 0x02])) return bytes.slice(2, 6).join(".");
  return undefined;
}

/** The 16 bytes of an address that `isIP` already called IPv6. */
function ipv6Bytes(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    const [a, b, c, d] = text
      .slice(lastColon + 1)
      .split(".")
      .map(Number) as number[];
    text = `${text.slice(0, lastColon + 1)}${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`;
  }
  const groupsOf = (part: string | undefined) =>
    part ? part.split(":").map((g) => Number.parseInt(g, 16)) : [];
  const [head, tail] = text.split("::");
  const before = groupsOf(head);
  const after = groupsOf(tail);
  const zeros = tail === undefined ? [] : Array(8 - before.length - after.length).fill(0);
  return [...before, ...zeros, ...after].flatMap((g) => [g >> 8, g & 0xff]);
}

const allowLists = new Map<string, BlockList>();

/** HTTP_JOB_ALLOWED_CIDRS as a BlockList, built once per distinct list. */
function allowListOf(cidrs: readonly string[]): BlockList {
  const cacheKey = cidrs.join(",");
  let list = allowLists.get(cacheKey);
  if (list) return list;
  list = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr);
    if (!parsed) throw new Error(`HTTP_JOB_ALLOWED_CIDRS entry "${cidr}" is not a CIDR`);
    list.addSubnet(parsed.network, parsed.prefix, parsed.family);
  }
  allowLists.set(cacheKey, list);
  return list;
}

/** Whether `value` is an IPv4/IPv6 CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address. */
export function isValidCidr(value: string): boolean {
  return parseCidr(value) !== undefined;
}

function parseCidr(
  value: string,
): { network: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const [network = "", prefixText, extra] = value.trim().split("/");
  const family = isIP(network);
  if (family === 0 || extra !== undefined || network.includes("%")) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? "0") || prefix > max) return undefined;
  return { network, prefix, family: family === 4 ? "ipv4" : "ipv6" };
}

/** `localhost`, `*.localhost`, with or without trailing dots (RFC 6761 names). */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.+$/, "");
  return name === "localhost" || name.endsWith(".localhost");
}

/**
 * Checks an HTTP target without DNS: the scheme, a literal IP host in any spelling
 * (the WHATWG URL parser has already turned `2130706433`, `0x7f.1`, `0177.0.0.1`,
 * `127.1` into `127.0.0.1` and `[::ffff:127.0.0.1]` into `[::ffff:7f00:1]`), and
 * localhost names, which are refused unless the allow-list holds 127.0.0.1.
 * Returns the problem, or undefined when only DNS can tell.
 */
export function httpTargetProblem(
  url: string,
  allowedCidrs: readonly string[],
): string | undefined {
  let known = knownTargetProblems.get(allowedCidrs);
  if (!known) {
    known = new Map();
    knownTargetProblems.set(allowedCidrs, known);
  }
  if (known.has(url)) return known.get(url);
  const problem = findHttpTargetProblem(url, allowedCidrs);
  if (known.size >= KNOWN_TARGETS) known.clear();
  known.set(url, problem);
  return problem;
}

/**
 * httpTargetProblem's answers by allow-list and URL. The answer is a pure function of
 * the two, and a batch of jobs (or a job's every run) names the same few URLs again:
 * parsing the URL and checking its address costs ~5 µs.
 */
const knownTargetProblems = new WeakMap<readonly string[], Map<string, string | undefined>>();
const KNOWN_TARGETS = 1024;

function findHttpTargetProblem(url: string, allowedCidrs: readonly string[]): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "is not a valid URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return "must be an http or https URL";
  }
  const host = unbracket(parsed.hostname);
  if (isIP(host) !== 0) {
    return isAllowedAddress(host, allowedCidrs)
      ? undefined
      : `host ${parsed.hostname} is not a public address (loopback, private, link-local and other reserved ranges are refused unless in HTTP_JOB_ALLOWED_CIDRS)`;
  }
  if (isLocalhostName(host) && !isAllowedAddress("127.0.0.1", allowedCidrs)) {
    return `host ${parsed.hostname} is refused (localhost names are allowed only when HTTP_JOB_ALLOWED_CIDRS holds 127.0.0.1)`;
  }
  return undefined;
}

/**
 * The create-time target rules for a config that already passed its schema. DNS is
 * left to run time, where every resolved address and every redirect is checked.
 */
export function checkJobTarget(
  jobType: JobType,
  config: JobConfig,
  rules: TargetRules,
): DefinitionProblem[] {
  switch (jobType) {
    case "http":
      return checkHttp(config as HttpJobConfig, rules);
    case "command":
      return checkCommand(config as CommandJobConfig, rules);
    case "function":
      return checkFunction(config as FunctionJobConfig, rules);
    default:
      return assertNever(jobType);
  }
}

function problem(field: string, message: string): DefinitionProblem {
  return { code: "INVALID_JOB_CONFIG", field, message };
}

function checkHttp(config: HttpJobConfig, rules: TargetRules): DefinitionProblem[] {
  const found = httpTargetProblem(config.url, rules.allowedCidrs);
  return found ? [problem("config.url", `config.url ${found}`)] : [];
}

function checkCommand(config: CommandJobConfig, rules: TargetRules): DefinitionProblem[] {
  if (rules.commandAllowed.length === 0) {
    return [problem("jobType", "command jobs are disabled on this deployment")];
  }
  const problems: DefinitionProblem[] = [];
  if (!rules.commandAllowed.includes(config.command)) {
    problems.push(
      problem("config.command", `config.command "${config.command}" is not in COMMAND_JOB_ALLOWED`),
    );
  }
  if (
    config.workingDirectory !== undefined &&
    !resolveWorkingDirectory(config.workingDirectory, rules.commandWorkdirRoot)
  ) {
    const message =
      "config.workingDirectory must lie under COMMAND_JOB_WORKDIR_ROOT (relative paths start there; no '..')";
    problems.push(problem("config.workingDirectory", message));
  }
  return problems;
}

function checkFunction(config: FunctionJobConfig, rules: TargetRules): DefinitionProblem[] {
  if (resolveFunctionModule(config.modulePath, rules.functionsDir)) return [];
  const tried = FUNCTION_MODULE_EXTENSIONS.join(", ");
  const message = `config.modulePath "${config.modulePath}" names no module in the function registry (a file ending ${tried}; no absolute path, no '..')`;
  return [problem("config.modulePath", message)];
}

/**
 * The absolute working directory of a command job, or undefined when it would leave
 * `root`. A relative path starts at `root`. Any `..` segment is refused even when it
 * normalises to a path inside: through a symlink, the kernel's `a/..` is not the
 * lexical one. Symlinks themselves are the worker's to check, with realpath, at run time.
 */
export function resolveWorkingDirectory(
  workingDirectory: string,
  root: string,
): string | undefined {
  if (workingDirectory.includes("\0") || hasDotDot(workingDirectory)) return undefined;
  const rootPath = resolve(root);
  const target = resolve(rootPath, workingDirectory);
  return isInside(rootPath, target) ? target : undefined;
}

/**
 * The file a function job's `modulePath` names in `functionsDir`, or undefined. A
 * path ending `.js`, `.mjs` or `.cjs` names that file; any other tries those
 * extensions in that order (`reports/daily` → `reports/daily.js`, …). Only regular
 * files count; a directory's index is not looked for.
 */
export function resolveFunctionModule(
  modulePath: string,
  functionsDir: string,
): string | undefined {
  if (
    modulePath === "" ||
    modulePath.includes("\0") ||
    isAbsolute(modulePath) ||
    /^[\\/]|^[A-Za-z]:/.test(modulePath) ||
    hasDotDot(modulePath)
  ) {
    return undefined;
  }
  const root = resolve(functionsDir);
  const base = resolve(root, modulePath);
  if (!isInside(root, base) || base === root) return undefined;
  const known = (FUNCTION_MODULE_EXTENSIONS as readonly string[]).includes(extname(base));
  const candidates = known ? [base] : FUNCTION_MODULE_EXTENSIONS.map((ext) => base + ext);
  return candidates.find((file) => statSync(file, { throwIfNoEntry: false })?.isFile());
}

function hasDotDot(path: string): boolean {
  return path.split(/[\\/]/).includes("..");
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith(`..${sep}`));
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}
