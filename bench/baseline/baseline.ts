import { randomUUID } from "node:crypto";
import { Queue } from "bullmq-latest";
import { type BenchProcess, type StartOptions, startProcess } from "../lib/processes.js";
import { BENCH_REDIS_URL, type Scratch } from "../lib/scratch.js";
import type { BaselineSettings } from "./tuned.js";
import type { BaselineJobData } from "./worker.js";

export const BASELINE_QUEUE = "baseline";
export const BASELINE_TABLE = "baseline_executions";

/** The same retention as our queue jobs (apps/scheduler/src/queueJob.ts). */
const JOB_OPTIONS = {
  attempts: 1,
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

/**
 * The baseline's side of a scratch environment: its history table (job_executions'
 * columns, defaults and indexes, without the foreign key), its queue and its worker.
 */
export class Baseline {
  readonly queue: Queue<BaselineJobData>;
  worker: BenchProcess | undefined;
  private readonly tenants = Array.from({ length: 100 }, () => randomUUID());

  constructor(
    private readonly scratch: Scratch,
    private readonly targetUrl: string,
  ) {
    const url = new URL(BENCH_REDIS_URL);
    this.queue = new Queue<BaselineJobData>(BASELINE_QUEUE, {
      connection: {
        host: url.hostname,
        port: Number(url.port || 6379),
        maxRetriesPerRequest: null,
      },
      prefix: `${scratch.prefix}:bull`,
    });
  }

  async createTable(): Promise<void> {
    await this.scratch.pool.query(
      `CREATE TABLE ${BASELINE_TABLE} (LIKE job_executions INCLUDING ALL)`,
    );
  }

  /** Starts the worker process with these settings; resolves once it listens. */
  async startWorker(settings: BaselineSettings, options: StartOptions = {}): Promise<BenchProcess> {
    const url = new URL(BENCH_REDIS_URL);
    this.worker = this.scratch.track(
      startProcess(
        "baseline-worker",
        "bench/baseline/worker.ts",
        {
          BASELINE_DATABASE_URL: this.scratch.databaseUrl,
          BASELINE_REDIS_HOST: url.hostname,
          BASELINE_REDIS_PORT: url.port || "6379",
          BASELINE_PREFIX: `${this.scratch.prefix}:bull`,
          BASELINE_QUEUE,
          BASELINE_TABLE,
          BASELINE_CONCURRENCY: String(settings.concurrency),
          BASELINE_POOL_SIZE: String(settings.poolSize),
          BASELINE_TARGET_ORIGIN: new URL(this.targetUrl).origin,
        },
        options,
      ),
    );
    await this.worker.lineMatching(/baseline worker ready/, 60_000);
    return this.worker;
  }

  /** Plain jobs due now: warms the worker's code paths up before a measurement. */
  async addNow(count: number): Promise<void> {
    await this.queue.addBulk(
      Array.from({ length: count }, (_, i) => ({
        name: "warm-up",
        data: this.data(i),
        opts: { ...JOB_OPTIONS, jobId: `warm-${randomUUID()}` },
      })),
    );
  }

  /**
   * One BullMQ job scheduler per job (`upsertJobScheduler`), each on a 6-field (seconds)
   * pattern in UTC, `parallel` calls in flight. Ids are `job-<n>`, n from `from`.
   */
  async upsertSchedulers(
    from: number,
    count: number,
    pattern: string,
    parallel = 50,
  ): Promise<void> {
    let next = from;
    const end = from + count;
    const lane = async () => {
      while (next < end) {
        const n = next++;
        await this.queue.upsertJobScheduler(
          `job-${n}`,
          { pattern, tz: "UTC" },
          { name: "execute", data: this.data(n), opts: JOB_OPTIONS },
        );
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
  }

  /** One job scheduler per schedule (ids `job-<i>`), `parallel` upserts in flight. */
  async upsertEach(schedules: { cron: string; zone: string }[], parallel = 50): Promise<void> {
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < schedules.length; i = next++) {
        const { cron, zone } = schedules[i]!;
        await this.queue.upsertJobScheduler(
          `job-${i}`,
          { pattern: cron, tz: zone },
          { name: "execute", data: this.data(i), opts: JOB_OPTIONS },
        );
      }
    };
    await Promise.all(Array.from({ length: parallel }, lane));
  }

  async close(): Promise<void> {
    await this.queue.close();
  }

  private data(n: number): BaselineJobData {
    return {
      jobId: randomUUID(),
      tenantId: this.tenants[n % this.tenants.length]!,
      url: this.targetUrl,
    };
  }
}
