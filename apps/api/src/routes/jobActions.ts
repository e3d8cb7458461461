import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { ApiContext } from "../context.js";
import { requirePermission } from "../plugins/auth.js";
import { toExecutionResponse, toJobResponse } from "../serialize.js";
import { userActor } from "./audit.js";
import { IdParams } from "./schemas.js";

/** Trigger, pause, resume and stop (permission jobs:execute). */
export async function jobActionRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const execute = requirePermission("jobs:execute");
  const options = { schema: { params: IdParams }, onRequest: execute };

  r.post("/jobs/:id/trigger", options, async (request, reply) => {
    const execution = await ctx.jobs.trigger(userActor(request), request.params.id);
    request.log.info(
      { jobId: execution.jobId, executionId: execution.executionId },
      "job triggered",
    );
    return reply.status(202).send(toExecutionResponse(execution));
  });

  for (const action of ["pause", "resume", "stop"] as const) {
    r.post(`/jobs/:id/${action}`, options, async (request) => {
      const row = await ctx.jobs[action](userActor(request), request.params.id);
      request.log.info({ jobId: row.id, status: row.status }, `job ${action}`);
      return toJobResponse(row, ctx.secrets.mask);
    });
  }
}
