import { describe, expect, it } from "vitest";
import { storableJson, storableText } from "./storable.js";

describe("storableText", () => {
  it.each([
    { name: "NUL", input: "a\u0000b", stored: "a\uFFFDb" },
    { name: "a lone high surrogate", input: "a\uD800b", stored: "a\uFFFDb" },
    { name: "a lone low surrogate", input: "a\uDC00b", stored: "a\uFFFDb" },
    { name: "a high surrogate at the end", input: "ab\uD83D", stored: "ab\uFFFD" },
    { name: "a surrogate pair (kept)", input: "a\uD83D\uDE00b", stored: "a\uD83D\uDE00b" },
    { name: "plain text (kept)", input: "héllo\n\tworld", stored: "héllo\n\tworld" },
  ])("replaces what PostgreSQL refuses: $name", ({ input, stored }) => {
    expect(storableText(input)).toBe(stored);
  });
});

describe("storableJson", () => {
  it("cleans strings at any depth, keys included, and keeps other values", () => {
    const value = { "k\u0000": ["x\u0000", { y: "\uDC00", n: 1, b: true, z: null }] };
    expect(storableJson(value)).toEqual({
      "k\uFFFD": ["x\uFFFD", { y: "\uFFFD", n: 1, b: true, z: null }],
    });
  });
});
