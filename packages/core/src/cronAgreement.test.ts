import { CronExpressionParser } from "cron-parser";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nextFireTimes, parseCron } from "./cron.js";
import { plainMatcherFields } from "./cronMatcher.js";

/**
 * Generated cron fields, valid and broken, compared across the three readers of a field:
 * the fast matcher for plain fields (`plainMatcherFields`), cron-parser (the full parser)
 * and `parseCron` (which hands each field to one of the two). Any disagreement fails.
 */

const FIELD_NAMES = ["second", "minute", "hour", "day-of-month", "month", "day-of-week"];
const DOM = 3;
const MONTH = 4;
const DOW = 5;

/** A number as written, around and beyond every field's range, sometimes zero-padded. */
const number = fc.oneof(
  fc.integer({ min: -3, max: 65 }).map(String),
  fc.integer({ min: 0, max: 9 }).map((n) => `0${n}`),
);
const monthName = fc.constantFrom("JAN", "feb", "Mar", "DEC", "JUNE", "XYZ");
const dayName = fc.constantFrom("SUN", "mon", "Fri", "SAT", "TUES", "ABC");
/** `L`, `nL` and `d#n` forms, valid and not. */
const special = fc.oneof(
  fc.constantFrom("L", "LW", "L-2"),
  fc.integer({ min: -1, max: 8 }).map((d) => `${d}L`),
  fc
    .tuple(fc.integer({ min: -1, max: 8 }), fc.integer({ min: -1, max: 6 }))
    .map(([d, n]) => `${d}#${n}`),
);
/** One end of a range: a number, a name of the field (or of another field), or a star. */
const atom = (index: number) =>
  fc.oneof(
    { weight: 6, arbitrary: number },
    { weight: index === MONTH ? 3 : 1, arbitrary: monthName },
    { weight: index === DOW ? 3 : 1, arbitrary: dayName },
    { weight: index === DOM || index === DOW ? 3 : 1, arbitrary: special },
    { weight: 1, arbitrary: fc.constantFrom("*", "?", "") },
  );
const step = fc.oneof(
  fc.integer({ min: -2, max: 70 }).map(String),
  fc.constantFrom("", "0", "00", "x"),
);
/** One list element: `a`, `a-b`, `a/n`, `a-b/n`, or nothing at all. */
const element = (index: number) =>
  fc.oneof(
    { weight: 4, arbitrary: atom(index) },
    { weight: 3, arbitrary: fc.tuple(atom(index), atom(index)).map(([a, b]) => `${a}-${b}`) },
    { weight: 2, arbitrary: fc.tuple(atom(index), step).map(([a, n]) => `${a}/${n}`) },
    {
      weight: 1,
      arbitrary: fc.tuple(atom(index), atom(index), step).map(([a, b, n]) => `${a}-${b}/${n}`),
    },
    { weight: 1, arbitrary: fc.constant("") },
  );
/** A field: one to four elements joined by commas, sometimes with a stray separator. */
const field = (index: number) =>
  fc
    .tuple(
      fc.array(element(index), { minLength: 1, maxLength: 4 }),
      fc.constantFrom("", "", "", ",", "-", "/"),
      fc.boolean(),
    )
    .map(([items, stray, atStart]) => {
      const list = items.join(",");
      return atStart ? stray + list : list + stray;
    })
    .filter((text) => text !== "" && !/\s/.test(text));

/** The expression with `text` in field `index` and the others unrestricted. */
function expressionWith(index: number, text: string): string {
  return ["0", "0", "0", "*", "*", "*"].map((f, i) => (i === index ? text : f)).join(" ");
}

type Verdict = { ok: true } | { ok: false; reason: string };

