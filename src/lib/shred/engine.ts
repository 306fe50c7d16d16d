// Crypto-shredding for GDPR Art. 17 (POLICY.md §6): destroy the DEK of each user's fødselsnummer
// envelope so the ciphertext can never be read again, while the AML transaction rows stay.
//
// Granularity: users are handled in chunks. Per chunk, the journal first gets an intent listing
// the chunk's user ids (fsynced), then one database transaction runs every user of the chunk in
// its own savepoint (a held or failing user is rolled back alone, the others go on), then the
// outcome with each user's result and verification. The journal fsyncs every append, so a
// journal entry per user would cap the rate at the disk's fsync rate; per chunk it does not.
// kill -9 at any point: the chunk's transaction either committed (every user erased, its intent
// journalled; the rerun journals the missing outcome from the database state) or it did not
// (every user untouched; the rerun erases them). National IDs never appear: only user ids.
import { hostname } from "node:os";
import type { Database } from "../db/index.js";
import { DropkeysError, isDropkeysError, usageError } from "../errors.js";
import type { Actor, Journal, JournalEntry, JournalVerification } from "../journal/journal.js";
import type { DatabaseSection } from "../policy/database-section.js";
import { shredSql, type ShredSql } from "./schema-sql.js";

export const OPERATION = "shred-user";
export const DEFAULT_CHUNK = 500;

export type UserState = "missing" | "erased" | "live";

export type UserResult =
  | { id: string; status: "erased" }
  | { id: string; status: "already-erased" }
  | { id: string; status: "held"; reason: string }
  | { id: string; status: "not-found" }
  | { id: string; status: "failed"; error: string };

export interface ShredSummary {
  total: number;
  erased: string[];
  alreadyErased: string[];
  held: { id: string; reason: string }[];
  notFound: string[];
  failed: { id: string; error: string }[];
  chunks: number;
  /** Until when database backups made before this run still hold the erased values. */
  backupsHoldUntil: string;
  /** Chunks of earlier, interrupted runs whose outcome this run journalled. */
  reconciled: number;
  /** Stopped early (Ctrl-C / SIGTERM between chunks); the rest is untouched. */
  interrupted: boolean;
  durationMs: number;
}

export interface ShredOptions {
  db: Database;
  section: DatabaseSection;
  journal: Pick<Journal, "append" | "entries">;
  actor: Actor;
  requestId: string;
  reason?: string | undefined;
  incident?: string | undefined;
  backupRetentionDays: number;
  chunkSize?: number;
  now?: () => Date;
  onProgress?: (done: number, total: number) => void;
  /** Checked between chunks: a chunk in flight always finishes and is journalled. */
  signal?: AbortSignal;
  /** Test hook: called after a chunk's transaction committed, before its outcome is journalled. */
  afterCommit?: (chunk: number) => void | Promise<void>;
}

/** Longest user id accepted: ids are keys, not documents (a 10 MB line is a mistake, not an id). */
export const MAX_USER_ID_LENGTH = 128;

