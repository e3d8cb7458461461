import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";

/** A local HTTP target that answers 200 at once and counts what it served. */
export interface Target {
  url: string;
  /** Requests served so far. */
  hits(): number;
  /** Requests that carried an execution id already seen (a run delivered twice). */
  repeats(): number;
  close(): Promise<void>;
}

export async function startTarget(): Promise<Target> {
  let hits = 0;
  let repeats = 0;
  const seen = new Set<string>();
  const server: Server = createServer((req, res) => {
    hits += 1;
    const id = req.headers["x-scheduler-execution-id"];
    if (typeof id === "string") {
      if (seen.has(id)) repeats += 1;
      else seen.add(id);
    }
    res.writeHead(200, { "content-type": "text/plain", "content-length": "2" }).end("ok");
  });
  server.keepAliveTimeout = 5000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hit`,
    hits: () => hits,
    repeats: () => repeats,
    async close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}
