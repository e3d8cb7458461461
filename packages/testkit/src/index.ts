export {
  createEmptyTestDatabase,
  createTestDatabase,
  TEST_DATABASE_URL,
  type TestDatabase,
} from "./database.js";
export { test } from "./fixtures.js";
export { signTestJwt, TEST_CONFIG_ENCRYPTION_KEY } from "./jwt.js";
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
