import { CronExpression, CronExpressionParser } from "cron-parser";
import { describe, expect, it, vi } from "vitest";
import { nextFireTimes, parseCron } from "./cron.js";
import { plainMatcherFields, WallMatcher } from "./cronMatcher.js";

/** The matcher of a library-form expression (no L or #), built as cron.ts builds it. */
function matcherOf(expression: string): WallMatcher {
  const { fields } = CronExpressionParser.parse(expression, { tz: "UTC", currentDate: 0 });
  const numbers = (values: readonly unknown[]) => values.map(Number);
  return new WallMatcher({
    second: numbers(fields.second.values),
    minute: numbers(fields.minute.values),
    hour: numbers(fields.hour.values),
    month: numbers(fields.month.values),
    days: [
      {
        dayOfMonth: numbers(fields.dayOfMonth.values),
        dayOfWeek: numbers(fields.dayOfWeek.values),
        dayOfMonthIsWildcard: fields.dayOfMonth.isWildcard,
        dayOfWeekIsWildcard: fields.dayOfWeek.isWildcard,
      },
    ],
  });
}

/** The library's next `count` matches strictly after `fromMs`, on a UTC clock. */
function libraryMatches(expression: string, fromMs: number, count: number): number[] {
  const iterator = CronExpressionParser.parse(expression, { tz: "UTC", currentDate: fromMs });
  return Array.from({ length: count }, () => iterator.next().getTime());
}

function matcherMatches(expression: string, fromMs: number, count: number): number[] {
  const matcher = matcherOf(expression);
  const found: number[] = [];
  let from = Math.floor(fromMs / 1000) * 1000 + 1000;
  while (found.length < count) {
    const wall = matcher.next(from, Number.POSITIVE_INFINITY);
    if (wall === null) break;
    found.push(wall);
    from = wall + 1000;
  }
  return found;
}

describe("WallMatcher", () => {
  const expressions = [
    "0 0 0 * * *",
    "17 43 5 * * *",
    "59 59 23 31 12 *",
    "0 0 0 29 2 *",
    "0 0 0 13 * 5",
    "0 30 9 * * 1-5",
    "*/7 */13 */5 * * *",
    "0 0 12 1,15 * *",
    "0 0 0 * 2 0",
    "5 10-40/10 8,20 * 1,6,12 *",
    "0 0 0 31 * *",
    "* * * * * *",
  ];
  const starts = [
    Date.UTC(2026, 0, 1),
    Date.UTC(2027, 1, 27, 23, 59, 58, 500),
    Date.UTC(2028, 11, 31, 12),
  ];

  it.each(expressions)("finds the matches cron-parser finds for '%s'", (expression) => {
    for (const start of starts) {
      expect(matcherMatches(expression, start, 40)).toEqual(libraryMatches(expression, start, 40));
    }
  });

  it("returns null when no match comes before the limit", () => {
    // 30 February, which cron-parser itself refuses to parse.
    const matcher = new WallMatcher({
      second: [0],
      minute: [0],
      hour: [0],
      month: [2],
      days: [
        {
          dayOfMonth: [30],
          dayOfWeek: [0, 1, 2, 3, 4, 5, 6, 7],
          dayOfMonthIsWildcard: false,
          dayOfWeekIsWildcard: true,
        },
      ],
    });
    expect(matcher.next(Date.UTC(2026, 0, 1), Date.UTC(2056, 0, 1))).toBeNull();
  });

  it("counts the starting wall time itself, rounded up to a whole second", () => {
    const matcher = matcherOf("0 0 0 * * *");
    const midnight = Date.UTC(2026, 4, 1);
    expect(matcher.next(midnight, Number.POSITIVE_INFINITY)).toBe(midnight);
    expect(matcher.next(midnight - 999, Number.POSITIVE_INFINITY)).toBe(midnight);
    expect(matcher.next(midnight + 1, Number.POSITIVE_INFINITY)).toBe(midnight + 86_400_000);
  });
});

