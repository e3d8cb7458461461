import {
  AppError,
  CreateJobRequest,
  ExecutionStatus,
  JobStatus,
  JobType,
  TriggerType,
} from "@scheduler/core";
import { type Db, findJob, listExecutions, listJobs } from "@scheduler/db";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { createJob } from "../jobService.js";
import { principalOf, requirePermission } from "../plugins/auth.js";
import { decodeCursor, toExecutionResponse, toJobResponse, toPage } from "../serialize.js";

const JobParams = z.object({ id: z.uuid() });
const limit = z.coerce.number().int().min(1).max(200).default(50);

const JobListQuery = z.strictObject({
  status: JobStatus.optional(),
  jobType: JobType.optional(),
  tag: z.string().max(50).optional(),
  name: z.string().max(200).optional(),
  limit,
  cursor: z.string().max(200).optional(),
});

const ExecutionListQuery = z.strictObject({
  status: ExecutionStatus.optional(),
  triggerType: TriggerType.optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  limit,
  cursor: z.string().max(200).optional(),
});

export async function jobRoutes(app: FastifyInstance, { db }: { db: Db }): Promise<void> {
  const r = app.withTypeProvider<ZodTypeProvider>();

  r.post(
    "/jobs",
    { schema: { body: CreateJobRequest }, preHandler: requirePermission("jobs:write") },
    async (request, reply) => {
      const { tenantId, userId } = principalOf(request);
      const row = await createJob(db, { tenantId, userId }, request.body, new Date());
      request.log.info({ jobId: row.id }, "job created");
      return reply.status(201).send(toJobResponse(row));
    },
  );

  r.get(
    "/jobs",
    { schema: { querystring: JobListQuery }, preHandler: requirePermission("jobs:read") },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      const rows = await listJobs(db, principalOf(request).tenantId, filter, {
        limit: limit + 1,
        cursor: decodeCursor(cursor),
      });
      return toPage(rows, limit, toJobResponse);
    },
  );

  r.get(
    "/jobs/:id",
    { schema: { params: JobParams }, preHandler: requirePermission("jobs:read") },
    async (request) => {
      const row = await findJob(db, principalOf(request).tenantId, request.params.id);
      if (!row) throw new AppError("JOB_NOT_FOUND", `no job ${request.params.id}`);
      return toJobResponse(row);
    },
  );

  r.get(
    "/jobs/:id/executions",
    {
      schema: { params: JobParams, querystring: ExecutionListQuery },
      preHandler: requirePermission("jobs:read"),
    },
    async (request) => {
      const { tenantId } = principalOf(request);
      const job = await findJob(db, tenantId, request.params.id);
      if (!job) throw new AppError("JOB_NOT_FOUND", `no job ${request.params.id}`);
      const { limit, cursor, from, to, ...filter } = request.query;
      const rows = await listExecutions(
        db,
        tenantId,
        {
          ...filter,
          jobId: job.id,
          from: from ? new Date(from) : undefined,
          to: to ? new Date(to) : undefined,
        },
        { limit: limit + 1, cursor: decodeCursor(cursor) },
      );
      return toPage(rows, limit, toExecutionResponse);
    },
  );
}
