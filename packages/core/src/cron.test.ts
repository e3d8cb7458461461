import { describe, expect, it } from "vitest";
import { assertTimezone, nextFireTime, nextFireTimes, parseCron } from "./cron.js";
import type { AppError } from "./errors.js";

/** One expected run: the schedule, the instant to search after, the next fire times (UTC). */
interface FireCase {
  name: string;
  expression: string;
  timezone: string;
  after: string;
  expected: string[];
}

function fireTimes({ expression, timezone, after, expected }: FireCase): string[] {
  const schedule = parseCron(expression, timezone);
  return nextFireTimes(schedule, new Date(after), expected.length).map((at) => at.toISOString());
}

function thrown(action: () => unknown): AppError {
  try {
    action();
  } catch (error) {
    return error as AppError;
  }
  throw new Error("expected an error");
}

/** Writes `2026-01-01T02:00Z` style instants as full ISO strings. */
function iso(...instants: string[]): string[] {
  return instants.map((instant) => new Date(instant).toISOString());
}

// 2026: Jan 1 is a Thursday. New York springs forward Mar 8 (02:00 EST → 03:00 EDT,
// at 07:00Z) and falls back Nov 1 (02:00 EDT → 01:00 EST, at 06:00Z). London: Mar 29
// (01:00 GMT → 02:00 BST, at 01:00Z) and Oct 25 (02:00 BST → 01:00 GMT, at 01:00Z).
// Lord Howe (+10:30 / +11): falls back Apr 5 (02:00 → 01:30, at Apr 4 15:00Z) and
// springs forward Oct 4 (02:00 → 02:30, at Oct 3 15:30Z). Kolkata: +05:30 all year.

