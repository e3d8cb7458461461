import type { ApiConfig, redisKeys } from "@scheduler/core";
import type { Db } from "@scheduler/db";
import type { Redis } from "ioredis";
import type { DefinitionChecker } from "./definitions.js";
import type { Dispatcher } from "./dispatch.js";
import type { ExecutionService } from "./executionService.js";
import type { ConfigSecrets, JobService } from "./jobService.js";

/** What every route plugin gets: the services and clients of one API instance. */
export interface ApiContext {
  config: ApiConfig;
  db: Db;
  redis: Redis;
  keys: ReturnType<typeof redisKeys>;
  dispatcher: Dispatcher;
  definitions: DefinitionChecker;
  secrets: ConfigSecrets;
  jobs: JobService;
  executions: ExecutionService;
}
