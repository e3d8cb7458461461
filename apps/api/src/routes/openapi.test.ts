import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect } from "vitest";
import { apiTest as it } from "../testApp.js";

/** Every `METHOD /path` row of docs/API.md's endpoint tables, as OpenAPI paths. */
function documentedRoutes(): string[] {
  const apiMd = readFileSync(
    fileURLToPath(new URL("../../../../docs/API.md", import.meta.url)),
    "utf8",
  );
  const routes = new Set<string>();
  // Rows such as `POST /internal/jobs/{jobId}/pause, /resume` name a sibling path.
  for (const [, method, cell] of apiMd.matchAll(/^\| (GET|POST|PUT|DELETE) (\/[^|]+?) \|/gm)) {
    const [first, ...siblings] = cell!.split(", ");
    const base = first!.slice(0, first!.lastIndexOf("/"));
    for (const path of [first!, ...siblings.map((s) => base + s)]) {
      const full =
        path.startsWith("/internal") || path === "/health" ? path : `/api/v1/scheduler${path}`;
      routes.add(`${method!.toLowerCase()} ${full}`);
    }
  }
  return [...routes];
}

describe("GET /docs/json", () => {
  it("is an OpenAPI 3 document listing every route of the API contract", async ({ app }) => {
    const res = await app.inject({ url: "/docs/json" });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    const served = new Set(
      Object.entries(doc.paths).flatMap(([path, methods]) =>
        Object.keys(methods).map((m) => `${m} ${path.replace(/\{(\w+)\}/g, "{$1}")}`),
      ),
    );
    const normalise = (route: string) => route.replace(/\{\w+\}/g, "{}");
    const servedNormalised = new Set([...served].map(normalise));
    expect(documentedRoutes().length).toBeGreaterThan(25);
    const missing = documentedRoutes().filter((r) => !servedNormalised.has(normalise(r)));
    expect(missing).toEqual([]);
  });

  it("serves a browsable page at /docs", async ({ app }) => {
    const res = await app.inject({ url: "/docs/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/text\/html/);
  });
});
