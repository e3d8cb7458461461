import { closeSync, openSync, readSync, statSync } from "node:fs";
import type pg from "pg";

/**
 * The query plans the API really ran: auto_explain (EXPLAIN ANALYZE, BUFFERS) for every
 * statement of the bench's database, read back from the server log. Only new
 * connections load it, so the API is started again after `enable`; the timing
 * measurements run before, without it.
 */
export class PlanCapture {
  private offset = 0;

  constructor(
    private readonly logFile: string,
    private readonly database: string,
  ) {}

  /** The server's log file, if this process can read it (stderr logging, Debian layout). */
  static async locate(client: pg.Client): Promise<string | undefined> {
    const { rows } = await client.query("SELECT split_part(version(), ' ', 2) AS version");
    const major = String(rows[0].version).split(".")[0];
    const candidate = `/var/log/postgresql/postgresql-${major}-main.log`;
    try {
      closeSync(openSync(candidate, "r"));
      return candidate;
    } catch {
      return undefined;
    }
  }

  static async enable(client: pg.Client, database: string): Promise<void> {
    const settings = [
      "session_preload_libraries = 'auto_explain'",
      "auto_explain.log_min_duration = 0",
      "auto_explain.log_analyze = on",
      "auto_explain.log_buffers = on",
      "auto_explain.log_timing = on",
      "auto_explain.log_format = 'text'",
    ];
    for (const setting of settings)
      await client.query(`ALTER DATABASE "${database}" SET ${setting}`);
  }

  /** Skips everything logged so far. */
  mark(): void {
    this.offset = statSync(this.logFile).size;
  }

  /** The plans logged for the bench's database since `mark()`, one string each. */
  take(): string[] {
    const size = statSync(this.logFile).size;
    const buffer = Buffer.alloc(size - this.offset);
    const fd = openSync(this.logFile, "r");
    try {
      readSync(fd, buffer, 0, buffer.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const plans: string[] = [];
    let current: string[] | undefined;
    for (const line of buffer.toString("utf8").split("\n")) {
      // A log entry starts with a timestamp; its continuation lines with a tab.
      if (/^\d{4}-\d\d-\d\d /.test(line)) {
        if (current) plans.push(current.join("\n"));
        current = line.includes(`@${this.database} LOG:  duration:`) ? [] : undefined;
        if (current) current.push(line.replace(/^.* LOG: {2}/, ""));
      } else if (current && line.startsWith("\t")) {
        current.push(line.slice(1));
      }
    }
    if (current) plans.push(current.join("\n"));
    return plans;
  }
}
