/**
 * What the testkit offers outside vitest (the drill runner is a plain script): the
 * fixtures in index.ts need a running vitest, this entry point does not.
 */
export {
  createEmptyTestDatabase,
  createTestDatabase,
  TEST_DATABASE_URL,
  type TestDatabase,
} from "./database.js";
export { signTestJwt, TEST_CONFIG_ENCRYPTION_KEY } from "./jwt.js";
export { OwnPostgres, PG_BIN } from "./ownPostgres.js";
export { OwnRedis } from "./ownRedis.js";
export { type AppName, freePort, type RunningProcess, startApp, stopApp } from "./processes.js";
export {
  type ExecutionProcess,
  executionProcesses,
  membersOfGroups,
  processGroupsOf,
} from "./procfs.js";
export { createTestRedis, TEST_REDIS_URL, type TestRedis } from "./redis.js";
export { waitFor } from "./waitFor.js";
