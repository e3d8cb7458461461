import { AppError, CreateJobRequest, UpdateJobRequest } from "@scheduler/core";
import { findJob, listJobs } from "@scheduler/db";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { ApiContext } from "../context.js";
import { toDefinition } from "../jobService.js";
import { principalOf, requirePermission } from "../plugins/auth.js";
import { decodeCursor, toJobResponse, toPage } from "../serialize.js";
import { Turns } from "../turns.js";
import { validateDefinition } from "../validation.js";
import { userActor } from "./audit.js";
import { executionPage } from "./executions.js";
import { IdParams, JobExecutionListQuery, JobListQuery, ValidateQuery } from "./schemas.js";

/** Validation parses and searches schedules: one request's worth per event-loop turn. */
const validationTurns = new Turns();

/** Job definitions: CRUD, validation and a job's execution history. */
export async function jobRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const show = (row: Parameters<typeof toJobResponse>[0]) => toJobResponse(row, ctx.secrets.mask);
  const read = requirePermission("jobs:read");
  const write = requirePermission("jobs:write");

  r.post(
    "/jobs",
    { schema: { body: CreateJobRequest }, onRequest: write },
    async (request, reply) => {
      const [row] = await ctx.jobs.create(userActor(request), [request.body]);
      request.log.info({ jobId: row!.id }, "job created");
      return reply.status(201).send(show(row!));
    },
  );

  r.get("/jobs", { schema: { querystring: JobListQuery }, onRequest: read }, async (request) => {
    const { limit, cursor, ...filter } = request.query;
    const position = decodeCursor(cursor);
    const rows = await listJobs(ctx.db, principalOf(request).tenantId, filter, {
      limit: limit + 1,
      cursor: position && { createdAt: position.at, id: position.id },
    });
    return toPage(rows, limit, show, (row) => ({ at: row.createdAt, id: row.id }));
  });

  r.get("/jobs/:id", { schema: { params: IdParams }, onRequest: read }, async (request) => {
    const row = await findJob(ctx.db, principalOf(request).tenantId, request.params.id);
    if (!row) throw new AppError("JOB_NOT_FOUND", `no job ${request.params.id}`);
    return show(row);
  });

  r.put(
    "/jobs/:id",
    { schema: { params: IdParams, body: UpdateJobRequest }, onRequest: write },
    async (request) => {
      const row = await ctx.jobs.update(userActor(request), request.params.id, request.body);
      request.log.info({ jobId: row.id }, "job updated");
      return show(row);
    },
  );

  r.delete(
    "/jobs/:id",
    { schema: { params: IdParams }, onRequest: write },
    async (request, reply) => {
      await ctx.jobs.remove(userActor(request), request.params.id);
      request.log.info({ jobId: request.params.id }, "job deleted");
      return reply.status(204).send();
    },
  );

  r.post(
    "/jobs/validate",
    { schema: { body: z.unknown(), querystring: ValidateQuery }, onRequest: write },
    async (request) =>
      validationTurns.run(() =>
        validateDefinition(ctx.definitions, request.body, windowOf(request.query)),
      ),
  );

  r.post(
    "/jobs/:id/validate",
    { schema: { params: IdParams, querystring: ValidateQuery }, onRequest: write },
    async (request) => {
      const job = await findJob(ctx.db, principalOf(request).tenantId, request.params.id);
      if (!job) throw new AppError("JOB_NOT_FOUND", `no job ${request.params.id}`);
      const definition = {
        ...toDefinition(job),
        config: ctx.secrets.mask(job.jobType, job.config),
      };
      return validationTurns.run(() =>
        validateDefinition(ctx.definitions, definition, windowOf(request.query)),
      );
    },
  );

  r.get(
    "/jobs/:id/executions",
    { schema: { params: IdParams, querystring: JobExecutionListQuery }, onRequest: read },
    async (request) => {
      const { tenantId } = principalOf(request);
      const job = await findJob(ctx.db, tenantId, request.params.id);
      if (!job) throw new AppError("JOB_NOT_FOUND", `no job ${request.params.id}`);
      return executionPage(ctx, tenantId, { ...request.query, jobId: job.id });
    },
  );
}

function windowOf(query: { count: number; from?: string }) {
  return { count: query.count, from: query.from ? new Date(query.from) : new Date() };
}