const syntaxCases: FireCase[] = [
  {
    name: "fires every five minutes on the minute",
    expression: "0 */5 * * * *",
    timezone: "UTC",
    after: "2026-01-01T10:02:30Z",
    expected: iso("2026-01-01T10:05Z", "2026-01-01T10:10Z", "2026-01-01T10:15Z"),
  },
  {
    name: "fires daily at 02:00",
    expression: "0 0 2 * * *",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-01T02:00Z", "2026-01-02T02:00Z", "2026-01-03T02:00Z"),
  },
  {
    name: "fires at 09:00 on weekdays only, skipping the weekend",
    expression: "0 0 9 * * 1-5",
    timezone: "UTC",
    after: "2026-01-02T12:00Z",
    expected: iso("2026-01-05T09:00Z", "2026-01-06T09:00Z", "2026-01-07T09:00Z"),
  },
  {
    name: "fires every half hour within working hours and resumes next morning",
    expression: "0 0/30 9-17 * * *",
    timezone: "UTC",
    after: "2026-01-01T17:00Z",
    expected: iso("2026-01-01T17:30Z", "2026-01-02T09:00Z", "2026-01-02T09:30Z"),
  },
  {
    name: "fires at midnight on the first of each month",
    expression: "0 0 0 1 * *",
    timezone: "UTC",
    after: "2026-01-15T00:00Z",
    expected: iso("2026-02-01T00:00Z", "2026-03-01T00:00Z", "2026-04-01T00:00Z"),
  },
  {
    name: "fires on 29 February only in leap years",
    expression: "0 0 0 29 2 *",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2028-02-29T00:00Z", "2032-02-29T00:00Z"),
  },
  {
    name: "fires on the 31st only in months that have one",
    expression: "0 0 0 31 * *",
    timezone: "UTC",
    after: "2026-01-31T00:00Z",
    expected: iso("2026-03-31T00:00Z", "2026-05-31T00:00Z", "2026-07-31T00:00Z"),
  },
  {
    name: "fires on the last day of each month with L",
    expression: "0 0 0 L * *",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-31T00:00Z",
      "2026-02-28T00:00Z",
      "2026-03-31T00:00Z",
      "2026-04-30T00:00Z",
    ),
  },
  {
    name: "fires on 29 February as the last day of a leap February",
    expression: "0 0 12 L 2 *",
    timezone: "UTC",
    after: "2027-03-01T00:00Z",
    expected: iso("2028-02-29T12:00Z", "2029-02-28T12:00Z"),
  },
  {
    name: "fires on the last Friday of each month with 5L",
    expression: "0 0 0 * * 5L",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-30T00:00Z", "2026-02-27T00:00Z", "2026-03-27T00:00Z"),
  },
  {
    name: "fires on the second Monday of each month with 1#2",
    expression: "0 0 0 * * 1#2",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-12T00:00Z", "2026-02-09T00:00Z", "2026-03-09T00:00Z"),
  },
  {
    name: "reads a day name together with #",
    expression: "0 0 10 * * MON#1",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-05T10:00Z", "2026-02-02T10:00Z", "2026-03-02T10:00Z"),
  },
  {
    name: "reads month names in a list",
    expression: "0 0 0 1 JAN,JUL *",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-07-01T00:00Z", "2027-01-01T00:00Z", "2027-07-01T00:00Z"),
  },
  {
    name: "reads day names in a range",
    expression: "0 30 8 * * MON-FRI",
    timezone: "UTC",
    after: "2026-01-02T09:00Z",
    expected: iso("2026-01-05T08:30Z", "2026-01-06T08:30Z"),
  },
  {
    name: "reads a range of names ending on Sunday",
    expression: "0 0 0 * * FRI-SUN",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-02T00:00Z",
      "2026-01-03T00:00Z",
      "2026-01-04T00:00Z",
      "2026-01-09T00:00Z",
    ),
  },
  {
    name: "reads names in lower case",
    expression: "0 0 0 1 jan,jun *",
    timezone: "UTC",
    after: "2026-02-01T00:00Z",
    expected: iso("2026-06-01T00:00Z", "2027-01-01T00:00Z"),
  },
  {
    name: "treats ? in day-of-month as any day",
    expression: "0 0 12 ? * WED",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-07T12:00Z", "2026-01-14T12:00Z", "2026-01-21T12:00Z"),
  },
  {
    name: "treats ? in day-of-week as any day",
    expression: "0 0 12 15 * ?",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-15T12:00Z", "2026-02-15T12:00Z"),
  },
  {
    name: "accepts both 0 and 7 for Sunday in one list",
    expression: "0 0 0 * * 0,7",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-04T00:00Z", "2026-01-11T00:00Z", "2026-01-18T00:00Z"),
  },
  {
    name: "reads 7 alone as Sunday",
    expression: "0 0 0 * * 7",
    timezone: "UTC",
    after: "2026-01-05T00:00Z",
    expected: iso("2026-01-11T00:00Z", "2026-01-18T00:00Z"),
  },
  {
    name: "reads a range ending at 7 as ending on Sunday",
    expression: "0 0 0 * * 5-7",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-02T00:00Z",
      "2026-01-03T00:00Z",
      "2026-01-04T00:00Z",
      "2026-01-09T00:00Z",
    ),
  },
  {
    name: "takes the union of overlapping list items",
    expression: "0 0 0 1-5,3 * *",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-02T00:00Z",
      "2026-01-03T00:00Z",
      "2026-01-04T00:00Z",
      "2026-01-05T00:00Z",
      "2026-02-01T00:00Z",
    ),
  },
  {
    name: "expands @yearly to midnight on 1 January",
    expression: "@yearly",
    timezone: "UTC",
    after: "2026-06-01T00:00Z",
    expected: iso("2027-01-01T00:00Z", "2028-01-01T00:00Z"),
  },
  {
    name: "expands @annually like @yearly",
    expression: "@annually",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2027-01-01T00:00Z"),
  },
  {
    name: "expands @monthly to midnight on the first",
    expression: "@monthly",
    timezone: "UTC",
    after: "2026-01-15T00:00Z",
    expected: iso("2026-02-01T00:00Z", "2026-03-01T00:00Z"),
  },
  {
    name: "expands @weekly to midnight on Sunday",
    expression: "@weekly",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-04T00:00Z", "2026-01-11T00:00Z"),
  },
  {
    name: "expands @daily to midnight in the job's zone",
    expression: "@daily",
    timezone: "America/New_York",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-01T05:00Z", "2026-01-02T05:00Z"),
  },
  {
    name: "expands @midnight like @daily",
    expression: "@midnight",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-02T00:00Z", "2026-01-03T00:00Z"),
  },
  {
    name: "expands @hourly to the top of each hour",
    expression: "@hourly",
    timezone: "UTC",
    after: "2026-01-01T10:30Z",
    expected: iso("2026-01-01T11:00Z", "2026-01-01T12:00Z"),
  },
  {
    name: "reads five fields as minute-level with seconds at 0",
    expression: "*/15 * * * *",
    timezone: "UTC",
    after: "2026-01-01T10:07:30Z",
    expected: iso("2026-01-01T10:15Z", "2026-01-01T10:30Z", "2026-01-01T10:45Z"),
  },
  {
    name: "reads five fields with a day of week",
    expression: "30 9 * * 1",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-05T09:30Z", "2026-01-12T09:30Z"),
  },
  {
    name: "fires when either the day of month or the day of week matches",
    expression: "0 0 0 13 * 5",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-02T00:00Z",
      "2026-01-09T00:00Z",
      "2026-01-13T00:00Z",
      "2026-01-16T00:00Z",
      "2026-01-23T00:00Z",
    ),
  },
  {
    name: "fires on listed days of month or on Mondays",
    expression: "0 0 0 1,15 * MON",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-05T00:00Z",
      "2026-01-12T00:00Z",
      "2026-01-15T00:00Z",
      "2026-01-19T00:00Z",
      "2026-01-26T00:00Z",
      "2026-02-01T00:00Z",
    ),
  },
  {
    name: "requires both day fields when day-of-month starts with *",
    expression: "0 0 0 */2 * 1",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-05T00:00Z",
      "2026-01-19T00:00Z",
      "2026-02-09T00:00Z",
      "2026-02-23T00:00Z",
      "2026-03-09T00:00Z",
    ),
  },
  {
    name: "requires both day fields when day-of-week starts with *",
    expression: "0 0 0 1 * */2",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-02-01T00:00Z",
      "2026-03-01T00:00Z",
      "2026-08-01T00:00Z",
      "2026-09-01T00:00Z",
    ),
  },
  {
    name: "fires on odd days of month alone when day-of-week is *",
    expression: "0 0 0 */2 * *",
    timezone: "UTC",
    after: "2026-01-30T00:00Z",
    expected: iso("2026-01-31T00:00Z", "2026-02-01T00:00Z", "2026-02-03T00:00Z"),
  },
  {
    name: "lets a restricted day of week rescue an impossible day of month",
    expression: "0 0 0 30 2 MON",
    timezone: "UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-02-02T00:00Z", "2026-02-09T00:00Z"),
  },
  {
    name: "steps seconds every 20",
    expression: "*/20 * * * * *",
    timezone: "UTC",
    after: "2026-01-01T10:00:05Z",
    expected: iso("2026-01-01T10:00:20Z", "2026-01-01T10:00:40Z", "2026-01-01T10:01:00Z"),
  },
  {
    name: "steps seconds through a range and restarts next minute",
    expression: "10-40/10 * * * * *",
    timezone: "UTC",
    after: "2026-01-01T10:00:00Z",
    expected: iso(
      "2026-01-01T10:00:10Z",
      "2026-01-01T10:00:20Z",
      "2026-01-01T10:00:30Z",
      "2026-01-01T10:00:40Z",
      "2026-01-01T10:01:10Z",
    ),
  },
  {
    name: "steps seconds from a start value with 0/30",
    expression: "0/30 * * * * *",
    timezone: "UTC",
    after: "2026-01-01T00:00:00Z",
    expected: iso("2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"),
  },
  {
    name: "fires every second",
    expression: "* * * * * *",
    timezone: "UTC",
    after: "2026-01-01T00:00:00.500Z",
    expected: iso("2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"),
  },
  {
    name: "treats Etc/UTC like UTC",
    expression: "0 0 12 * * *",
    timezone: "Etc/UTC",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-01T12:00Z", "2026-01-02T12:00Z"),
  },
];

