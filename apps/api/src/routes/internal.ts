import {
  AppError,
  type CheckedDefinition,
  CreateJobRequest,
  type DefinitionProblem,
} from "@scheduler/core";
import { findJob, listExecutions } from "@scheduler/db";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { ApiContext } from "../context.js";
import { requireServiceToken } from "../plugins/serviceToken.js";
import { toExecutionResponse, toJobResponse } from "../serialize.js";
import { serviceActor } from "./audit.js";
import { JobIdParams } from "./schemas.js";

const Tenant = z.strictObject({ tenantId: z.uuid() });
const InternalCreate = CreateJobRequest.extend({ tenantId: z.uuid(), createdBy: z.uuid() });
const BatchCreate = z.strictObject({
  tenantId: z.uuid(),
  createdBy: z.uuid(),
  jobs: z.array(z.unknown()).min(1).max(1000),
});
const Trigger = z.strictObject({ tenantId: z.uuid(), triggeredBy: z.uuid().optional() });

/** The internal API for platform services (X-Service-Token); the caller names the tenant. */
export async function internalRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const onRequest = requireServiceToken(ctx.config.INTERNAL_SERVICE_TOKEN);
  const show = (row: Parameters<typeof toJobResponse>[0]) => toJobResponse(row, ctx.secrets.mask);

  r.post(
    "/internal/jobs/create",
    { schema: { body: InternalCreate }, onRequest },
    async (request, reply) => {
      const { tenantId, createdBy, ...definition } = request.body;
      const [row] = await ctx.jobs.create(serviceActor(request, tenantId, createdBy), [definition]);
      request.log.info({ jobId: row!.id, tenantId }, "job created (internal)");
      return reply.status(201).send(show(row!));
    },
  );

  r.post(
    "/internal/jobs/batch-create",
    { schema: { body: BatchCreate }, onRequest },
    async (request, reply) => {
      const { tenantId, createdBy, jobs } = request.body;
      const { definitions, checked } = parseBatch(ctx, jobs);
      const rows = await ctx.jobs.create(serviceActor(request, tenantId, createdBy), definitions, {
        batch: true,
        checked,
      });
      request.log.info({ tenantId, count: rows.length }, "jobs created (internal batch)");
      return reply.status(201).send({ jobs: rows.map(show) });
    },
  );

  r.post(
    "/internal/jobs/:jobId/trigger",
    { schema: { params: JobIdParams, body: Trigger }, onRequest },
    async (request, reply) => {
      const { tenantId, triggeredBy } = request.body;
      const actor = serviceActor(request, tenantId, triggeredBy ?? null);
      const execution = await ctx.jobs.trigger(actor, request.params.jobId);
      return reply.status(202).send(toExecutionResponse(execution));
    },
  );

  r.get(
    "/internal/jobs/:jobId/status",
    { schema: { params: JobIdParams, querystring: Tenant }, onRequest },
    async (request) => {
      const { tenantId } = request.query;
      const job = await findJob(ctx.db, tenantId, request.params.jobId);
      if (!job) throw new AppError("JOB_NOT_FOUND", `no job ${request.params.jobId}`);
      const [last] = await listExecutions(ctx.db, tenantId, { jobId: job.id }, { limit: 1 });
      return {
        jobId: job.id,
        status: job.status,
        lastExecution: last ? toExecutionResponse(last) : null,
        nextExecutionAt: job.nextExecutionAt?.toISOString() ?? null,
      };
    },
  );

  for (const action of ["pause", "resume"] as const) {
    r.post(
      `/internal/jobs/:jobId/${action}`,
      { schema: { params: JobIdParams, body: Tenant }, onRequest },
      async (request) =>
        show(
          await ctx.jobs[action](
            serviceActor(request, request.body.tenantId, null),
            request.params.jobId,
          ),
        ),
    );
  }
}

/**
 * Parses and checks every job of a batch before anything is stored, so the answer
 * lists each failing index (all or nothing). The checked parts go to the job service,
 * which then does not check (parse the cron, search it) a second time.
 */
function parseBatch(
  ctx: ApiContext,
  jobs: unknown[],
): { definitions: CreateJobRequest[]; checked: CheckedDefinition[] } {
  const errors: { index: number; code: string; message: string; field?: string }[] = [];
  const parsed: CreateJobRequest[] = [];
  const checked: CheckedDefinition[] = [];
  jobs.forEach((job, index) => {
    const shape = CreateJobRequest.safeParse(job);
    if (!shape.success) {
      for (const issue of shape.error.issues) {
        const field = issue.path.map(String).join(".");
        errors.push({
          index,
          code: "VALIDATION_ERROR",
          message: `${field || "job"} ${issue.message}`,
          field,
        });
      }
      return;
    }
    const check = ctx.definitions.check(shape.data);
    if (!check.ok) errors.push(...check.problems.map((p: DefinitionProblem) => ({ index, ...p })));
    else checked.push(check.value);
    parsed.push(shape.data);
  });
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new AppError("VALIDATION_ERROR", `jobs[${first.index}]: ${first.message}`, { errors });
  }
  return { definitions: parsed, checked };
}
