import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/**
 * The repository stands alone: a person who clones it finds every document that its
 * code and docs name. Documents kept outside it (a design, a reliability or a
 * requirements paper, a sibling `shared/` folder) are described in docs/ instead.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

function trackedFiles(): string[] {
  const out = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" });
  return out.split("\0").filter((f) => f !== "" && existsSync(join(root, f)));
}

const TEXT = /\.(ts|js|mjs|cjs|md|yml|yaml|json|sh|lua|sql|toml)$|(^|\/)(Dockerfile|run)$/;
/** Names of documents the repository does not hold, and the usual ways of citing them. */
const OUTSIDE = [
  /\.\.\/shared/,
  /(^|[^\w/.-])(DESIGN|RELIABILITY|BRIEF|STYLE)\.md/,
  /\bthe brief\b/i,
];
/** This file names the patterns it forbids. */
const SELF = "tests/e2e/src/selfContainedDocs.test.ts";

describe("the repository's documents", () => {
  it("name no document outside the repository", () => {
    const offenders: string[] = [];
    for (const file of trackedFiles()) {
      if (file === SELF || !TEXT.test(file) || file.endsWith("pnpm-lock.yaml")) continue;
      readFileSync(join(root, file), "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (OUTSIDE.some((name) => name.test(line)))
            offenders.push(`${file}:${i + 1}: ${line.trim().slice(0, 120)}`);
        });
    }
    expect(offenders).toEqual([]);
  });

  it("link only to files that exist", () => {
    const broken: string[] = [];
    const markdown = trackedFiles().filter((f) => f.endsWith(".md") && !f.includes("node_modules"));
    for (const file of markdown) {
      const text = readFileSync(join(root, file), "utf8");
      for (const [, target] of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        if (target === undefined || /^[a-z]+:/i.test(target)) continue;
        if (!existsSync(resolve(root, dirname(file), target))) broken.push(`${file} → ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