const zoneCases: FireCase[] = [
  {
    name: "fires at a fixed time in a +05:30 zone",
    expression: "0 0 9 * * *",
    timezone: "Asia/Kolkata",
    after: "2026-03-08T00:00Z",
    expected: iso("2026-03-08T03:30Z", "2026-03-09T03:30Z"),
  },
  {
    name: "fires on local half hours in a +05:30 zone on another zone's fall-back day",
    expression: "0 */30 * * * *",
    timezone: "Asia/Kolkata",
    after: "2026-11-01T00:10Z",
    expected: iso("2026-11-01T00:30Z", "2026-11-01T01:00Z", "2026-11-01T01:30Z"),
  },
  {
    name: "fires at local New Year in a +05:30 zone",
    expression: "@yearly",
    timezone: "Asia/Kolkata",
    after: "2026-06-01T00:00Z",
    expected: iso("2026-12-31T18:30Z"),
  },
  {
    name: "finds the last Friday by the local calendar",
    expression: "0 0 0 * * 5L",
    timezone: "Asia/Kolkata",
    after: "2026-01-01T00:00Z",
    expected: iso("2026-01-29T18:30Z", "2026-02-26T18:30Z"),
  },
  {
    name: "fires on the first of the month at local midnight across a DST change",
    expression: "0 0 0 1 * *",
    timezone: "America/New_York",
    after: "2026-01-01T00:00Z",
    expected: iso(
      "2026-01-01T05:00Z",
      "2026-02-01T05:00Z",
      "2026-03-01T05:00Z",
      "2026-04-01T04:00Z",
    ),
  },
];

