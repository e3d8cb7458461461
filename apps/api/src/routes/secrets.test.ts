import { openConfig, parseKeyRing } from "@scheduler/core";
import { TEST_CONFIG_ENCRYPTION_KEY } from "@scheduler/testkit";
import { describe, expect } from "vitest";
import { API, auth, createJob, apiTest as it, newTenant } from "../testApp.js";

const SECRET = "Bearer s3cr3t-token-value-0123456789";

describe("secret config values", () => {
  it("are stored encrypted, answered masked, and kept by '******' on update", async ({
    app,
    database,
  }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, {
      config: {
        url: "https://example.com/hook",
        method: "POST",
        headers: { Authorization: SECRET, "X-Api-Key": "k-123456", Accept: "text/plain" },
      },
    });
    expect(job.config).toEqual({
      url: "https://example.com/hook",
      method: "POST",
      headers: { Authorization: "******", "X-Api-Key": "******", Accept: "text/plain" },
    });

    const stored = async () =>
      (await database.pool.query("SELECT config FROM scheduled_jobs WHERE id = $1", [job.id]))
        .rows[0].config;
    const raw = JSON.stringify(await stored());
    expect(raw).not.toContain("s3cr3t");
    expect(raw).not.toContain("k-123456");
    expect(raw).toContain("text/plain");
    const ring = parseKeyRing(TEST_CONFIG_ENCRYPTION_KEY);
    expect(openConfig("http", await stored(), ring).headers).toMatchObject({
      Authorization: SECRET,
      "X-Api-Key": "k-123456",
    });

    const read = await app.inject({ url: `${API}/jobs/${job.id}`, headers: auth(tenant.token()) });
    expect(read.body).not.toContain("s3cr3t");
    expect(read.json().config.headers.Authorization).toBe("******");

    // An update that does not touch the config keeps the secret…
    await app.inject({
      method: "PUT",
      url: `${API}/jobs/${job.id}`,
      headers: auth(tenant.token()),
      payload: { priority: 5 },
    });
    expect(openConfig("http", await stored(), ring).headers?.Authorization).toBe(SECRET);
    // …and so does sending the masked config back with one value changed.
    const masked = read.json().config;
    const update = await app.inject({
      method: "PUT",
      url: `${API}/jobs/${job.id}`,
      headers: auth(tenant.token()),
      payload: {
        config: { ...masked, headers: { ...masked.headers, "X-Api-Key": "k-new-654321" } },
      },
    });
    expect(update.statusCode).toBe(200);
    expect(update.body).not.toContain("k-new");
    expect(openConfig("http", await stored(), ring).headers).toMatchObject({
      Authorization: SECRET,
      "X-Api-Key": "k-new-654321",
    });

    const list = await app.inject({ url: `${API}/jobs`, headers: auth(tenant.token()) });
    expect(list.body).not.toContain("s3cr3t");
  });

  it("refuses '******' for a secret that was never stored", async ({ app }) => {
    const tenant = newTenant();
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs`,
      headers: auth(tenant.token()),
      payload: {
        name: "masked",
        cronExpression: "0 * * * * *",
        jobType: "http",
        config: { url: "https://example.com", method: "GET", headers: { Authorization: "******" } },
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("INVALID_JOB_CONFIG");
  });
});

describe("per-tenant rate limit", () => {
  it("answers 429 RATE_LIMITED with Retry-After once a tenant passes its limit, and not another tenant", async ({
    app,
    testRedis,
  }) => {
    const tenant = newTenant();
    // The test app allows TENANT_RATE_LIMIT_PER_MINUTE requests; spend them directly.
    const window = Math.floor(Date.now() / 60_000);
    await testRedis.redis.set(
      `${testRedis.prefix}:ratelimit:${tenant.tenantId}:${window}`,
      100_000,
      "PX",
      120_000,
    );
    const res = await app.inject({ url: `${API}/jobs`, headers: auth(tenant.token()) });
    if (Math.floor(Date.now() / 60_000) !== window) return; // the minute turned over mid-test
    expect(res.statusCode).toBe(429);
    expect(res.json().error.code).toBe("RATE_LIMITED");
    expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
    const other = await app.inject({ url: `${API}/jobs`, headers: auth(newTenant().token()) });
    expect(other.statusCode).toBe(200);
  });
});
