import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { AppError, ERROR_STATUS } from "./errors.js";

/** The `code | HTTP | when` rows of the error table in docs/API.md, the HTTP contract. */
function documentedCodes(): Record<string, number> {
  const apiMd = fileURLToPath(new URL("../../../docs/API.md", import.meta.url));
  const rows = readFileSync(apiMd, "utf8").matchAll(
    /^\| `([A-Z_]+)`(?: \/ `([A-Z_]+)`)? +\| (\d{3}) +\|/gm,
  );
  const codes: Record<string, number> = {};
  for (const [, first, second, status] of rows) {
    codes[first!] = Number(status);
    if (second) codes[second] = Number(status);
  }
  return codes;
}

describe("error catalog", () => {
  it("holds exactly the codes and statuses of API.md", () => {
    expect(ERROR_STATUS).toEqual(documentedCodes());
  });

  it("answers an AppError with the status of its code", () => {
    expect(new AppError("JOB_NOT_FOUND", "No job x").status).toBe(404);
  });
});