function libraryVerdict(expression: string): Verdict {
  try {
    CronExpressionParser.parse(expression, { tz: "UTC", currentDate: 0 });
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

function ourVerdict(expression: string): Verdict {
  try {
    parseCron(expression, "UTC");
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/** cron-parser's next `count` matches after `fromMs`, on a UTC clock. */
function libraryFireTimes(expression: string, fromMs: number, count: number): number[] {
  const iterator = CronExpressionParser.parse(expression, { tz: "UTC", currentDate: fromMs });
  return Array.from({ length: count }, () => iterator.next().getTime());
}

/**
 * Where we knowingly differ from cron-parser (docs/cron.md): a list may name a value
 * twice (Vixie cron takes the union; cron-parser refuses "duplicate values"), a
 * day-of-week range may end on SUN (`FRI-SUN` is 5-7, where cron-parser reads 5-0),
 * and the day-of-month `W` is refused.
 */
function isKnownDifference(index: number, library: Verdict, text: string): boolean {
  return (
    (!library.ok && /duplicate values/i.test(library.reason)) ||
    (index === DOW && /-SUN/i.test(text)) ||
    /W/i.test(text)
  );
}

const RUNS = { numRuns: 1500, seed: 0x5eed, endOnFailure: true } as const;
const FROM = Date.UTC(2026, 2, 7, 22, 59, 30);

describe("cron field agreement", () => {
  it.each(FIELD_NAMES.map((name, index) => [name, index] as const))(
    "parseCron accepts a generated %s field exactly when cron-parser does, with its fire times",
    (_, index) => {
      fc.assert(
        fc.property(field(index), (text) => {
          const expression = expressionWith(index, text);
          const library = libraryVerdict(expression);
          const ours = ourVerdict(expression);
          if (isKnownDifference(index, library, text)) return;
          expect(
            ours.ok,
            `${expression}: ours ${JSON.stringify(ours)}, cron-parser ${JSON.stringify(library)}`,
          ).toBe(library.ok);
          if (!ours.ok) return;
          const found = nextFireTimes(parseCron(expression, "UTC"), new Date(FROM), 8);
          expect(
            found.map((d) => d.getTime()),
            expression,
          ).toEqual(libraryFireTimes(expression, FROM, 8));
        }),
        RUNS,
      );
    },
  );

  it("matches both day fields together as cron-parser does (classic OR), L and # included", () => {
    fc.assert(
      fc.property(field(DOM), field(DOW), (dom, dow) => {
        // A `*`-led day field is ANDed with the other (Vixie cron), which cron-parser is not.
        fc.pre(!/^[*?]/.test(dom) && !/^[*?]/.test(dow));
        const expression = `0 0 0 ${dom} * ${dow}`;
        const library = libraryVerdict(expression);
        const ours = ourVerdict(expression);
        if (isKnownDifference(DOM, library, dom) || isKnownDifference(DOW, library, dow)) return;
        expect(
          ours.ok,
          `${expression}: ours ${JSON.stringify(ours)}, cron-parser ${JSON.stringify(library)}`,
        ).toBe(library.ok);
        if (!ours.ok) return;
        const found = nextFireTimes(parseCron(expression, "UTC"), new Date(FROM), 8);
        expect(
          found.map((d) => d.getTime()),
          expression,
        ).toEqual(libraryFireTimes(expression, FROM, 8));
      }),
      RUNS,
    );
  });

  it.each(FIELD_NAMES.map((name, index) => [name, index] as const))(
    "the fast matcher reads a generated %s field as cron-parser does, or leaves it to it",
    (_, index) => {
      fc.assert(
        fc.property(field(index), (text) => {
          const fields = expressionWith(index, text).split(" ");
          const plain = plainMatcherFields(fields);
          const library = libraryVerdict(fields.join(" "));
          if (!library.ok) {
            expect(
              plain,
              `${fields.join(" ")}: cron-parser refuses (${library.reason})`,
            ).toBeNull();
            return;
          }
          if (plain === null) return;
          const { fields: lib } = CronExpressionParser.parse(fields.join(" "), {
            tz: "UTC",
            currentDate: 0,
          });
          const numbers = (values: readonly unknown[]) => values.map(Number);
          expect(plain, fields.join(" ")).toEqual({
            second: numbers(lib.second.values),
            minute: numbers(lib.minute.values),
            hour: numbers(lib.hour.values),
            month: numbers(lib.month.values),
            days: [
              {
                dayOfMonth: numbers(lib.dayOfMonth.values),
                dayOfWeek: numbers(lib.dayOfWeek.values).filter((d) => d !== 7),
                dayOfMonthIsWildcard: lib.dayOfMonth.isWildcard,
                dayOfWeekIsWildcard: lib.dayOfWeek.isWildcard,
              },
            ],
          });
        }),
        RUNS,
      );
    },
  );
});