/** Unique user ids, in the order given; blank lines and # comments of a file are dropped. */
export function parseUserIds(lines: Iterable<string>): string[] {
  const seen = new Set<string>();
  let lineNo = 0;
  for (const line of lines) {
    lineNo++;
    if (line.length > MAX_USER_ID_LENGTH * 4 + 1024) throw tooLong(lineNo, line.length);
    const id = line.replace(/#.*$/, "").trim();
    if (id.length > MAX_USER_ID_LENGTH) throw tooLong(lineNo, id.length);
    if (id) seen.add(id);
  }
  return [...seen];
}

function tooLong(lineNo: number, length: number) {
  return usageError(`user id ${lineNo} is ${length} characters long; ids are at most ${MAX_USER_ID_LENGTH}`, {
    code: "usage.user-ids",
    hint: "--from-file takes one user id per line (blank lines and # comments are skipped).",
  });
}

/**
 * Ids as the id column compares them: for an integer column "81", "081" and "+81" are one user,
 * so they are written as "81" and counted once. Other columns keep the ids as given.
 */
export async function normaliseUserIds(db: Database, section: DatabaseSection, ids: string[]): Promise<string[]> {
  const { table, id } = section.users;
  const rows =
    db.kind === "sqlite"
      ? await db.query<{ t: unknown }>("SELECT type AS t FROM pragma_table_info(?) WHERE name = ?", [table, id])
      : await db.query<{ t: unknown }>("SELECT data_type AS t FROM information_schema.columns WHERE table_name = ? AND column_name = ?", [table, id]);
  const type = String(rows[0]?.t ?? "").toLowerCase();
  if (!/int|serial|numeric|decimal/.test(type)) return ids;
  const out = new Set<string>();
  for (const raw of ids) out.add(/^[+-]?\d+$/.test(raw) ? BigInt(raw).toString() : raw);
  return [...out];
}

/** Read-only: each user's state (missing, erased, live), in IN lists of 500. */
export async function classifyUsers(db: Database, section: DatabaseSection, ids: string[]): Promise<Map<string, UserState>> {
  const sql = shredSql(section);
  const states = new Map<string, UserState>(ids.map((id) => [id, "missing"]));
  for (let i = 0; i < ids.length; i += 500) {
    const part = ids.slice(i, i + 500);
    const rows = await db.query<{ id: unknown; live: unknown }>(sql.classify(part.length), part);
    for (const row of rows) states.set(String(row.id), Number(row.live) === 1 ? "live" : "erased");
  }
  return states;
}

export function backupsHoldUntil(now: Date, retentionDays: number): string {
  return new Date(now.getTime() + retentionDays * 86_400_000).toISOString();
}

export async function shredUsers(ids: string[], options: ShredOptions): Promise<ShredSummary> {
  const started = Date.now();
  const now = options.now ?? (() => new Date());
  const chunkSize = Math.max(1, options.chunkSize ?? DEFAULT_CHUNK);
  const sql = shredSql(options.section);
  const summary: ShredSummary = {
    total: ids.length,
    erased: [],
    alreadyErased: [],
    held: [],
    notFound: [],
    failed: [],
    chunks: 0,
    backupsHoldUntil: backupsHoldUntil(now(), options.backupRetentionDays),
    reconciled: await reconcileInterrupted(options),
    interrupted: false,
    durationMs: 0,
  };
  const target = journalTarget(options);
  const chunks = Math.ceil(ids.length / chunkSize);
  for (let c = 0; c < chunks; c++) {
    // A synchronous driver (SQLite) never yields on its own: let a pending Ctrl-C or SIGTERM in.
    await new Promise((resolve) => setImmediate(resolve));
    if (options.signal?.aborted) {
      summary.interrupted = true;
      break;
    }
    const userIds = ids.slice(c * chunkSize, (c + 1) * chunkSize);
    const intent = appendOrSay(options, summary, `chunk ${c + 1} of ${chunks} was not started`, {
      type: "intent",
      operation: OPERATION,
      requestId: options.requestId,
      target,
      actor: options.actor,
      reason: options.reason,
      incident: options.incident,
      params: { chunk: c + 1, chunks, userIds, pid: process.pid },
    });
    const erasedAt = now().toISOString();
    let results: UserResult[];
    try {
      results = await options.db.transaction((tx) => shredChunk(tx, sql, userIds, erasedAt));
    } catch (error) {
      // The chunk's transaction did not commit: every user of it is untouched.
      const message = errorMessage(error);
      results = userIds.map((id) => ({ id, status: "failed", error: `the chunk's transaction was rolled back: ${message}` }));
    }
    await options.afterCommit?.(c + 1);
    const holdUntil = backupsHoldUntil(now(), options.backupRetentionDays);
    const committed = results.filter((r) => r.status === "erased").length;
    appendOrSay(options, summary, `chunk ${c + 1} of ${chunks} committed (${committed} erased) but its outcome is not journalled yet: the next run journals it from the database`, {
      type: "outcome",
      operation: OPERATION,
      requestId: options.requestId,
      intentSeq: intent.seq,
      target,
      actor: options.actor,
      outcome: results.some((r) => r.status === "failed") ? "failed" : "succeeded",
      verification: chunkVerification(results, options.section, holdUntil),
      details: { chunk: c + 1, chunks, ...groupResults(results), backupsHoldUntil: holdUntil, backupRetentionDays: options.backupRetentionDays },
    });
    for (const r of results) addResult(summary, r);
    summary.chunks++;
    options.onProgress?.(Math.min(ids.length, (c + 1) * chunkSize), ids.length);
  }
  summary.durationMs = Date.now() - started;
  return summary;
}

/** A journal append; when it fails (a full disk...), the error also says what this run had already done. */
function appendOrSay(options: Pick<ShredOptions, "journal">, summary: ShredSummary, state: string, record: Parameters<ShredOptions["journal"]["append"]>[0]): JournalEntry {
  try {
    return options.journal.append(record);
  } catch (error) {
    if (!isDropkeysError(error)) throw error;
    const done = `${summary.erased.length} user(s) erased in ${summary.chunks} chunk(s) before, each journalled`;
    throw new DropkeysError(error.kind, `${error.message}\nDone so far: ${done}; ${state}.`, {
      code: error.code,
      hint: `${error.hint ?? ""} Then run the same shred-user command again: erased users are skipped.`.trim(),
      details: { ...error.details, erasedBefore: summary.erased.length, chunksBefore: summary.chunks },
      cause: error,
    });
  }
}

/**
 * A chunk inside its transaction. Fast path: a few set-based statements for the whole chunk
 * (state, AML counts, destroy, re-read, counts again) plus the legal-hold query per user; that
 * keeps round trips to PostgreSQL low. Anything unexpected (a verification that fails, an id the
 * database rejects) rolls the fast path back and redoes the chunk user by user, each in its own
 * savepoint, so only the culprit fails.
 */
async function shredChunk(tx: Database, sql: ShredSql, ids: string[], erasedAt: string): Promise<UserResult[]> {
  try {
    return await tx.transaction((sp) => shredChunkFast(sp, sql, ids, erasedAt));
  } catch {
    const out: UserResult[] = [];
    for (const id of ids) out.push(await shredOne(tx, sql, id, erasedAt));
    return out;
  }
}

async function shredChunkFast(db: Database, sql: ShredSql, ids: string[], erasedAt: string): Promise<UserResult[]> {
  const results = new Map<string, UserResult>();
  const states = await statesOf(db, sql, ids);
  const live: string[] = [];
  for (const id of ids) {
    const state = states.get(id);
    if (state === "erased") results.set(id, { id, status: "already-erased" });
    else if (state === "live") live.push(id);
    // Not matched by the IN list: maybe the database spells the id differently ("05" and 5).
    else results.set(id, await shredOne(db, sql, id, erasedAt));
  }
  const toErase: string[] = [];
  for (const id of live) {
    const holds = sql.legalHold ? await db.query(sql.legalHold, Array(sql.legalHoldParams).fill(id)) : [];
    if (holds.length > 0) results.set(id, { id, status: "held", reason: holdReason(holds[0]!) });
    else toErase.push(id);
  }
  if (toErase.length > 0) {
    const before = await amlCountsOf(db, sql, toErase);
    for (const group of groups(toErase)) {
      for (const statement of sql.destroyMany(group.length)) await db.execute(statement.sql, statement.params(group, erasedAt));
    }
    const after = await statesOf(db, sql, toErase);
    const countsAfter = await amlCountsOf(db, sql, toErase);
    for (const id of toErase) {
      if (after.get(id) !== "erased" || countsAfter.get(id) !== before.get(id)) throw new VerificationError(`user ${id} did not verify`);
      results.set(id, { id, status: "erased" });
    }
  }
  return ids.map((id) => results.get(id)!);
}

function groups(ids: string[], size = 500): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
  return out;
}

