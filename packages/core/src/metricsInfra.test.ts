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

  it("never group by tenant_id, which the processes leave out by default", () => {
    const text = `${infra("grafana/dashboards/scheduler.json")}\n${infra("prometheus/alerts.yml")}`;
    expect(text).not.toContain("tenant_id");
  });

  it("give every alert rule a unit test in which it fires", () => {
    const rules = [...infra("prometheus/alerts.yml").matchAll(/^\s+- alert: (\w+)$/gm)].map(
      ([, name]) => name!,
    );
    // An alert_rule_test entry whose exp_alerts lists at least one alert.
    const fired = new Set(
      [
        ...infra("prometheus/alerts.test.yml").matchAll(
          /alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:/g,
        ),
      ].map(([, name]) => name!),
    );
    expect(rules.length).toBeGreaterThanOrEqual(8);
    expect(rules.filter((rule) => !fired.has(rule))).toEqual([]);
  });

  it("hold the four original alerts: error rate, backlog, memory, lock timeouts", () => {
    const rules = infra("prometheus/alerts.yml");
    for (const alert of [
      "SchedulerHighErrorRate",
      "SchedulerQueueBacklog",
      "SchedulerHighMemoryUsage",
      "SchedulerLockTimeouts",
      "SchedulerNoWorker",
    ]) {
      expect(rules).toContain(`alert: ${alert}`);
    }
  });
});
