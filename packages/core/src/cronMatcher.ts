/**
 * Wall-time search over a cron expression's field values, with plain `Date.UTC`
 * arithmetic. cron-parser finds the same matches (cron.ts feeds it the same fields on a
 * UTC clock) but steps through luxon DateTimes, ~100 µs a match; this is ~1 µs.
 * It covers every form, `L`, `nL` and `#` included: a rare schedule (the fifth Monday
 * of February) walked with the library took ~100 ms per search, on the event loop.
 */

const SECOND_MS = 1000;

/** One expression's day fields as cron-parser reads them (values and isWildcard). */
export interface DayFields {
  readonly dayOfMonth: readonly number[];
  readonly dayOfWeek: readonly number[];
  readonly dayOfMonthIsWildcard: boolean;
  readonly dayOfWeekIsWildcard: boolean;
  /** `L` in day of month: the month's last day also matches. */
  readonly lastDayOfMonth?: boolean;
  /** `nL` in day of week: these weekdays (0…6) match in the month's last seven days. */
  readonly lastWeekdays?: readonly number[];
  /** `d#n`: day-of-week values match only in the month's n-th seven days (0: always). */
  readonly nthWeek?: number;
}

export interface MatcherFields {
  readonly second: readonly number[];
  readonly minute: readonly number[];
  readonly hour: readonly number[];
  readonly month: readonly number[];
  /** Day rules that must all hold: the expression's own, then any checked apart. */
  readonly days: readonly DayFields[];
}

interface DayRule {
  readonly dom: Uint8Array;
  readonly dow: Uint8Array;
  readonly domIsWildcard: boolean;
  readonly dowIsWildcard: boolean;
  readonly domLast: boolean;
  readonly dowLast: Uint8Array;
  readonly nthWeek: number;
}

/**
 * Tables already built, by kind, size and values: thousands of cached expressions share
 * a few hundred distinct fields, and a typed array costs ~100 bytes before its data.
 */
const tables = new Map<string, Int8Array | Uint8Array>();
const MAX_TABLES = 4096;
/**
 * The same tables by the values array they were built from: plainMatcherFields hands
 * out one array per field text, so most lookups skip building the string key.
 */
const tablesOfValues = new WeakMap<readonly number[], Map<string, Int8Array | Uint8Array>>();

function shared<T extends Int8Array | Uint8Array>(
  kind: string,
  values: readonly number[],
  build: () => T,
): T {
  let own = tablesOfValues.get(values);
  let table = own?.get(kind) as T | undefined;
  if (table) return table;
  const key = `${kind} ${values.join(",")}`;
  table = tables.get(key) as T | undefined;
  if (!table) {
    if (tables.size >= MAX_TABLES) tables.clear();
    table = build();
    tables.set(key, table);
  }
  if (!own) {
    own = new Map();
    tablesOfValues.set(values, own);
  }
  own.set(kind, table);
  return table;
}

/** For each value 0…size−1, the smallest allowed value ≥ it, or −1. */
function nextAllowed(values: readonly number[], size: number): Int8Array {
  return shared(`next ${size}`, values, () => {
    const allowed = flags(values, size);
    const next = new Int8Array(size);
    for (let v = size - 1, upcoming = -1; v >= 0; v--) {
      if (allowed[v]) upcoming = v;
      next[v] = upcoming;
    }
    return next;
  });
}

function flags(values: readonly number[], size: number): Uint8Array {
  return shared(`flags ${size}`, values, () => {
    const flags = new Uint8Array(size);
    for (const v of values) if (v >= 0 && v < size) flags[v] = 1;
    return flags;
  });
}

export class WallMatcher {
  readonly #second: Int8Array;
  readonly #minute: Int8Array;
  readonly #hour: Int8Array;
  readonly #month: Uint8Array;
  readonly #days: readonly DayRule[];

  constructor(fields: MatcherFields) {
    this.#second = nextAllowed(fields.second, 60);
    this.#minute = nextAllowed(fields.minute, 60);
    this.#hour = nextAllowed(fields.hour, 24);
    this.#month = flags(fields.month, 13);
    this.#days = fields.days.map((d) => ({
      dom: flags(d.dayOfMonth, 32),
      // cron-parser compares getDay() (0…6) with the values as they are.
      dow: flags(d.dayOfWeek, 8),
      domIsWildcard: d.dayOfMonthIsWildcard,
      dowIsWildcard: d.dayOfWeekIsWildcard,
      domLast: d.lastDayOfMonth ?? false,
      dowLast: flags(d.lastWeekdays ?? [], 8),
      nthWeek: d.nthWeek ?? 0,
    }));
  }

  /**
   * The first matching wall time at or after `fromWallMs` (rounded up to a whole
   * second), or null when there is none up to `limitWallMs`.
   */
  next(fromWallMs: number, limitWallMs: number): number | null {
    let t = Math.ceil(fromWallMs / SECOND_MS) * SECOND_MS;
    while (t <= limitWallMs) {
      const d = new Date(t);
      const year = d.getUTCFullYear();
      const month = d.getUTCMonth();
      const day = d.getUTCDate();
      if (!this.#month[month + 1]) {
        t = Date.UTC(year, month + 1, 1);
        continue;
      }
      if (!this.#dayMatches(year, month, day, d.getUTCDay())) {
        t = Date.UTC(year, month, day + 1);
        continue;
      }
      const hour = d.getUTCHours();
      const nextHour = this.#hour[hour]!;
      if (nextHour !== hour) {
        t = nextHour === -1 ? Date.UTC(year, month, day + 1) : Date.UTC(year, month, day, nextHour);
        continue;
      }
      const minute = d.getUTCMinutes();
      const nextMinute = this.#minute[minute]!;
      if (nextMinute !== minute) {
        t =
          nextMinute === -1
            ? Date.UTC(year, month, day, hour + 1)
            : Date.UTC(year, month, day, hour, nextMinute);
        continue;
      }
      const second = d.getUTCSeconds();
      const nextSecond = this.#second[second]!;
      if (nextSecond === second) return t;
      t =
        nextSecond === -1
          ? Date.UTC(year, month, day, hour, minute + 1)
          : Date.UTC(year, month, day, hour, minute, nextSecond);
    }
    return null;
  }

  /**
   * cron-parser's rule: restricted day fields are ORed, a wildcard one defers to the
   * other; `L` is the month's last day, `nL` a weekday in its last seven days, `#n` a
   * weekday in days 7n−6 … 7n.
   */
  #dayMatches(year: number, month: number, dayOfMonth: number, dayOfWeek: number): boolean {
    for (const rule of this.#days) {
      const lastDay =
        rule.domLast || rule.dowLast.includes(1)
          ? new Date(Date.UTC(year, month + 1, 0)).getUTCDate()
          : 0;
      const dom = rule.dom[dayOfMonth] === 1 || (rule.domLast && dayOfMonth === lastDay);
      const dow =
        (rule.dow[dayOfWeek] === 1 &&
          (rule.nthWeek <= 0 || Math.ceil(dayOfMonth / 7) === rule.nthWeek)) ||
        (rule.dowLast[dayOfWeek] === 1 && dayOfMonth + 7 > lastDay);
      const matches =
        !rule.domIsWildcard && !rule.dowIsWildcard ? dom || dow : rule.dowIsWildcard ? dom : dow;
      if (!matches) return false;
    }
    return true;
  }
}

