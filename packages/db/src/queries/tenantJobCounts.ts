import { eq } from "drizzle-orm";
import type { Db } from "../client.js";
import { tenantJobCounts } from "../schema.js";

/**
 * How many jobs the tenant has, as its counter row says (kept by triggers on
 * scheduled_jobs, migrations/0003): one row read, however many jobs. Inside a
 * transaction that has just added the tenant's jobs it includes them, and the row stays
 * locked until that transaction ends, so concurrent creates of one tenant each see the
 * previous one's count.
 */
export async function countTenantJobs(db: Db, tenantId: string): Promise<number> {
  const [row] = await db
    .select({ n: tenantJobCounts.jobCount })
    .from(tenantJobCounts)
    .where(eq(tenantJobCounts.tenantId, tenantId));
  return row?.n ?? 0;
}
