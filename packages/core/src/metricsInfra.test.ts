import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.js";

const infra = (path: string) =>
  readFileSync(fileURLToPath(new URL(`../../../infra/${path}`, import.meta.url)), "utf8");

/** Every series name the three processes expose, histogram series included. */
async function exportedNames(): Promise<Set<string>> {
  const names = new Set<string>(["up"]);
  for (const process of ["api", "scheduler", "worker"] as const) {
    for (const metric of await createMetrics({ process }).registry.getMetricsAsJSON()) {
      names.add(metric.name);
      if (String(metric.type) === "histogram")
        for (const suffix of ["_bucket", "_sum", "_count"]) names.add(metric.name + suffix);
    }
  }
  return names;
}

/** Metric names a PromQL text uses (ours and the default process metrics). */
function referencedNames(text: string): string[] {
  return [...new Set(text.match(/\b(?:scheduler|process|nodejs)_[a-z_]+\b|\bup\b/g) ?? [])];
}

describe("Prometheus rules and the Grafana dashboard", () => {
  it("reference only metrics the service exports", async () => {
    const exported = await exportedNames();
    const dashboard = JSON.parse(infra("grafana/dashboards/scheduler.json")) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThanOrEqual(6);
    const used = [
      ...referencedNames(exprs.join("\n")),
      ...referencedNames(infra("prometheus/alerts.yml")),
    ];
    expect(used.filter((name) => !exported.has(name))).toEqual([]);
  });

  it("hold the brief's four alerts", () => {
    const rules = infra("prometheus/alerts.yml");
    for (const alert of [
      "SchedulerHighErrorRate",
      "SchedulerQueueBacklog",
      "SchedulerHighMemoryUsage",
      "SchedulerLockTimeouts",
    ]) {
      expect(rules).toContain(`alert: ${alert}`);
    }
  });
});
