/**
 * Everything a drill observed, as plain data: the invariant checks (invariants.ts) are
 * pure functions of it. Instants are epoch milliseconds.
 */

export type MisfirePolicy = "fire_once" | "skip" | "fire_all";

/** A job as the drill created it, and how it stood at the end. */
export interface JobRecord {
  id: string;
  name: string;
  jobType: string;
  cronExpression: string;
  timezone: string;
  misfirePolicy: MisfirePolicy;
  status: string;
  /** The job's seconds limit of one attempt. */
  timeoutSeconds: number;
  maxRetries: number;
  retryDelayMs: number;
  exponentialBackoff: boolean;
  maxRetryDelayMs: number | null;
  /** Its first slot: `nextExecutionAt` when it was created. Null: never scheduled (paused). */
  firstSlotAt: number | null;
  /** The last instant whose slots the drill checks (the job's endDate at the drain). */
  lastSlotAt: number | null;
}

export interface ExecutionRecord {
  id: string;
  jobId: string;
  executionId: string;
  triggerType: string;
  status: string;
  scheduledAt: number;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  retryCount: number;
  errorType: string | null;
}

/** A request that reached the drill's HTTP target. */
export interface TargetHit {
  /** `X-Scheduler-Execution-Id`. */
  executionId: string;
  /** `X-Scheduler-Attempt`. */
  attempt: number;
  at: number;
  path: string;
}

/**
 * Who leads, as one source saw it at one instant: `status` (the API's /status),
 * `lock` (the Redis lock key's holder), `gauge` (schedulers whose metrics report
 * `scheduler_leader 1`; `scraped` says how many answered).
 */
export interface LeaderSample {
  at: number;
  source: "status" | "lock" | "gauge";
  leaders: string[];
  scraped?: number;
}

/**
 * A fault from its injection to the moment the harness saw the system whole again.
 * `dependency` names what was down (reads must keep answering while only Redis is).
 */
export interface FaultWindow {
  kind: string;
  from: number;
  to: number;
  dependency?: "redis" | "postgres";
}

/** An interval with no scheduler process running at all (misfirePolicy decides). */
export interface SchedulerOutage {
  /** The last scheduler exited. */
  from: number;
  /** A scheduler leads again (its log's "leadership acquired"). */
  to: number;
}

/** One API request the harness's prober made. */
export interface ApiProbe {
  at: number;
  api: string;
  route: string;
  kind: "read" | "write" | "monitor";
  durationMs: number;
  /** HTTP status, or null when no answer came (connection refused, reset, timeout). */
  status: number | null;
  error?: string;
}

/** Jobs as they stood once the system was quiet (INV-5). */
export interface QuietSample {
  at: number;
  databaseNow: number;
  jobs: { id: string; status: string; nextExecutionAt: number | null }[];
}

/** A process's resources after warm-up and at the end (INV-9). */
export interface ResourceSample {
  process: string;
  baseline: { rssKb: number; fds: number };
  end: { rssKb: number; fds: number };
}

/** A live process that still carries an execution's id at the end. */
export interface SurvivingProcess {
  pid: number;
  executionId: string;
  state: string;
}

/** Where the drill looked for the jobs' secret values in clear (INV-10). */
export interface SecretScan {
  postgresRows: number;
  redisKeys: number;
  logBytes: number;
  apiResponses: number;
  /** Places a secret was found in clear, e.g. `postgres:job_executions`. */
  found: string[];
}

export interface Knobs {
  lockTtlMs: number;
  lookaheadMs: number;
  tickMs: number;
  misfireThresholdMs: number;
}

export interface DrillRecord {
  drill: string;
  fault: string;
  /** Faults injected (not planned: counted as they happened). */
  repetitions: number;
  startedAt: number;
  endedAt: number;
  knobs: Knobs;
  jobs: JobRecord[];
  executions: ExecutionRecord[];
  hits: TargetHit[];
  leaderSamples: LeaderSample[];
  faults: FaultWindow[];
  outages: SchedulerOutage[];
  apiProbes: ApiProbe[];
  quiet: QuietSample | null;
  resources: ResourceSample[];
  survivors: SurvivingProcess[];
  secrets: SecretScan;
  /** What the drill itself expected beyond the invariants (e.g. a redirect refused). */
  expectations: { what: string; ok: boolean }[];
  /** Free-form notes of the drill (what it injected, and when). */
  notes: string[];
}