const newYorkCases: FireCase[] = [
  {
    name: "fires a fixed time skipped by spring-forward once, at the end of the gap",
    expression: "0 30 2 * * *",
    timezone: "America/New_York",
    after: "2026-03-07T12:00Z",
    expected: iso("2026-03-08T07:00Z", "2026-03-09T06:30Z", "2026-03-10T06:30Z"),
  },
  {
    name: "collapses several fixed times inside the gap into one run",
    expression: "0 0,15,30,45 2 * * *",
    timezone: "America/New_York",
    after: "2026-03-08T05:00Z",
    expected: iso("2026-03-08T07:00Z", "2026-03-09T06:00Z", "2026-03-09T06:15Z"),
  },
  {
    name: "runs a skipped time and the time at the gap's end once together",
    expression: "0 0 2,3 * * *",
    timezone: "America/New_York",
    after: "2026-03-08T05:00Z",
    expected: iso("2026-03-08T07:00Z", "2026-03-09T06:00Z", "2026-03-09T07:00Z"),
  },
  {
    name: "keeps local midnight across spring-forward",
    expression: "0 0 0 * * *",
    timezone: "America/New_York",
    after: "2026-03-07T04:00Z",
    expected: iso("2026-03-07T05:00Z", "2026-03-08T05:00Z", "2026-03-09T04:00Z"),
  },
  {
    name: "skips interval runs whose wall time does not exist",
    expression: "0 */30 * * * *",
    timezone: "America/New_York",
    after: "2026-03-08T06:00Z",
    expected: iso("2026-03-08T06:30Z", "2026-03-08T07:00Z", "2026-03-08T07:30Z"),
  },
  {
    name: "skips a whole missing hour of an every-minute job",
    expression: "0 * 2 * * *",
    timezone: "America/New_York",
    after: "2026-03-08T05:00Z",
    expected: iso("2026-03-09T06:00Z", "2026-03-09T06:01Z"),
  },
  {
    name: "runs hourly through spring-forward in real time",
    expression: "@hourly",
    timezone: "America/New_York",
    after: "2026-03-08T05:30Z",
    expected: iso("2026-03-08T06:00Z", "2026-03-08T07:00Z", "2026-03-08T08:00Z"),
  },
  {
    name: "runs a fixed time in the repeated hour once, in the first pass",
    expression: "0 30 1 * * *",
    timezone: "America/New_York",
    after: "2026-10-31T12:00Z",
    expected: iso("2026-11-01T05:30Z", "2026-11-02T06:30Z", "2026-11-03T06:30Z"),
  },
  {
    name: "does not run a fixed time again in the second pass of the repeated hour",
    expression: "0 30 1 * * *",
    timezone: "America/New_York",
    after: "2026-11-01T05:30Z",
    expected: iso("2026-11-02T06:30Z"),
  },
  {
    name: "runs a fixed time just after the repeated hour once",
    expression: "0 0 2 * * *",
    timezone: "America/New_York",
    after: "2026-10-31T12:00Z",
    expected: iso("2026-11-01T07:00Z", "2026-11-02T07:00Z"),
  },
  {
    name: "runs every minute of hour 1 through both passes of the repeated hour",
    expression: "0 * 1 * * *",
    timezone: "America/New_York",
    after: "2026-11-01T05:58Z",
    expected: iso("2026-11-01T05:59Z", "2026-11-01T06:00Z", "2026-11-01T06:01Z"),
  },
  {
    name: "starts the repeated hour's second pass after the first pass ends",
    expression: "0 * 1 * * *",
    timezone: "America/New_York",
    after: "2026-11-01T04:59Z",
    expected: iso("2026-11-01T05:00Z", "2026-11-01T05:01Z", "2026-11-01T05:02Z"),
  },
  {
    name: "runs half-hourly through both passes of the repeated hour",
    expression: "0 0,30 * * * *",
    timezone: "America/New_York",
    after: "2026-11-01T04:00Z",
    expected: iso(
      "2026-11-01T04:30Z",
      "2026-11-01T05:00Z",
      "2026-11-01T05:30Z",
      "2026-11-01T06:00Z",
      "2026-11-01T06:30Z",
      "2026-11-01T07:00Z",
    ),
  },
  {
    name: "goes back to the repeated hour's second pass when searching from its first pass",
    expression: "0 0,30 * * * *",
    timezone: "America/New_York",
    after: "2026-11-01T05:30Z",
    expected: iso("2026-11-01T06:00Z", "2026-11-01T06:30Z", "2026-11-01T07:00Z"),
  },
  {
    name: "does not repeat a fixed time already run in the first pass of the repeated hour",
    expression: "0 0 1 * * *",
    timezone: "America/New_York",
    after: "2026-11-01T05:30Z",
    expected: iso("2026-11-02T06:00Z"),
  },
  {
    name: "runs hourly through fall-back in real time",
    expression: "@hourly",
    timezone: "America/New_York",
    after: "2026-11-01T04:30Z",
    expected: iso("2026-11-01T05:00Z", "2026-11-01T06:00Z", "2026-11-01T07:00Z"),
  },
];

