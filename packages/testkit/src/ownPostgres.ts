import { execFile } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./processes.js";

const run = promisify(execFile);

/** Where Debian and Ubuntu install the PostgreSQL 15 server programs. */
export const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/**
 * A PostgreSQL server of the caller's own, on its own port and data directory in a temp
 * dir, that the caller may stop, start and pause: never the machine's shared server,
 * which other tests use. The server refuses to run as root, so under root its programs
 * run as the `postgres` user (runuser).
 */
export class OwnPostgres {
  private readonly asOther: boolean;

  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {
    this.asOther = userInfo().uid === 0;
  }

  static async start(): Promise<OwnPostgres> {
    const dir = mkdtempSync(join(tmpdir(), "own-postgres-"));
    const pg = new OwnPostgres(await freePort(), dir);
    if (pg.asOther) {
      const { stdout } = await run("id", ["-u", "postgres"]);
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await pg.pgRun("initdb", [
      "-D",
      pg.dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
    ]);
    await pg.startServer();
    return pg;
  }

  get dataDir(): string {
    return join(this.dir, "data");
  }

  /** Connection string of database `name` (superuser, trust auth, loopback only). */
  url(name = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${name}`;
  }

  private async pgRun(program: string, args: string[]): Promise<string> {
    const path = join(PG_BIN, program);
    const { stdout } = this.asOther
      ? await run("runuser", ["-u", "postgres", "--", path, ...args], { cwd: this.dir })
      : await run(path, args, { cwd: this.dir });
    return stdout;
  }

  /** Starts the server and waits until it accepts connections. */
  async startServer(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      `-k ${this.dir}`,
      "-c listen_addresses=127.0.0.1",
      // Durable, as in production: with fsync or synchronous_commit off, an immediate
      // stop loses commits the clients were told of, which is another fault than a restart.
      "-c max_connections=200",
      "-c shared_buffers=64MB",
    ].join(" ");
    await this.pgRun("pg_ctl", [
      "start",
      "-w",
      "-t",
      "30",
      "-D",
      this.dataDir,
      "-l",
      join(this.dir, "server.log"),
      "-o",
      options,
    ]);
  }

  /** Stops the server; `immediate` is a crash as far as clients can tell. */
  async stopServer(mode: "fast" | "immediate" = "immediate"): Promise<void> {
    await this.pgRun("pg_ctl", ["stop", "-w", "-t", "30", "-m", mode, "-D", this.dataDir]).catch(
      () => {},
    );
  }

  async createDatabase(name: string): Promise<string> {
    await this.pgRun("psql", [
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-U",
      "postgres",
      "-c",
      `CREATE DATABASE "${name}"`,
    ]);
    return this.url(name);
  }

  async dispose(): Promise<void> {
    await this.stopServer();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