describe("plainMatcherFields", () => {
  /** cron-parser's reading of an expression, in the matcher's terms. */
  function libraryFields(expression: string) {
    const { fields } = CronExpressionParser.parse(expression, { tz: "UTC", currentDate: 0 });
    const numbers = (values: readonly unknown[]) => values.map(Number);
    return {
      second: numbers(fields.second.values),
      minute: numbers(fields.minute.values),
      hour: numbers(fields.hour.values),
      month: numbers(fields.month.values),
      days: [
        {
          // Day of week 7 is Sunday twice over: the matcher only ever asks about 0…6.
          dayOfMonth: numbers(fields.dayOfMonth.values),
          dayOfWeek: numbers(fields.dayOfWeek.values).filter((d) => d !== 7),
          dayOfMonthIsWildcard: fields.dayOfMonth.isWildcard,
          dayOfWeekIsWildcard: fields.dayOfWeek.isWildcard,
        },
      ],
    };
  }

  const timeForms = ["*", "0", "7", "59", "1,5,30", "10-20", "*/1", "*/7", "*/59", "3/10", "30/20"];
  const hourForms = ["*", "0", "23", "0,12", "9-17", "*/5", "2/3", "0/23"];
  const domForms = ["*", "?", "1", "31", "1,15", "10-20"];
  const dowForms = ["*", "?", "0", "6", "1-5", "0,6", "2,4,6"];

  it("gives the values and wildcard flags cron-parser gives, for every plain form", () => {
    let compared = 0;
    for (const [i, second] of timeForms.entries()) {
      for (const hour of hourForms) {
        for (const dom of domForms) {
          for (const dow of dowForms) {
            const minute = timeForms[(i * 7 + compared) % timeForms.length]!;
            const fields = [second, minute, hour, dom, "*", dow];
            const plain = plainMatcherFields(fields);
            expect(plain, fields.join(" ")).not.toBeNull();
            expect(plain, fields.join(" ")).toEqual(libraryFields(fields.join(" ")));
            compared += 1;
          }
        }
      }
    }
    expect(compared).toBe(timeForms.length * hourForms.length * domForms.length * dowForms.length);
  });

  it("leaves everything else to the library", () => {
    for (const fields of [
      ["0", "0", "0", "*", "2", "*"], // a restricted month
      ["0", "0", "0", "L", "*", "*"],
      ["0", "0", "0", "*", "*", "5L"],
      ["0", "0", "0", "*", "*", "1#2"],
      ["0", "0", "0", "*/2", "*", "*"], // a step in a day field
      ["60", "0", "0", "*", "*", "*"], // out of range: the library words the error
      ["0", "0", "24", "*", "*", "*"],
      ["0", "0", "0", "*", "*", "7"],
      ["0", "*/0", "0", "*", "*", "*"],
      ["0", "20-10", "0", "*", "*", "*"],
      ["?", "0", "0", "*", "*", "*"],
      ["0", "0", "0", "*", "*"],
    ]) {
      expect(plainMatcherFields(fields), fields.join(" ")).toBeNull();
    }
  });
});

describe("rare schedules", () => {
  // A search that stepped cron-parser took ~100 µs a step: the fifth Monday of February
  // (once in 28 years) cost ~100 ms a search, on the API's event loop (issue 16).
  it.each([
    "0 0 0 * 2 1#5",
    "0 0 0 ? 2 5L",
    "0 0 0 L 2 *",
    "0 0 0 29 2 *",
    "0 0 0 31 12 1#5",
    "59 59 23 L 2 1L",
  ])("searches '%s' without stepping cron-parser", (expression) => {
    const next = vi.spyOn(CronExpression.prototype, "next");
    const prev = vi.spyOn(CronExpression.prototype, "prev");
    try {
      const schedule = parseCron(expression, "America/New_York");
      nextFireTimes(schedule, new Date("2026-03-01T00:00:00Z"), 100);
      expect(next).not.toHaveBeenCalled();
      expect(prev).not.toHaveBeenCalled();
    } finally {
      next.mockRestore();
      prev.mockRestore();
    }
  });
});
