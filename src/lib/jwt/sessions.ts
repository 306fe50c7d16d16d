// Emergency rotation, database side: list the sessions that were active during the compromise
// window (for the audit POLICY.md §4 asks for) and revoke every session, in one transaction, so
// the list and the revocation see the same sessions. Only ids and times leave the database:
// whatever else the query returns (token values, hashes) is dropped here.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { failure, usageError } from "../errors.js";
import { databaseSection } from "../policy/database-section.js";
import type { Policy } from "../policy/schema.js";

/** The part of the db layer's `Database` this needs (src/lib/db/index.ts satisfies it). */
export interface SessionDatabase {
  readonly kind: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  execute(sql: string, params?: unknown[]): Promise<{ changes: number }>;
  transaction<T>(fn: (tx: SessionDatabase) => Promise<T>): Promise<T>;
}

/** `?` 1 = start of the compromise window, `?` 2 = its end (ISO times). */
export const DEFAULT_ACTIVE_SESSIONS_QUERY =
  "SELECT id AS session_id, user_id, created_at, last_seen_at FROM sessions WHERE COALESCE(last_seen_at, created_at) >= ? AND created_at <= ? ORDER BY created_at";

export interface SessionRow {
  session_id: string;
  user_id: string;
  created_at: string | null;
  last_seen_at: string | null;
}

export interface SessionStatements {
  revoke: string;
  active: string;
}

/**
 * The statements from the policy: the `database` section's `sessionRevocation` (default of
 * POLICY.md §4), and `jwt.activeSessionsQuery` (else `database.activeSessionsQuery`, read
 * defensively until the db section has it, else the default above).
 */
export function sessionStatements(policy: Policy): SessionStatements {
  const db = (policy.database ?? {}) as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === "string" && value.trim() !== "" ? value : undefined);
  return {
    revoke: databaseSection(policy).sessionRevocation,
    active: text(policy.jwt.activeSessionsQuery) ?? text(db.activeSessionsQuery) ?? DEFAULT_ACTIVE_SESSIONS_QUERY,
  };
}

export interface RevocationResult {
  revoked: number;
  /** Sessions active in the window; undefined when no window was asked for. */
  active: SessionRow[] | undefined;
}

export async function revokeSessions(
  db: SessionDatabase,
  statements: SessionStatements,
  window: { since: Date; until: Date } | undefined,
): Promise<RevocationResult> {
  try {
    return await db.transaction(async (tx) => {
      const active = window ? (await tx.query(statements.active, [window.since.toISOString(), window.until.toISOString()])).map(sessionRow) : undefined;
      const { changes } = await tx.execute(statements.revoke);
      return { revoked: changes, active };
    });
  } catch (error) {
    throw failure(`revoking the sessions failed, nothing was revoked (the transaction was rolled back): ${(error as Error).message}`, {
      code: "jwt.revoke-failed",
      hint: `Check the statements (policy database.sessionRevocation: "${statements.revoke}") and the database, then revoke by hand or run the emergency rotation's request again.`,
      cause: error,
    });
  }
}

function field(row: Record<string, unknown>, ...names: string[]): unknown {
  for (const [key, value] of Object.entries(row)) if (names.includes(key.toLowerCase())) return value;
  return undefined;
}

function timeText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return new Date(value < 1e12 ? value * 1000 : value).toISOString();
  return String(value);
}

function sessionRow(row: Record<string, unknown>): SessionRow {
  return {
    session_id: String(field(row, "session_id", "id") ?? ""),
    user_id: String(field(row, "user_id", "userid") ?? ""),
    created_at: timeText(field(row, "created_at", "createdat")),
    last_seen_at: timeText(field(row, "last_seen_at", "lastseenat", "last_seen")),
  };
}

export type ReportFormat = "csv" | "json";

/** CSV or JSON, by the file's extension; anything else is a usage error (exit 2). */
export function reportFormat(file: string): ReportFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".csv") return "csv";
  if (ext === ".json") return "json";
  throw usageError(`--report ${file}: the file must end in .csv or .json`, { code: "jwt.report-format" });
}

export interface SessionReport {
  incident: string | undefined;
  secret: string;
  compromisedSince: string;
  until: string;
  revokedSessions: number;
  sessions: SessionRow[];
}

export function writeSessionReport(file: string, report: SessionReport): void {
  const text = reportFormat(file) === "json" ? JSON.stringify(report, null, 2) + "\n" : toCsv(report.sessions);
  try {
    writeFileSync(file, text, { mode: 0o600 });
  } catch (error) {
    throw failure(`cannot write the session report ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { code: "jwt.report-write", cause: error });
  }
}

const COLUMNS: (keyof SessionRow)[] = ["session_id", "user_id", "created_at", "last_seen_at"];

function toCsv(rows: SessionRow[]): string {
  const cell = (value: string | null) => {
    const text = value ?? "";
    // Quote what CSV needs quoted; prefix what a spreadsheet would run as a formula.
    const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
    return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
  };
  return [COLUMNS.join(","), ...rows.map((r) => COLUMNS.map((c) => cell(r[c])).join(","))].join("\n") + "\n";
}
