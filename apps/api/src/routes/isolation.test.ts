import { describe, expect } from "vitest";
import { API, auth, createJob, insertExecution, apiTest as it, newTenant } from "../testApp.js";

describe("tenant isolation", () => {
  it("answers tenant B with 404 on every route that takes tenant A's ids, and changes nothing", async ({
    app,
    database,
  }) => {
    const a = newTenant();
    const b = newTenant();
    const job = await createJob(app, a);
    const failed = await insertExecution(
      database.pool,
      { id: job.id, tenantId: a.tenantId },
      "failed",
    );
    const running = await insertExecution(
      database.pool,
      { id: job.id, tenantId: a.tenantId },
      "running",
    );
    const before = await snapshot(database.pool);

    const jobRoutes: [string, string, unknown?][] = [
      ["GET", `/jobs/${job.id}`],
      ["PUT", `/jobs/${job.id}`, { name: "stolen" }],
      ["DELETE", `/jobs/${job.id}`],
      ["POST", `/jobs/${job.id}/validate`],
      ["POST", `/jobs/${job.id}/trigger`],
      ["POST", `/jobs/${job.id}/pause`],
      ["POST", `/jobs/${job.id}/resume`],
      ["POST", `/jobs/${job.id}/stop`],
      ["GET", `/jobs/${job.id}/executions`],
    ];
    const executionRoutes: [string, string][] = [
      ["GET", `/executions/${failed}`],
      ["POST", `/executions/${running}/cancel`],
      ["POST", `/executions/${failed}/retry`],
    ];
    const admin = b.token(["scheduler:admin"]);
    for (const [method, path, payload] of jobRoutes) {
      const res = await app.inject({
        method: method as "GET",
        url: `${API}${path}`,
        headers: auth(admin),
        payload: payload as object,
      });
      expect(res.statusCode, `${method} ${path}`).toBe(404);
      expect(res.json().error.code).toBe("JOB_NOT_FOUND");
    }
    for (const [method, path] of executionRoutes) {
      const res = await app.inject({
        method: method as "GET",
        url: `${API}${path}`,
        headers: auth(admin),
      });
      expect(res.statusCode, `${method} ${path}`).toBe(404);
      expect(res.json().error.code).toBe("EXECUTION_NOT_FOUND");
    }

    const lists = [
      `/jobs`,
      `/jobs?name=${job.name}`,
      `/executions`,
      `/executions?jobId=${job.id}`,
      `/executions?status=failed`,
      `/audit`,
      `/audit?targetId=${job.id}`,
    ];
    for (const path of lists) {
      const res = await app.inject({ url: `${API}${path}`, headers: auth(admin) });
      expect(res.json().data, path).toEqual([]);
    }
    const stats = await app.inject({
      url: `${API}/executions/stats?jobId=${job.id}&from=2000-01-01T00:00:00Z`,
      headers: auth(admin),
    });
    expect(stats.json().total).toBe(0);
    const metrics = await app.inject({ url: `${API}/metrics`, headers: auth(admin) });
    expect(metrics.json()).toMatchObject({ totalJobs: 0, totalExecutions: 0 });

    expect(await snapshot(database.pool)).toEqual(before);
  });
});

async function snapshot(pool: { query(sql: string): Promise<{ rows: unknown[] }> }) {
  const jobs = await pool.query(
    "SELECT id, name, status, updated_at, next_execution_at FROM scheduled_jobs ORDER BY id",
  );
  const executions = await pool.query("SELECT id, status FROM job_executions ORDER BY id");
  return { jobs: jobs.rows, executions: executions.rows };
}
