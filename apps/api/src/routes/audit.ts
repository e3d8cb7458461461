import { listAuditEvents } from "@scheduler/db";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { type Actor, AuditAction } from "../audit.js";
import type { ApiContext } from "../context.js";
import { actorOf, principalOf, requirePermission } from "../plugins/auth.js";
import { decodeCursor, toAuditEventResponse, toPage } from "../serialize.js";
import { ExecutionListQuery } from "./schemas.js";

const { limit, cursor, from, to } = ExecutionListQuery.shape;

export const AuditListQuery = z.strictObject({
  action: AuditAction.optional(),
  targetId: z.uuid().optional(),
  from,
  to,
  limit,
  cursor,
});

/** The caller of a tenant route, for the audit trail. */
export function userActor(request: FastifyRequest): Actor {
  return { ...actorOf(request), type: "user", requestId: request.id };
}

/** An internal caller acting for a tenant and, when it names one, a user. */
export function serviceActor(
  request: FastifyRequest,
  tenantId: string,
  userId: string | null,
): Actor {
  return { tenantId, userId, type: "service", requestId: request.id };
}

/** The tenant's audit trail, newest first (permission jobs:read). */
export async function auditRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    "/audit",
    { schema: { querystring: AuditListQuery }, onRequest: requirePermission("jobs:read") },
    async (request) => {
      const { limit, cursor, from, to, ...filter } = request.query;
      const position = decodeCursor(cursor);
      const rows = await listAuditEvents(
        ctx.db,
        principalOf(request).tenantId,
        { ...filter, from: from ? new Date(from) : undefined, to: to ? new Date(to) : undefined },
        { limit: limit + 1, cursor: position },
      );
      return toPage(rows, limit, toAuditEventResponse, (row) => ({ at: row.at, id: row.id }));
    },
  );
}
