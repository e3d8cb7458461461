/**
 * Cron schedules: parsing, validation and fire times in a job's IANA zone, with the
 * DST rule of docs/cron.md. The only module that touches a cron library.
 *
 * cron-parser matches the expression against a *wall clock* (local date and time,
 * evaluated in UTC so the library never sees a DST transition); `cronDst.ts` maps each
 * wall time to real instants. Why this split and why cron-parser: docs/cron.md.
 */
import { type CronExpression, CronExpressionParser } from "cron-parser";
import {
  highestWallUpTo,
  isKnownZone,
  lowestWallAfter,
  resolveWallTime,
  toWallMs,
} from "./cronDst.js";
import { plainMatcherFields, WallMatcher } from "./cronMatcher.js";
import { AppError } from "./errors.js";
import { Lru } from "./lru.js";

/** A parsed, validated cron schedule in one IANA zone. */
export interface CronSchedule {
  readonly expression: string;
  readonly timezone: string;
}

const MAX_EXPRESSION_LENGTH = 100;
const DAY_MS = 86_400_000;
/**
 * How far ahead a search looks. Weekdays and leap years repeat every 28 years between
 * century years, so a schedule with no fire time in 30 years has none at all.
 */
const SEARCH_HORIZON_MS = 30 * 366 * DAY_MS;
/**
 * Where "can it ever fire" searches from. Fixed rather than the clock so that an
 * expression is valid or not regardless of when it is checked; zone rules (which decide
 * whether a time in a spring-forward gap ever exists) are current ones from 2026 on.
 */
