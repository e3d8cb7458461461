import { ExecutionStatus, JobStatus, JobType, TriggerType } from "@scheduler/core";
import { z } from "zod";

export const IdParams = z.object({ id: z.uuid() });
export const JobIdParams = z.object({ jobId: z.uuid() });

const limit = z.coerce.number().int().min(1).max(200).default(50);
const cursor = z.string().max(200).optional();
const instant = z.iso.datetime({ offset: true });

export const JobListQuery = z.strictObject({
  status: JobStatus.optional(),
  jobType: JobType.optional(),
  tag: z.string().max(50).optional(),
  name: z.string().max(200).optional(),
  limit,
  cursor,
});

export const ExecutionListQuery = z.strictObject({
  jobId: z.uuid().optional(),
  status: ExecutionStatus.optional(),
  triggerType: TriggerType.optional(),
  from: instant.optional(),
  to: instant.optional(),
  limit,
  cursor,
});

export const JobExecutionListQuery = ExecutionListQuery.omit({ jobId: true });

export const ValidateQuery = z.strictObject({
  count: z.coerce.number().int().min(1).max(100).default(5),
  from: instant.optional(),
});

export const StatsQuery = z.strictObject({
  from: instant.optional(),
  to: instant.optional(),
  jobId: z.uuid().optional(),
});
