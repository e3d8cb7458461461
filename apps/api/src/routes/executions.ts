import { AppError } from "@scheduler/core";
import { executionStats, findExecution, listExecutions } from "@scheduler/db";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { z } from "zod";
import type { ApiContext } from "../context.js";
import { principalOf, requirePermission } from "../plugins/auth.js";
import { decodeCursor, toExecutionResponse, toPage } from "../serialize.js";
import { userActor } from "./audit.js";
import { ExecutionListQuery, IdParams, StatsQuery } from "./schemas.js";

/** One page of a tenant's executions, newest first (by scheduledAt, then id). */
export async function executionPage(
  ctx: ApiContext,
  tenantId: string,
  query: z.infer<typeof ExecutionListQuery>,
) {
  const { limit, cursor, from, to, ...filter } = query;
  const position = decodeCursor(cursor);
  const rows = await listExecutions(
    ctx.db,
    tenantId,
    { ...filter, from: from ? new Date(from) : undefined, to: to ? new Date(to) : undefined },
    { limit: limit + 1, cursor: position && { scheduledAt: position.at, id: position.id } },
  );
  return toPage(rows, limit, toExecutionResponse, (row) => ({ at: row.scheduledAt, id: row.id }));
}

const DAY_MS = 24 * 3600 * 1000;
const ratio = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

/** Execution history, stats, cancel and retry. */
export async function executionRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const read = requirePermission("jobs:read");
  const execute = requirePermission("jobs:execute");

  r.get(
    "/executions",
    { schema: { querystring: ExecutionListQuery }, onRequest: read },
    async (request) => executionPage(ctx, principalOf(request).tenantId, request.query),
  );

  // Registered before /executions/:id so 'stats' is not taken for an id.
  r.get(
    "/executions/stats",
    { schema: { querystring: StatsQuery }, onRequest: read },
    async (request) => {
      const to = request.query.to ? new Date(request.query.to) : new Date();
      const from = request.query.from
        ? new Date(request.query.from)
        : new Date(to.getTime() - DAY_MS);
      if (from > to)
        throw new AppError("VALIDATION_ERROR", "from must not be after to", {
          issues: [{ field: "querystring.from", message: "is after to" }],
        });
      const s = await executionStats(ctx.db, principalOf(request).tenantId, {
        from,
        to,
        jobId: request.query.jobId,
      });
      const finished = s.completed + s.failed;
      return {
        total: s.total,
        pending: s.pending,
        running: s.running,
        completed: s.completed,
        failed: s.failed,
        cancelled: s.cancelled,
        skipped: s.skipped,
        successRate: ratio(s.completed, finished),
        averageDurationMs: s.averageDurationMs,
        p95DurationMs: s.p95DurationMs,
        errorRate: ratio(s.failed, finished),
        timeoutRate: ratio(s.timeouts, finished),
        retryRate: ratio(s.retried, s.total),
        from: from.toISOString(),
        to: to.toISOString(),
      };
    },
  );

  r.get("/executions/:id", { schema: { params: IdParams }, onRequest: read }, async (request) => {
    const row = await findExecution(ctx.db, principalOf(request).tenantId, request.params.id);
    if (!row) throw new AppError("EXECUTION_NOT_FOUND", `no execution ${request.params.id}`);
    return toExecutionResponse(row);
  });

  r.post(
    "/executions/:id/cancel",
    { schema: { params: IdParams }, onRequest: execute },
    async (request, reply) => {
      const { execution, wasRunning } = await ctx.executions.cancel(
        userActor(request),
        request.params.id,
      );
      request.log.info(
        { jobId: execution.jobId, executionId: execution.executionId, wasRunning },
        "execution cancelled",
      );
      return reply.status(wasRunning ? 202 : 200).send(toExecutionResponse(execution));
    },
  );

  r.post(
    "/executions/:id/retry",
    { schema: { params: IdParams }, onRequest: execute },
    async (request, reply) => {
      const execution = await ctx.executions.retry(userActor(request), request.params.id);
      request.log.info(
        { jobId: execution.jobId, executionId: execution.executionId },
        "execution retried",
      );
      return reply.status(202).send(toExecutionResponse(execution));
    },
  );
}