async function statesOf(db: Database, sql: ShredSql, ids: string[]): Promise<Map<string, UserState>> {
  const states = new Map<string, UserState>();
  for (const group of groups(ids)) {
    const rows = await db.query<{ id: unknown; live: unknown }>(sql.classify(group.length), group);
    for (const row of rows) states.set(String(row.id), Number(row.live) === 1 ? "live" : "erased");
  }
  return states;
}

/** id -> the user's AML row counts, one per table, joined as text ("2/0") for comparison. */
async function amlCountsOf(db: Database, sql: ShredSql, ids: string[]): Promise<Map<string, string>> {
  const counts = new Map<string, number[]>(ids.map((id) => [id, Array<number>(sql.amlParams).fill(0)]));
  for (const group of groups(ids)) {
    const queries = sql.amlCountsMany(group.length);
    for (let t = 0; t < queries.length; t++) {
      for (const row of await db.query<{ id: unknown; n: unknown }>(queries[t]!, group)) {
        const entry = counts.get(String(row.id));
        if (entry) entry[t] = Number(row.n);
      }
    }
  }
  return new Map([...counts].map(([id, c]) => [id, c.join("/")]));
}

/** One user, in its own savepoint: a refusal or failure rolls back this user only. */
async function shredOne(tx: Database, sql: ShredSql, id: string, erasedAt: string): Promise<UserResult> {
  try {
    return await tx.transaction(async (sp) => {
      const state = await readState(sp, sql, id);
      if (state === "missing") return { id, status: "not-found" };
      if (state === "erased") return { id, status: "already-erased" };
      if (sql.legalHold) {
        const holds = await sp.query(sql.legalHold, Array(sql.legalHoldParams).fill(id));
        if (holds.length > 0) return { id, status: "held", reason: holdReason(holds[0]!) };
      }
      const before = await amlCounts(sp, sql, id);
      for (const statement of sql.destroy) await sp.execute(statement.sql, statement.params(id, erasedAt));
      // Verification inside the same transaction: a failure here rolls this user back.
      const after = await readState(sp, sql, id);
      if (after !== "erased") throw new VerificationError("the wrapped DEK is still present after the erasure");
      const countsAfter = await amlCounts(sp, sql, id);
      if (countsAfter.some((n, i) => n !== before[i])) {
        throw new VerificationError(`AML row counts changed (${before.join("/")} -> ${countsAfter.join("/")}); nothing was erased`);
      }
      return { id, status: "erased" };
    });
  } catch (error) {
    if (isInvalidId(error)) return { id, status: "not-found" };
    return { id, status: "failed", error: errorMessage(error) };
  }
}