/** Each field's range as cron-parser reads it (day of week: 0…6, 7 written as 0 before). */
const FIELD_RANGES: readonly (readonly [number, number])[] = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6],
];
const DAY_OF_MONTH = 3;
const MONTH = 4;
const DAY_OF_WEEK = 5;

/**
 * The fields of a six-field library expression in its plainest forms (`*`, numbers,
 * lists of numbers, `a-b`, and in time fields `*\/n` and `a/n`) without asking
 * cron-parser, which takes ~30 µs to parse one; null for anything else, which then goes
 * to the library. Month must be `*` (cron-parser checks an explicit day of month
 * against restricted months and refuses some; this leaves that to it). The values are
 * those cron-parser would give; `cronMatcher.test.ts` compares them.
 */
export function plainMatcherFields(fields: readonly string[]): MatcherFields | null {
  if (fields.length !== 6 || fields[MONTH] !== "*") return null;
  const values: (readonly number[])[] = [];
  for (let index = 0; index < 6; index++) {
    const parsed = knownPlainValues(index, fields[index]!);
    if (parsed === null) return null;
    values.push(parsed);
  }
  const isWildcard = (index: number) => fields[index] === "*" || fields[index] === "?";
  return {
    second: values[0]!,
    minute: values[1]!,
    hour: values[2]!,
    month: values[MONTH]!,
    days: [
      {
        dayOfMonth: values[DAY_OF_MONTH]!,
        dayOfWeek: values[DAY_OF_WEEK]!,
        dayOfMonthIsWildcard: isWildcard(DAY_OF_MONTH),
        dayOfWeekIsWildcard: isWildcard(DAY_OF_WEEK),
      },
    ],
  };
}

/**
 * plainValues of a field text, remembered: schedules share few field texts (60 seconds,
 * 60 minutes, 24 hours, `*`), and a batch of 1000 new schedules reads 6000 fields.
 * The arrays are shared, so never changed.
 */
const plainValuesOf = new Map<string, readonly number[] | null>();
const MAX_PLAIN_VALUES = 4096;

function knownPlainValues(index: number, field: string): readonly number[] | null {
  const key = `${index}${field}`;
  let values = plainValuesOf.get(key);
  if (values === undefined) {
    if (plainValuesOf.size >= MAX_PLAIN_VALUES) plainValuesOf.clear();
    values = plainValues(index, field);
    plainValuesOf.set(key, values);
  }
  return values;
}

function plainValues(index: number, field: string): number[] | null {
  const [min, max] = FIELD_RANGES[index]!;
  const isDay = index === DAY_OF_MONTH || index === DAY_OF_WEEK;
  if (field === "*" || (isDay && field === "?")) return steps(min, max, 1);
  const number = (text: string | undefined) => {
    if (text === undefined || !/^\d{1,2}$/.test(text)) return null;
    const value = Number(text);
    return value >= min && value <= max ? value : null;
  };
  if (/^\d{1,2}(,\d{1,2})+$/.test(field)) {
    const list = field.split(",").map(number);
    if (list.some((v) => v === null)) return null;
    const sorted = (list as number[]).toSorted((a, b) => a - b);
    return sorted.every((v, i) => i === 0 || v > sorted[i - 1]!) ? sorted : null;
  }
  const range = /^(\d{1,2})-(\d{1,2})$/.exec(field);
  if (range) {
    const [from, to] = [number(range[1]), number(range[2])];
    return from !== null && to !== null && from <= to ? steps(from, to, 1) : null;
  }
  const step = /^(\*|\d{1,2})\/(\d{1,2})$/.exec(field);
  if (step) {
    if (isDay) return null;
    const from = step[1] === "*" ? min : number(step[1]);
    const by = Number(step[2]);
    return from !== null && by >= 1 && by <= max - min ? steps(from, max, by) : null;
  }
  const single = number(field);
  return single === null ? null : [single];
}

function steps(from: number, to: number, by: number): number[] {
  const values: number[] = [];
  for (let v = from; v <= to; v += by) values.push(v);
  return values;
}
