import { eq } from "drizzle-orm";
import type { Db } from "../client.js";
import { tenantJobCounts } from "../schema.js";

/**
 * How many jobs the tenant has, as its counter row says (kept by triggers on
 * scheduled_jobs, migrations/0003, which also enforce the quota): one row read, however
 * many jobs.
 */
export async function countTenantJobs(db: Db, tenantId: string): Promise<number> {
  const [row] = await db
    .select({ n: tenantJobCounts.jobCount })
    .from(tenantJobCounts)
    .where(eq(tenantJobCounts.tenantId, tenantId));
  return row?.n ?? 0;
}
