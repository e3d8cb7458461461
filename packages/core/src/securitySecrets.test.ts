import { describe, expect, it } from "vitest";
import { HttpJobConfig } from "./job.js";
import { scrubSecrets, secretValuesOf } from "./secrets.js";

/**
 * The forms in which a target echoes a job's secrets back, each scrubbed from what is
 * stored: the e2e sweep (tests/e2e/src/secretsSweep.test.ts) found parsed cookies.
 */
describe("scrubbing what a target echoes", () => {
  const config = HttpJobConfig.parse({
    url: "https://example.com/hook",
    headers: {
      Cookie: "sid=8f14e45fceea167a; csrf=c9f0f895fb98ab91; remember=true",
      "X-Api-Key": "k+y/with=signs&more",
    },
  });
  const secrets = secretValuesOf("http", config);

  it.each([
    [
      "each cookie value, parsed",
      { cookies: { sid: "8f14e45fceea167a", csrf: "c9f0f895fb98ab91" } },
    ],
    ["a cookie value in a sentence", "your session 8f14e45fceea167a expired"],
    ["a percent-encoded key, as in a query string", "/hook?key=k%2By%2Fwith%3Dsigns%26more"],
    [
      "the whole header",
      { youSent: { cookie: "sid=8f14e45fceea167a; csrf=c9f0f895fb98ab91; remember=true" } },
    ],
  ])("hides %s", (_case, echoed) => {
    const stored = JSON.stringify(scrubSecrets(echoed, secrets));
    for (const secret of [
      "8f14e45fceea167a",
      "c9f0f895fb98ab91",
      "k+y/with=signs&more",
      "k%2By%2Fwith%3Dsigns%26more",
    ]) {
      expect(stored).not.toContain(secret);
    }
    expect(stored).toContain("******");
  });

  it("leaves a short cookie value such as true alone: the result stays readable", () => {
    expect(scrubSecrets({ ok: true, text: "true" }, secrets)).toEqual({ ok: true, text: "true" });
  });
});
