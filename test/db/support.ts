// Shared helpers of the database tests: a fresh PostgreSQL database per test file on the server
// the harness started (DROPKEYS_TEST_PG_URL), and a fresh SQLite file.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { randomBytes } from "node:crypto";

export function pgServerUrl(): string {
  const url = process.env.DROPKEYS_TEST_PG_URL;
  // Skipping PostgreSQL would hide half the behaviour: a missing server is a failure.
  if (!url) throw new Error("DROPKEYS_TEST_PG_URL is not set: run the tests through vitest (the global setup starts PostgreSQL)");
  return url;
}

/** CREATE DATABASE with a unique name; returns its URL. */
export async function freshPgDatabase(prefix = "dk"): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  const client = new pg.Client({ connectionString: pgServerUrl() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(pgServerUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export function freshSqliteUrl(dir?: string): string {
  const base = dir ?? mkdtempSync(path.join(tmpdir(), "dropkeys-db-"));
  return `sqlite:${path.join(base, `drop-${randomBytes(3).toString("hex")}.db`)}`;
}
