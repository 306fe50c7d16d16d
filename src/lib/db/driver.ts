// What both database drivers (sqlite.ts, postgres.ts) share: the interface they implement and the
// helpers they use. index.ts picks and loads a driver; the drivers import only this module.
import { existsSync } from "node:fs";
import path from "node:path";
import { failure, usageError } from "../errors.js";

export interface Database {
  readonly kind: "sqlite" | "postgres";
  /** Rows of a SELECT; SQL uses `?` placeholders for both engines (translated to $1.. for PostgreSQL). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** INSERT/UPDATE/DELETE; returns the number of rows changed. */
  execute(sql: string, params?: unknown[]): Promise<{ changes: number }>;
  /** Runs fn in one transaction (commit on success, rollback on throw); nested calls use savepoints. */
  transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** SQLite: create the file when it does not exist (tests, seeding); the tool itself never does. */
  create?: boolean;
}

/** A database URL fit for messages: the password never appears. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*):[^@/]*@/, "$1:***@");
}

/** Bound parameters both drivers accept: booleans as 1/0, undefined as NULL, dates as ISO text. */
export function normaliseParams(params: unknown[] | undefined): unknown[] {
  if (!params) return [];
  return params.map((p) => (p === undefined ? null : typeof p === "boolean" ? (p ? 1 : 0) : p instanceof Date ? p.toISOString() : p));
}

/** `?` -> `$1, $2, ...`, leaving quoted strings, quoted identifiers and comments alone. */
export function toDollarPlaceholders(sql: string): string {
  let out = "";
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      const end = sql.indexOf(ch, i + 1);
      const stop = end === -1 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (ch === "?") {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/** Database errors become expected failures that name the engine, never the URL's password. */
export function databaseFailure(error: unknown, what: string, kind: Database["kind"] | "database" = "database") {
  const message = error instanceof Error ? error.message : String(error);
  return failure(`${what} failed (${kind}): ${message}`, {
    code: "database.error",
    details: { engine: kind, dbCode: (error as { code?: unknown })?.code },
    cause: error,
  });
}

/** A SQLite file named by a relative path here (DATABASE_URL) is found from the working directory. */
export function checkSqliteFile(file: string, create: boolean): string {
  const full = path.resolve(file);
  if (!create && !existsSync(full)) {
    throw usageError(`the SQLite database ${full} does not exist`, {
      code: "database.missing",
      hint: "Check database.url in the policy (a relative sqlite:PATH is relative to the policy file's directory) or DATABASE_URL (relative to the working directory).",
    });
  }
  return full;
}
