// The Drop database behind one small interface: SQLite (better-sqlite3) or PostgreSQL (pg).
// SQL is written once with `?` placeholders; PostgreSQL gets them as $1, $2, ... Drivers are
// imported lazily so commands that never touch the database do not load them.
import { usageError } from "../errors.js";
import { resolvePolicyPath } from "../policy/paths.js";
import type { Policy } from "../policy/schema.js";
import { redactUrl, type Database, type OpenOptions } from "./driver.js";

export { checkSqliteFile, databaseFailure, normaliseParams, redactUrl, toDollarPlaceholders, type Database, type OpenOptions } from "./driver.js";

/** "sqlite:PATH" (also sqlite://PATH) or "postgres://..." / "postgresql://...". */
export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Database> {
  if (url.startsWith("sqlite:")) {
    const { openSqlite } = await import("./sqlite.js");
    return openSqlite(sqlitePath(url), options);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { openPostgres } = await import("./postgres.js");
    return openPostgres(url);
  }
  throw usageError(`the database URL ${redactUrl(url)} is neither sqlite:PATH nor postgres://...`, {
    code: "database.url",
    hint: "Set database.url in the policy or DATABASE_URL, e.g. sqlite:./drop.db or postgres://user@host/drop.",
  });
}

/**
 * policy.database.url, else DATABASE_URL, else a usage error (exit 2). A relative `sqlite:PATH`
 * in the policy is the policy file's directory's (the same file from cron and from a terminal);
 * one in DATABASE_URL is the working directory's.
 */
export function databaseUrl(policy: Pick<Policy, "database">): string {
  const fromPolicy = policy.database?.url?.trim();
  if (fromPolicy) return fromPolicy.startsWith("sqlite:") ? `sqlite:${resolvePolicyPath(policy, sqlitePath(fromPolicy))}` : fromPolicy;
  const url = process.env.DATABASE_URL;
  if (url === undefined || url.trim() === "") {
    throw usageError("no database configured", {
      code: "database.url-missing",
      hint: "Set database.url in the policy file or the DATABASE_URL environment variable (sqlite:PATH or postgres://...).",
    });
  }
  return url.trim();
}

export function sqlitePath(url: string): string {
  const rest = url.slice("sqlite:".length);
  return rest.startsWith("//") ? rest.slice(2) : rest;
}

/** Open, run fn, close: each pipeline phase holds a connection only while it needs one. */
export async function withDatabase<T>(url: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(url);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