const NEVER_FIRES_REFERENCE = new Date("2026-01-01T00:00:00Z");

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 0 1 1 *",
  "@annually": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 0",
  "@daily": "0 0 0 * * *",
  "@midnight": "0 0 0 * * *",
  "@hourly": "0 0 * * * *",
};
const FIELD_NAMES = ["second", "minute", "hour", "day-of-month", "month", "day-of-week"];
const LIBRARY_FIELDS = ["second", "minute", "hour", "dayOfMonth", "month", "dayOfWeek"] as const;
const DOM = 3;
const MONTH = 4;
const DOW = 5;
const NAMES: Readonly<Record<number, readonly string[]>> = {
  [MONTH]: ["", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  [DOW]: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};
const ALLOWED_CHARS: Readonly<Record<number, RegExp>> = {
  [DOM]: /^[\d*?,/L-]+$/,
  [DOW]: /^[\d*?,/L#-]+$/,
};
const PLAIN_ALLOWED_CHARS = /^[\d*?,/-]+$/;

/** An expression compiled to its wall-time matcher. */
interface CompiledCron {
  readonly expression: string;
  /** Interval job (a time field starts with `*` or `?`): follows real time across DST. */
  readonly followsRealTime: boolean;
  /**
   * The wall times the expression matches: its six fields (names resolved, lists
   * without repeats, `*`-led day fields as `*`) as cron-parser reads them, and each
   * `*`-led day field checked on its own and ANDed (Vixie cron ORs day-of-month and
   * day-of-week only when neither starts with `*`).
   */
  readonly matcher: WallMatcher;
}

/**
 * Compiled expressions, and schedules that passed parseCron, by expression (and zone).
 * Both are pure functions of their key; bounded so that a stream of distinct
 * expressions costs memory once. A batch create of 1000 jobs checks each definition and
 * then computes its first fire time; the scheduler parses every claimed job's schedule.
 */
const COMPILED_CACHE_SIZE = 4096;
const compiledCache = new Lru<string, CompiledCron>(COMPILED_CACHE_SIZE);
const validCache = new Lru<string, CronSchedule>(COMPILED_CACHE_SIZE);

/** Throws AppError INVALID_TIMEZONE when `timezone` is not an IANA zone name. */
export function assertTimezone(timezone: string): void {
  // The pattern refuses UTC-offset forms ("+08:00") that newer Intl versions accept.
  if (/^[A-Za-z][\w+-]*(?:\/[\w+-]+)*$/.test(timezone) && isKnownZone(timezone)) return;
  throw new AppError("INVALID_TIMEZONE", `timezone "${timezone}" is not an IANA zone name`, {
    timezone,
  });
}

/**
 * Parses and validates; throws AppError INVALID_CRON_EXPRESSION (the message names the
 * expression and the problem) or INVALID_TIMEZONE.
 */
export function parseCron(expression: string, timezone: string): CronSchedule {
  // The zone is not checked yet and may hold spaces: its length keeps keys unambiguous.
  const key = `${timezone.length}:${timezone} ${expression}`;
  const known = validCache.get(key);
  if (known) return known;
  const compiled = compile(expression); // expression errors before zone errors
  assertTimezone(timezone);
  if (searchFireTimes(compiled, timezone, NEVER_FIRES_REFERENCE, 1).length === 0) {
    throw invalidCron(expression, "never fires");
  }
  const schedule = Object.freeze({ expression, timezone });
  validCache.set(key, schedule);
  compiledSchedules.set(schedule, compiled);
  return schedule;
}

/**
 * The compiled form of each schedule parseCron returned, whose zone it has checked: a
 * create computes the first fire time of the schedule it has just parsed, and this
 * spares that a second cache lookup and zone check.
 */
const compiledSchedules = new WeakMap<CronSchedule, CompiledCron>();

/** The first `count` fire times strictly after `after`, ascending (fewer past 30 years). */
export function nextFireTimes(schedule: CronSchedule, after: Date, count: number): Date[] {
  let compiled = compiledSchedules.get(schedule);
  if (!compiled) {
    compiled = compile(schedule.expression);
    assertTimezone(schedule.timezone);
  }
  if (Number.isNaN(after.getTime())) throw new RangeError("nextFireTimes: invalid `after` Date");
  const wanted = Math.floor(count);
  return wanted >= 1 ? searchFireTimes(compiled, schedule.timezone, after, wanted) : [];
}

export function nextFireTime(schedule: CronSchedule, after: Date): Date | null {
  return nextFireTimes(schedule, after, 1)[0] ?? null;
}

/**
 * Walks the expression's wall times upward and maps each to its instants. Wall order
 * is not instant order around a fall-back (the repeated hour's second pass comes after
 * later wall times' first pass), so it keeps the `count` earliest instants seen and
 * stops only at a wall time that cannot map to anything earlier than those.
 */
function searchFireTimes(compiled: CompiledCron, zone: string, after: Date, count: number): Date[] {
  const afterMs = after.getTime();
  const found: number[] = [];
  const from = lowestWallAfter(zone, afterMs);
  const cursor = new MatcherCursor(compiled.matcher, from);
  let stopWall = afterMs + SEARCH_HORIZON_MS;
  for (
    let wall = cursor.next(stopWall);
    wall !== null && wall <= stopWall;
    wall = cursor.next(stopWall)
  ) {
    const instants = resolveWallTime(zone, wall);
    if (instants.kind === "skipped") {
      // Every wall time in the gap maps to its end (fixed) or to nothing (interval).
      if (!compiled.followsRealTime) keepEarliest(found, instants.gapEndAt, afterMs, count);
      cursor.skipTo(toWallMs(zone, instants.gapEndAt));
    } else if (instants.kind === "once") {
      keepEarliest(found, instants.at, afterMs, count);
    } else {
      keepEarliest(found, instants.first, afterMs, count);
      if (compiled.followsRealTime) keepEarliest(found, instants.second, afterMs, count);
    }
    const last = found[count - 1];
    if (last !== undefined) stopWall = Math.min(stopWall, highestWallUpTo(zone, last));
  }
  return found.map((ms) => new Date(ms));
}

/** Inserts `atMs` into ascending `found` if after `afterMs`, keeping only `count` items. */
function keepEarliest(found: number[], atMs: number, afterMs: number, count: number): void {
  if (atMs <= afterMs || found.includes(atMs)) return;
  const index = found.findIndex((ms) => ms > atMs);
  found.splice(index === -1 ? found.length : index, 0, atMs);
  if (found.length > count) found.length = count;
}

/** Matching wall times in ascending order, from a starting wall time. */
class MatcherCursor {
  constructor(
    private readonly matcher: WallMatcher,
    private fromWallMs: number,
  ) {}

  next(limitWallMs: number): number | null {
    const wall = this.matcher.next(this.fromWallMs, limitWallMs);
    if (wall !== null) this.fromWallMs = wall + 1000;
    return wall;
  }

  skipTo(wallMs: number): void {
    this.fromWallMs = wallMs;
  }
}

/** compile, memoised; throws what compile threw (errors are not kept). */
function compile(expression: string): CompiledCron {
  let compiled = compiledCache.get(expression);
  if (!compiled) {
    compiled = compileUncached(expression);
    compiledCache.set(expression, compiled);
  }
  return compiled;
}

function compileUncached(expression: string): CompiledCron {
  const written = splitFields(expression);
  // Vixie cron decides by the first character as written, before lists are merged.
  const isStarLed = written.map((field) => /^[*?]/.test(field));
  const fields = written.map((field, index) => normaliseField(expression, index, field));
  const dayChecks: CronExpression[] = [];
  for (const index of [DOM, DOW]) {
    if (!isStarLed[index] || fields[index] === "*" || fields[index] === "?") continue;
    dayChecks.push(parseWithLibrary(expression, probeExpression(index, fields[index]!)));
    fields[index] = "*";
  }
  const followsRealTime = isStarLed.slice(0, 3).includes(true);
  const libraryExpression = fields.join(" ");
  // The plainest expressions (most of them) need no library parse at all.
  const plain = dayChecks.length === 0 ? plainMatcherFields(fields) : null;
  const matcher = plain
    ? new WallMatcher(plain)
    : matcherFor(parseWithLibrary(expression, libraryExpression), dayChecks);
  return { expression, followsRealTime, matcher };
}

/** The fast matcher of an expression the library parsed, with its `L`, `nL` and `#`. */
function matcherFor(library: CronExpression, dayChecks: CronExpression[]): WallMatcher {
  const all = [library, ...dayChecks];
  const numbers = (values: readonly unknown[]) => values.map(Number);
  // cron-parser reads an `nL` list by the first digit of every item, `% 7`.
  const lastWeekdays = (values: readonly unknown[]) =>
    values.map((v) => Number.parseInt(String(v).charAt(0), 10) % 7).filter((d) => d >= 0);
  const { second, minute, hour, month } = library.fields;
  return new WallMatcher({
    second: numbers(second.values),
    minute: numbers(minute.values),
    hour: numbers(hour.values),
    month: numbers(month.values),
    days: all.map(({ fields: { dayOfMonth, dayOfWeek } }) => ({
      dayOfMonth: numbers(dayOfMonth.values),
      dayOfWeek: numbers(dayOfWeek.values),
      dayOfMonthIsWildcard: dayOfMonth.isWildcard,
      dayOfWeekIsWildcard: dayOfWeek.isWildcard,
      lastDayOfMonth: dayOfMonth.hasLastChar,
      lastWeekdays: dayOfWeek.hasLastChar ? lastWeekdays(dayOfWeek.values) : [],
      nthWeek: dayOfWeek.nthDay,
    })),
  });
}

/** The six fields of an expression or macro, before any library sees it. */
function splitFields(expression: string): string[] {
  const trimmed = expression.trim();
  if (trimmed === "") throw invalidCron(expression, "is empty");
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw invalidCron(expression, `is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const text = trimmed.startsWith("@") ? MACROS[trimmed.toLowerCase()] : trimmed;
  if (text === undefined) {
    throw invalidCron(expression, `is not a known macro (${Object.keys(MACROS).join(" ")})`);
  }
  const fields = text.split(/\s+/);
  if (fields.length === 5) return ["0", ...fields];
  if (fields.length === 6) return fields;
  throw invalidCron(
    expression,
    `has ${fields.length} fields; expected 5 or 6 (${FIELD_NAMES.join(" ")})`,
  );
}

/** Resolves names, refuses what we do not support, and removes repeats from lists. */
function normaliseField(expression: string, index: number, field: string): string {
  const name = FIELD_NAMES[index];
  // cron-parser refuses these too; mergeList probes item by item and would drop them.
  if (field.split(",").includes("")) {
    throw invalidCron(expression, `has an empty list element in ${name} "${field}"`);
  }
  let text = field.toUpperCase();
  if (index === DOW) text = text.replace(/-SUN\b/g, "-7");
  const names = NAMES[index];
  if (names) text = text.replace(/[A-Z]{3,}/g, (token) => resolveName(expression, names, token));
  if (index === DOM && text.includes("W")) {
    throw invalidCron(
      expression,
      `uses W (nearest weekday) in ${name} "${field}", which is not supported`,
    );
  }
  if (!(ALLOWED_CHARS[index] ?? PLAIN_ALLOWED_CHARS).test(text)) {
    throw invalidCron(expression, `has characters ${name} does not allow in "${field}"`);
  }
  // 7 is Sunday as well as 0; cron-parser reduces it to 0 and then refuses "0,7" as a repeat.
  if (index === DOW) text = text.replace(/(^|,)7(?=$|,|L|#)/g, (_, start: string) => `${start}0`);
  return text.includes(",") ? mergeList(expression, index, text) : text;
}

function resolveName(expression: string, names: readonly string[], token: string): string {
  const value = names.indexOf(token);
  if (value === -1) throw invalidCron(expression, `uses the unknown name "${token}"`);
  return String(value);
}

/**
 * Rewrites a list as the union of its items, because cron-parser refuses a list that
 * names a value twice ("1-5,3", "0,7") where Vixie cron takes the union. Items with
 * `L` or `#` keep their text; the library reads those itself.
 */
function mergeList(expression: string, index: number, list: string): string {
  const values = new Set<number>();
  const special = new Set<string>();
  for (const item of list.split(",")) {
    if (/[L#]/.test(item)) {
      special.add(item);
      continue;
    }
    const probe = parseWithLibrary(expression, probeExpression(index, item));
    for (const value of probe.fields[LIBRARY_FIELDS[index]!].values) {
      values.add(index === DOW ? Number(value) % 7 : Number(value));
    }
  }
  return [...[...values].sort((a, b) => a - b), ...special].join(",");
}

/** An expression restricted in field `index` only. */
function probeExpression(index: number, field: string): string {
  return ["0", "0", "0", "*", "*", "*"]
    .map((wildcard, i) => (i === index ? field : wildcard))
    .join(" ");
}

/**
 * The library's own errors become INVALID_CRON_EXPRESSION. A `currentDate` is always
 * given: without one cron-parser asks Intl for the system zone, ~10x the parse cost.
 */
function parseWithLibrary(
  expression: string,
  libraryExpression: string,
  currentDate = new Date(0),
): CronExpression {
  try {
    return CronExpressionParser.parse(libraryExpression, { tz: "UTC", currentDate });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw invalidCron(expression, `is invalid: ${reason}`);
  }
}

function invalidCron(expression: string, problem: string): AppError {
  return new AppError("INVALID_CRON_EXPRESSION", `cronExpression "${expression}" ${problem}`, {
    expression,
  });
}