const londonCases: FireCase[] = [
  {
    name: "fires a London time skipped by spring-forward at the end of the gap",
    expression: "0 30 1 * * *",
    timezone: "Europe/London",
    after: "2026-03-28T12:00Z",
    expected: iso("2026-03-29T01:00Z", "2026-03-30T00:30Z", "2026-03-31T00:30Z"),
  },
  {
    name: "skips London interval runs in the missing hour",
    expression: "0 */20 1 * * *",
    timezone: "Europe/London",
    after: "2026-03-28T12:00Z",
    expected: iso("2026-03-30T00:00Z", "2026-03-30T00:20Z", "2026-03-30T00:40Z"),
  },
  {
    name: "runs London quarter hours across spring-forward",
    expression: "0 */15 * * * *",
    timezone: "Europe/London",
    after: "2026-03-29T00:40Z",
    expected: iso("2026-03-29T00:45Z", "2026-03-29T01:00Z", "2026-03-29T01:15Z"),
  },
  {
    name: "keeps 09:00 on London weekdays as the offset changes",
    expression: "0 0 9 * * 1-5",
    timezone: "Europe/London",
    after: "2026-03-27T00:00Z",
    expected: iso("2026-03-27T09:00Z", "2026-03-30T08:00Z", "2026-03-31T08:00Z"),
  },
  {
    name: "runs a London fixed time in the repeated hour once, in BST",
    expression: "0 15 1 * * *",
    timezone: "Europe/London",
    after: "2026-10-24T12:00Z",
    expected: iso("2026-10-25T00:15Z", "2026-10-26T01:15Z"),
  },
  {
    name: "runs a London interval job through both passes of the repeated hour",
    expression: "0 */30 1 * * *",
    timezone: "Europe/London",
    after: "2026-10-24T12:00Z",
    expected: iso(
      "2026-10-25T00:00Z",
      "2026-10-25T00:30Z",
      "2026-10-25T01:00Z",
      "2026-10-25T01:30Z",
      "2026-10-26T01:00Z",
    ),
  },
];

