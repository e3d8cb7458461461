import { readFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const buildConfig = fileURLToPath(new URL("../tsconfig.build.json", import.meta.url));

/** The source files `pnpm build` compiles into dist/, relative to the package. */
function shippedFiles(): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    buildConfig,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error("tsconfig.build.json could not be read");
  return parsed.fileNames.map((file) => relative(dirname(buildConfig), file));
}

describe("what the api's build ships", () => {
  it("holds no test and nothing that imports the test kit", () => {
    const files = shippedFiles();
    expect(files).toContain("src/main.ts");
    const testOnly = files.filter(
      (file) =>
        file.endsWith(".test.ts") ||
        /from "@scheduler\/testkit"/.test(
          readFileSync(fileURLToPath(new URL(`../${file}`, import.meta.url)), "utf8"),
        ),
    );
    expect(testOnly).toEqual([]);
  });
});