class VerificationError extends Error {}

async function readState(db: Database, sql: ShredSql, id: string): Promise<UserState> {
  const rows = await db.query<{ live: unknown }>(sql.state, [id]);
  if (rows.length === 0) return "missing";
  return Number(rows[0]!.live) === 1 ? "live" : "erased";
}

async function amlCounts(db: Database, sql: ShredSql, id: string): Promise<number[]> {
  if (!sql.amlCounts) return [];
  const [row] = await db.query<Record<string, unknown>>(sql.amlCounts, Array(sql.amlParams).fill(id));
  return Array.from({ length: sql.amlParams }, (_, i) => Number(row?.[`c${i}`]));
}

function holdReason(row: Record<string, unknown>): string {
  const first = Object.values(row)[0];
  return typeof first === "string" && first.trim() ? first.trim() : "legal hold";
}

/** PostgreSQL refuses "abc" for an integer id column: that user does not exist. */
function isInvalidId(error: unknown): boolean {
  const code = isDropkeysError(error) ? error.details?.dbCode : undefined;
  return code === "22P02";
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function groupResults(results: UserResult[]) {
  const by = (status: UserResult["status"]) => results.filter((r) => r.status === status).map((r) => r.id);
  return {
    erased: by("erased"),
    alreadyErased: by("already-erased"),
    held: results.flatMap((r) => (r.status === "held" ? [{ id: r.id, reason: r.reason }] : [])),
    notFound: by("not-found"),
    failed: results.flatMap((r) => (r.status === "failed" ? [{ id: r.id, error: r.error }] : [])),
  };
}

function addResult(summary: ShredSummary, r: UserResult): void {
  if (r.status === "erased") summary.erased.push(r.id);
  else if (r.status === "already-erased") summary.alreadyErased.push(r.id);
  else if (r.status === "held") summary.held.push({ id: r.id, reason: r.reason });
  else if (r.status === "not-found") summary.notFound.push(r.id);
  else summary.failed.push({ id: r.id, error: r.error });
}

function chunkVerification(results: UserResult[], section: DatabaseSection, holdUntil: string): JournalVerification {
  const erased = results.filter((r) => r.status === "erased").length;
  const failed = results.filter((r) => r.status === "failed").length;
  const aml = section.amlTables.map((t) => t.table).join(", ") || "none configured";
  return {
    method: "re-read in the erasing transaction: no wrapped DEK left for the user (the fødselsnummer cannot be decrypted), AML row counts unchanged",
    result: failed ? (erased ? "partial" : "failed") : "passed",
    detail: `${erased} erased and verified${failed ? `, ${failed} failed (rolled back)` : ""}; AML tables kept: ${aml}; database backups made before now still hold the old values until ${holdUntil.slice(0, 10)} (backup retention)`,
    checkedAt: new Date().toISOString(),
  };
}

export function verificationOf(summary: ShredSummary, section: DatabaseSection): JournalVerification {
  const aml = section.amlTables.map((t) => t.table).join(", ") || "none configured";
  return {
    method: "per user, in its erasing transaction: no wrapped DEK left (decryption impossible), AML row counts unchanged",
    result: summary.failed.length ? (summary.erased.length ? "partial" : "failed") : "passed",
    detail:
      `${summary.erased.length} erased, ${summary.alreadyErased.length} already erased, ${summary.held.length} held, ` +
      `${summary.notFound.length} not found, ${summary.failed.length} failed; AML tables kept: ${aml}; ` +
      `backups still hold the old values until ${summary.backupsHoldUntil.slice(0, 10)}`,
    checkedAt: new Date().toISOString(),
  };
}

function journalTarget(options: Pick<ShredOptions, "db" | "section">): JournalEntry["target"] {
  const u = options.section.users;
  return { name: `${u.table}.${u.nationalId}`, kind: "database", engine: options.db.kind, layout: options.section.layout };
}

/**
 * Chunks of earlier runs that were interrupted between their intent and their outcome (kill -9):
 * journal their outcome from the database state now. A chunk whose process is still alive on this
 * host belongs to a run in progress and is left alone.
 */
export async function reconcileInterrupted(options: Pick<ShredOptions, "db" | "section" | "journal" | "actor" | "requestId">): Promise<number> {
  const entries = options.journal.entries();
  const closed = new Set(entries.filter((e) => e.type === "outcome" && e.intentSeq !== undefined).map((e) => e.intentSeq));
  const open = entries.filter((e) => e.type === "intent" && e.operation === OPERATION && !closed.has(e.seq));
  let reconciled = 0;
  const finishedRequests = new Set<string>();
  const running = new Set<string>();
  for (const intent of open) {
    const params = intent.params ?? {};
    if (params.chunk === undefined || !Array.isArray(params.userIds)) continue;
    if (runningElsewhere(intent)) {
      if (intent.requestId) running.add(intent.requestId);
      continue;
    }
    const found = await chunkReadBack(options.db, options.section, intent);
    closeAsInterrupted(options, intent, { ...found, details: { ...found.details, reconciledBy: options.requestId } });
    reconciled++;
    if (intent.requestId) finishedRequests.add(intent.requestId);
  }
  // The interrupted run's own (pipeline) intent: closed once all its chunks are.
  for (const intent of open) {
    if (intent.params?.chunk !== undefined || !intent.requestId || !finishedRequests.has(intent.requestId)) continue;
    if (intent.requestId === options.requestId || running.has(intent.requestId)) continue;
    closeAsInterrupted(options, intent, {
      state: "interrupted before it finished; its chunks' outcomes were journalled by a later run",
      details: { reconciledBy: options.requestId },
    });
  }
  return reconciled;
}

/** What an interrupted chunk did, read back from the database: its transaction committed whole or not at all. */
export async function chunkReadBack(db: Database, section: DatabaseSection, intent: JournalEntry): Promise<Pick<JournalEntry, "verification" | "details" | "state" | "next">> {
  const ids = ((intent.params?.userIds as unknown[]) ?? []).map(String);
  const states = await classifyUsers(db, section, ids);
  const erased = ids.filter((id) => states.get(id) === "erased");
  const untouched = ids.filter((id) => states.get(id) === "live");
  return {
    verification: {
      method: "state re-read by a later run (the chunk's process ended before journalling its outcome)",
      result: "passed",
      detail: `${erased.length} of the chunk's users are erased (its transaction committed), ${untouched.length} untouched (rolled back); the rerun erases what is left`,
      checkedAt: new Date().toISOString(),
    },
    state: `${erased.length} erased, ${untouched.length} untouched`,
    next: untouched.length ? ["run the same shred-user command again: it erases the rest"] : [],
    details: { chunk: intent.params?.chunk, erased, untouched },
  };
}

function closeAsInterrupted(options: Pick<ShredOptions, "journal" | "actor">, intent: JournalEntry, fields: Partial<JournalEntry>): void {
  options.journal.append({
    type: "outcome",
    operation: OPERATION,
    requestId: intent.requestId,
    intentSeq: intent.seq,
    target: intent.target,
    actor: options.actor,
    outcome: "interrupted",
    ...fields,
  });
}

function runningElsewhere(intent: JournalEntry): boolean {
  const pid = Number(intent.params?.pid);
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || intent.actor.host !== hostname()) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