const lordHoweCases: FireCase[] = [
  {
    name: "fires a time in Lord Howe's 30-minute gap at its end",
    expression: "0 15 2 * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-10-03T00:00Z",
    expected: iso("2026-10-03T15:30Z", "2026-10-04T15:15Z", "2026-10-05T15:15Z"),
  },
  {
    name: "fires the start of Lord Howe's gap at its end",
    expression: "0 0 2 * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-10-03T00:00Z",
    expected: iso("2026-10-03T15:30Z", "2026-10-04T15:00Z"),
  },
  {
    name: "fires a Lord Howe time just after the gap normally",
    expression: "0 45 2 * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-10-03T00:00Z",
    expected: iso("2026-10-03T15:45Z", "2026-10-04T15:45Z"),
  },
  {
    name: "skips only the missing half hour of Lord Howe interval runs",
    expression: "0 */15 * * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-10-03T15:00Z",
    expected: iso("2026-10-03T15:15Z", "2026-10-03T15:30Z", "2026-10-03T15:45Z"),
  },
  {
    name: "runs a Lord Howe fixed time in the repeated half hour once",
    expression: "0 45 1 * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-04-04T00:00Z",
    expected: iso("2026-04-04T14:45Z", "2026-04-05T15:15Z"),
  },
  {
    name: "runs a Lord Howe fixed time before the repeated half hour once",
    expression: "0 15 1 * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-04-04T00:00Z",
    expected: iso("2026-04-04T14:15Z", "2026-04-05T14:45Z"),
  },
  {
    name: "runs Lord Howe quarter hours through both passes of the repeated half hour",
    expression: "0 */15 * * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-04-04T14:20Z",
    expected: iso(
      "2026-04-04T14:30Z",
      "2026-04-04T14:45Z",
      "2026-04-04T15:00Z",
      "2026-04-04T15:15Z",
      "2026-04-04T15:30Z",
    ),
  },
  {
    name: "runs a Lord Howe interval job in hour 1 through both passes",
    expression: "0 */30 1 * * *",
    timezone: "Australia/Lord_Howe",
    after: "2026-04-04T12:00Z",
    expected: iso(
      "2026-04-04T14:00Z",
      "2026-04-04T14:30Z",
      "2026-04-04T15:00Z",
      "2026-04-05T14:30Z",
    ),
  },
];

describe("nextFireTimes", () => {
  it.each(syntaxCases)("$name ($expression)", (row) => {
    expect(fireTimes(row)).toEqual(row.expected);
  });

  it.each(zoneCases)("$name ($expression, $timezone)", (row) => {
    expect(fireTimes(row)).toEqual(row.expected);
  });

  it.each(newYorkCases)("$name ($expression, New York)", (row) => {
    expect(fireTimes(row)).toEqual(row.expected);
  });

  it.each(londonCases)("$name ($expression)", (row) => {
    expect(fireTimes(row)).toEqual(row.expected);
  });

  it.each(lordHoweCases)("$name ($expression)", (row) => {
    expect(fireTimes(row)).toEqual(row.expected);
  });

  it.each([
    {
      name: "excludes a fire time equal to after",
      after: "2026-01-01T02:00:00.000Z",
      next: "2026-01-02T02:00:00.000Z",
    },
    {
      name: "includes a fire time 1 ms after after",
      after: "2026-01-01T01:59:59.999Z",
      next: "2026-01-01T02:00:00.000Z",
    },
    {
      name: "excludes a fire time 1 ms before after",
      after: "2026-01-01T02:00:00.001Z",
      next: "2026-01-02T02:00:00.000Z",
    },
  ])("$name", ({ after, next }) => {
    const schedule = parseCron("0 0 2 * * *", "UTC");
    expect(nextFireTimes(schedule, new Date(after), 1)).toEqual([new Date(next)]);
  });

  it.each([
    { name: "returns nothing for a count of 0", count: 0, length: 0 },
    { name: "returns exactly count fire times", count: 5, length: 5 },
    { name: "returns many fire times in ascending order", count: 500, length: 500 },
  ])("$name", ({ count, length }) => {
    const schedule = parseCron("0 */5 * * * *", "America/New_York");
    const times = nextFireTimes(schedule, new Date("2026-11-01T04:00Z"), count);
    expect(times).toHaveLength(length);
    const instants = times.map((at) => at.getTime());
    expect(instants).toEqual([...instants].sort((a, b) => a - b));
    expect(new Set(instants).size).toBe(length);
  });
});

describe("nextFireTime", () => {
  it("returns the first fire time after the instant", () => {
    const schedule = parseCron("0 0 9 * * 1-5", "Europe/London");
    expect(nextFireTime(schedule, new Date("2026-03-27T09:00Z"))).toEqual(
      new Date("2026-03-30T08:00Z"),
    );
  });

  it("accepts a schedule rebuilt from stored fields", () => {
    const stored = { expression: "0 30 2 * * *", timezone: "America/New_York" };
    expect(nextFireTime(stored, new Date("2026-03-08T06:00Z"))).toEqual(
      new Date("2026-03-08T07:00Z"),
    );
  });
});

