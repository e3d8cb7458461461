/**
 * Wall clock ↔ instant arithmetic for one IANA zone, with `Intl` as the only source of
 * zone rules. A *wall* time is a local date and time encoded as if it were UTC (ms since
 * the epoch of that local reading), so calendar arithmetic on it is plain `Date.UTC`.
 *
 * Assumes a zone changes offset at most once in any 26 hours and by less than a day,
 * which holds for every rule in tzdb from 1970 on.
 */

const SECOND_MS = 1000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Offsets span UTC−12 … UTC+14, so a wall time's instants lie in [wall − 14 h, wall + 12 h]. */
const MAX_OFFSET_MS = 14 * HOUR_MS;
const MIN_OFFSET_MS = -12 * HOUR_MS;

/** How one wall time of a zone maps onto real time. */
export type WallTimeInstants =
  | { readonly kind: "once"; readonly at: number }
  /** Repeated by a fall-back: `first` in the earlier pass, `second` in the later one. */
  | { readonly kind: "twice"; readonly first: number; readonly second: number }
  /** Skipped by a spring-forward; the gap ends at `gapEndAt`, where the clock lands. */
  | { readonly kind: "skipped"; readonly gapEndAt: number };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** Whether Intl knows the zone. Caches its formatter, which offset lookups reuse. */
export function isKnownZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

/**
 * A zone's offsets over one UTC day [start, start + 24 h): `before` until `changeAt`,
 * `after` from it (changeAt is +∞ when the day has one offset).
 */
interface DayOffsets {
  readonly before: number;
  readonly changeAt: number;
  readonly after: number;
}

/** UTC days cached per zone before that zone's cache starts over. */
const MAX_CACHED_DAYS = 4096;
const dayOffsets = new Map<string, Map<number, DayOffsets>>();

/**
 * The zone's offset from UTC at an instant, in ms (New York in January: −5 h).
 *
 * Cached by UTC day: Intl's formatToParts costs ~2 µs a call, and a fire time search
 * makes several. The cache is exact under this module's assumption (at most one change
 * in 26 hours): equal offsets at both ends of a 24-hour day mean no change inside it,
 * and different ones mean exactly one, found by bisection once.
 */
export function offsetMsAt(zone: string, atMs: number): number {
  const day = Math.floor(atMs / DAY_MS);
  let days = dayOffsets.get(zone);
  if (!days) {
    days = new Map();
    dayOffsets.set(zone, days);
  }
  let offsets = days.get(day);
  if (!offsets) {
    if (days.size >= MAX_CACHED_DAYS) days.clear();
    offsets = offsetsOfDay(zone, day * DAY_MS);
    days.set(day, offsets);
  }
  return atMs < offsets.changeAt ? offsets.before : offsets.after;
}

function offsetsOfDay(zone: string, startMs: number): DayOffsets {
  const before = intlOffsetMsAt(zone, startMs);
  const after = intlOffsetMsAt(zone, startMs + DAY_MS);
  if (before === after) return { before, changeAt: Number.POSITIVE_INFINITY, after };
  const changeAt = findTransition(zone, startMs, startMs + DAY_MS, before, intlOffsetMsAt);
  return { before, changeAt, after };
}

/** The offset as Intl reads it, uncached. */
function intlOffsetMsAt(zone: string, atMs: number): number {
  const reading: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(atMs))
    reading[part.type] = Number(part.value);
  const { year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0 } = reading;
  const wallMs = Date.UTC(year, month - 1, day, hour, minute, second);
  return wallMs - Math.floor(atMs / SECOND_MS) * SECOND_MS;
}

export function toWallMs(zone: string, atMs: number): number {
  return atMs + offsetMsAt(zone, atMs);
}

/**
 * The lowest wall time any instant after `atMs` can show. Usually the wall time of
 * `atMs` itself; lower when a fall-back within the next day turns the clock back.
 */
export function lowestWallAfter(zone: string, atMs: number): number {
  return atMs + Math.min(offsetMsAt(zone, atMs), offsetMsAt(zone, atMs + DAY_MS));
}

/**
 * The highest wall time any instant up to `atMs` can have shown: a wall time above it
 * maps only to instants after `atMs`. Higher than the wall time of `atMs` when a
 * fall-back within the day before turned the clock back.
 */
export function highestWallUpTo(zone: string, atMs: number): number {
  return atMs + Math.max(offsetMsAt(zone, atMs - DAY_MS), offsetMsAt(zone, atMs));
}

/** The instants at which the zone's clocks show `wallMs` (a whole second). */
export function resolveWallTime(zone: string, wallMs: number): WallTimeInstants {
  const offsetBefore = offsetMsAt(zone, wallMs - MAX_OFFSET_MS);
  const offsetAfter = offsetMsAt(zone, wallMs - MIN_OFFSET_MS);
  if (offsetBefore === offsetAfter) return { kind: "once", at: wallMs - offsetBefore };

  // One transition lies near: the reading under the old offset is real if it comes
  // before the transition, the one under the new offset if it comes after.
  const atOld = wallMs - offsetBefore;
  const atNew = wallMs - offsetAfter;
  const oldIsReal = offsetMsAt(zone, atOld) === offsetBefore;
  const newIsReal = offsetMsAt(zone, atNew) === offsetAfter;
  if (oldIsReal && newIsReal) return { kind: "twice", first: atOld, second: atNew };
  if (oldIsReal) return { kind: "once", at: atOld };
  if (newIsReal) return { kind: "once", at: atNew };
  return { kind: "skipped", gapEndAt: findTransition(zone, atNew, atOld, offsetBefore) };
}

/**
 * The first instant in (fromMs, toMs] whose offset is no longer `offsetBefore`, by
 * bisection over whole seconds (tzdb transitions fall on whole seconds).
 */
function findTransition(
  zone: string,
  fromMs: number,
  toMs: number,
  offsetBefore: number,
  offsetAt: (zone: string, atMs: number) => number = offsetMsAt,
): number {
  let before = fromMs;
  let after = toMs;
  while (after - before > SECOND_MS) {
    const middle = before + Math.floor((after - before) / 2 / SECOND_MS) * SECOND_MS;
    if (offsetAt(zone, middle) === offsetBefore) before = middle;
    else after = middle;
  }
  return after;
}