describe("parseCron", () => {
  it("does not answer a zone with a space from a schedule it accepted before", () => {
    parseCron("0 0 * * * *", "UTC");
    // Same characters once zone and expression are joined with a space.
    expect(() => parseCron("0 * * * *", "UTC 0")).toThrow(/timezone "UTC 0"/);
  });

  it("returns the expression and zone as given", () => {
    expect(parseCron("0 0 9 * * MON-FRI", "Asia/Kolkata")).toEqual({
      expression: "0 0 9 * * MON-FRI",
      timezone: "Asia/Kolkata",
    });
  });

  it.each([
    { name: "refuses an empty expression", expression: "" },
    { name: "refuses a blank expression", expression: "   " },
    { name: "refuses 4 fields", expression: "* * * *" },
    { name: "refuses 7 fields", expression: "0 0 0 * * * 2026" },
    { name: "refuses over 100 characters", expression: `0 0 0 * * *${" ".repeat(90)}*` },
    { name: "refuses W in day-of-month", expression: "0 0 0 15W * *" },
    { name: "refuses LW in day-of-month", expression: "0 0 0 LW * *" },
    { name: "refuses a day that no listed month has (30 February)", expression: "0 0 0 30 2 *" },
    { name: "refuses 31 April", expression: "0 0 0 31 4 *" },
    { name: "refuses the 31st of 30-day months only", expression: "0 0 0 31 4,6,9,11 *" },
    { name: "refuses second 60", expression: "60 * * * * *" },
    { name: "refuses minute 60", expression: "0 60 * * * *" },
    { name: "refuses hour 24", expression: "0 0 24 * * *" },
    { name: "refuses day-of-month 0", expression: "0 0 0 0 * *" },
    { name: "refuses day-of-month 32", expression: "0 0 0 32 * *" },
    { name: "refuses month 13", expression: "0 0 0 1 13 *" },
    { name: "refuses day-of-week 8", expression: "0 0 0 * * 8" },
    { name: "refuses a sixth weekday of the month", expression: "0 0 0 * * 1#6" },
    { name: "refuses a backwards range", expression: "0 5-3 * * * *" },
    { name: "refuses a step of 0", expression: "*/0 * * * * *" },
    { name: "refuses hashed H values", expression: "H * * * * *" },
    { name: "refuses an unknown name", expression: "0 0 0 1 FOO *" },
    { name: "refuses an unknown macro", expression: "@reboot" },
    { name: "refuses garbage", expression: "not a cron expression" },
  ])("$name ($expression)", ({ expression }) => {
    const error = thrown(() => parseCron(expression, "UTC"));
    expect(error.code).toBe("INVALID_CRON_EXPRESSION");
    expect(error.message).toContain(`cronExpression "${expression}"`);
  });

  it("refuses an interval job whose hour always falls in a DST gap", () => {
    // 02:xx on New York's second Sunday in March never exists.
    const error = thrown(() => parseCron("* * 2 * 3 0#2", "America/New_York"));
    expect(error.code).toBe("INVALID_CRON_EXPRESSION");
    expect(error.message).toBe('cronExpression "* * 2 * 3 0#2" never fires');
  });

  it("accepts a fixed time that always falls in a DST gap, run at the gap's end", () => {
    const schedule = parseCron("0 30 2 * 3 0#2", "America/New_York");
    expect(nextFireTime(schedule, new Date("2026-01-01T00:00Z"))).toEqual(
      new Date("2026-03-08T07:00Z"),
    );
  });

  it("reports the expression before the zone when both are wrong", () => {
    expect(thrown(() => parseCron("* * * *", "local")).code).toBe("INVALID_CRON_EXPRESSION");
  });
});

describe("assertTimezone", () => {
  it.each(["utc+8", "local", "Local", "Mars/Phobos", "", "+08:00", "America/New York"])(
    "refuses %j as a zone",
    (timezone) => {
      expect(thrown(() => assertTimezone(timezone)).code).toBe("INVALID_TIMEZONE");
      expect(thrown(() => parseCron("0 0 0 * * *", timezone)).code).toBe("INVALID_TIMEZONE");
    },
  );

  it.each([
    "UTC",
    "Etc/UTC",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "America/Argentina/Buenos_Aires",
    "Etc/GMT+8",
  ])("accepts %j as a zone", (timezone) => {
    expect(() => assertTimezone(timezone)).not.toThrow();
  });
});
