// Re-wrap every envelope DEK from a compromised KEK to its replacement (POLICY.md §4, §5 step 5):
// KMS ReEncrypt (the plaintext DEK never leaves KMS), then a compare-and-set write of the same
// format, so a concurrent write by the app is never overwritten: a lost race is retried from a
// fresh read. Rows are streamed in id order (memory stays flat), tables in priority order (L4
// first), with a bounded number of KMS calls in flight and backoff on throttling. A rerun skips
// what is already under the new key, so an interrupted run is simply run again.
import { DecryptCommand, ReEncryptCommand, type KMSClient } from "@aws-sdk/client-kms";
import type { Database } from "../db/index.js";
import { decodeStored, encodeLike, open, parseEnvelope, parseWrappedDek, type RowRef } from "../envelope/index.js";
import { awsErrorName, DropkeysError, failure, isDropkeysError } from "../errors.js";
import type { JournalVerification } from "../journal/journal.js";
import type { ReencryptTable } from "../policy/database-section.js";

export interface KeyRef {
  keyId: string;
  arn: string;
}

export interface ReencryptOptions {
  db: Database;
  tables: ReencryptTable[];
  kms: KMSClient;
  from: KeyRef;
  to: KeyRef;
  /** Length of the wrapped DEK at the front of an envelope (policy or measured). */
  wrappedDekBytes: number;
  concurrency?: number;
  /** Lost compare-and-set races per row before the row counts as failed. */
  maxRaceRetries?: number;
  pageSize?: number;
  /** Rows decrypted under the new key at the end, as verification. */
  sampleSize?: number;
  /** Stops taking new rows (Ctrl-C, SIGTERM); rows in flight finish. */
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** Test hook: runs between the ReEncrypt and the compare-and-set write of a row. */
  beforeWrite?: (table: string, id: unknown) => void | Promise<void>;
  backoff?: BackoffOptions;
}

export interface Progress {
  table: string;
  scanned: number;
  rewrapped: number;
  total: number;
}

export interface TableResult {
  table: string;
  column: string;
  format: ReencryptTable["format"];
  classification: ReencryptTable["classification"];
  /** Rows with a value when the table was started (progress denominator). */
  total: number;
  scanned: number;
  rewrapped: number;
  /** Already under the new key (an earlier run did it): skipped. */
  alreadyNew: number;
  /** Under neither key (KMS: IncorrectKeyException, or another source key): left alone. */
  otherKey: number;
  /** Erased or deleted while we worked on it. */
  gone: number;
  /** Compare-and-set writes lost to a concurrent write, each retried from a fresh read. */
  lostRaces: number;
  corrupt: { id: unknown; problem: string }[];
  failed: { id: unknown; error: string }[];
}

export interface ReencryptResult {
  tables: TableResult[];
  durationMs: number;
  throttled: number;
  interrupted: boolean;
  /** Rows under the new key picked at random for the verification. */
  sample: { table: string; id: unknown }[];
}

export function totals(result: Pick<ReencryptResult, "tables">) {
  const sum = (f: (t: TableResult) => number) => result.tables.reduce((n, t) => n + f(t), 0);
  return {
    scanned: sum((t) => t.scanned),
    rewrapped: sum((t) => t.rewrapped),
    alreadyNew: sum((t) => t.alreadyNew),
    otherKey: sum((t) => t.otherKey),
    gone: sum((t) => t.gone),
    lostRaces: sum((t) => t.lostRaces),
    corrupt: sum((t) => t.corrupt.length),
    failed: sum((t) => t.failed.length),
  };
}

type RowOutcome = "rewrapped" | "alreadyNew" | "otherKey" | "gone";

export async function reencrypt(options: ReencryptOptions): Promise<ReencryptResult> {
  const started = Date.now();
  const concurrency = Math.max(1, Math.min(64, options.concurrency ?? 8));
  const sampler = new Reservoir<{ table: string; id: unknown }>(options.sampleSize ?? 20);
  const result: ReencryptResult = { tables: [], durationMs: 0, throttled: 0, interrupted: false, sample: [] };
  let fatal: unknown;

  for (const table of options.tables) {
    if (options.signal?.aborted || fatal) break;
    const [count] = await options.db.query<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${table.table} WHERE ${table.column} IS NOT NULL`);
    const t: TableResult = {
      table: table.table,
      column: table.column,
      format: table.format,
      classification: table.classification,
      total: Number(count?.n ?? 0),
      scanned: 0,
      rewrapped: 0,
      alreadyNew: 0,
      otherKey: 0,
      gone: 0,
      lostRaces: 0,
      corrupt: [],
      failed: [],
    };
    result.tables.push(t);
    const rows = scanRows(options.db, table, options.pageSize ?? 500);
    const writer = new GroupCommitWriter(options.db);
    const slots = new Semaphore(concurrency);
    const worker = async () => {
      for (;;) {
        if (options.signal?.aborted || fatal) return;
        let next: IteratorResult<{ id: unknown; value: unknown }>;
        try {
          next = await rows.next();
        } catch (error) {
          fatal ??= error;
          return;
        }
        if (next.done) return;
        const row = next.value;
        t.scanned++;
        try {
          const outcome = await rewrapRow(options, table, row, t, (n) => (result.throttled += n), writer, slots);
          t[outcome]++;
          // Only rows this run rewrapped are sampled: the verification is of its own work.
          if (outcome === "rewrapped") sampler.add({ table: table.table, id: row.id });
        } catch (error) {
          if (stoppedByAbort(error, options.signal)) {
            // Stopped while waiting (backoff, or the call in flight): the row is untouched.
            t.scanned--;
            return;
          }
          if (isDropkeysError(error) && error.code === "envelope.corrupt") t.corrupt.push({ id: row.id, problem: String(error.details?.problem) });
          else if (error instanceof RowFailure) t.failed.push({ id: row.id, error: error.message });
          else fatal ??= error;
        }
        options.onProgress?.({ table: table.table, scanned: t.scanned, rewrapped: t.rewrapped, total: t.total });
      }
    };
    // Rows waiting for their commit do not hold a KMS slot: more rows than slots are in flight.
    await Promise.all(Array.from({ length: Math.max(concurrency * 4, 64) }, worker));
    await rows.return(undefined);
  }
  result.interrupted = options.signal?.aborted === true;
  result.durationMs = Date.now() - started;
  result.sample = sampler.items();
  if (fatal) throw withPartial(fatal, result);
  return result;
}

/** A row that could not be done (lost too many races, refused by KMS); the run goes on. */
class RowFailure extends Error {}

const REFUSED_ROW = new Set(["AccessDeniedException", "NotFoundException"]);

/** Whether a failure is the run being stopped (Ctrl-C, SIGTERM, a time limit) rather than the row. */
function stoppedByAbort(error: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true && (error instanceof StoppedError || awsErrorName(error) === "AbortError");
}

/** Thrown by withBackoff when the signal stops the wait. */
export class StoppedError extends Error {
  constructor() {
    super("stopped");
    this.name = "StoppedError";
  }
}

async function rewrapRow(
  options: ReencryptOptions,
  table: ReencryptTable,
  row: { id: unknown; value: unknown },
  t: TableResult,
  throttled: (n: number) => void,
  writer: GroupCommitWriter,
  slots: Semaphore,
): Promise<RowOutcome> {
  const len = options.wrappedDekBytes;
  const ref: RowRef = { table: table.table, column: table.column, id: row.id };
  let value = row.value;
  for (let attempt = 0; ; attempt++) {
    const bytes = decodeStored(value, ref);
    const wrapped = table.format === "envelope" ? parseEnvelope(value, len, ref).wrappedDek : parseWrappedDek(value, len, ref);
    let out;
    try {
      out = await slots.run(() =>
        withBackoff(
          () => options.kms.send(new ReEncryptCommand({ CiphertextBlob: wrapped, SourceKeyId: options.from.arn, DestinationKeyId: options.to.arn }), options.signal ? { abortSignal: options.signal } : {}),
          { ...options.backoff, signal: options.signal, onThrottle: () => throttled(1) },
        ),
      );
    } catch (error) {
      const name = awsErrorName(error);
      // AWS: the DEK is not wrapped under the source key (already re-encrypted, or another key).
      if (name === "IncorrectKeyException") return "otherKey";
      // KMS refuses this one DEK (a key policy or grant that does not cover it, a key that is
      // gone): the row is listed and skipped, the run goes on.
      if (name && REFUSED_ROW.has(name)) throw new RowFailure(`KMS refused the wrapped DEK: ${name}`);
      if (name === "InvalidCiphertextException") {
        throw failure(`${table.table} row ${JSON.stringify(row.id)}: KMS cannot read the wrapped DEK`, {
          code: "envelope.corrupt",
          details: { table: table.table, id: row.id, problem: "KMS rejects the wrapped DEK (InvalidCiphertextException)" },
        });
      }
      throw error;
    }
    // Implementations that ignore SourceKeyId still say which key the DEK was under.
    if (out.SourceKeyId && out.SourceKeyId !== options.from.arn) return out.SourceKeyId === options.to.arn ? "alreadyNew" : "otherKey";
    const blob = Buffer.from(out.CiphertextBlob ?? new Uint8Array());
    if (blob.length !== len) {
      // The format has no length field: a different size would make every envelope unreadable.
      throw failure(`ReEncrypt returned a ${blob.length}-byte wrapped DEK, but envelopes hold ${len} bytes: nothing more is written`, {
        code: "reencrypt.dek-length",
        hint: "Both keys must be symmetric KMS keys of the same KMS; check --to and the policy's envelope.wrappedDekBytes.",
      });
    }
    const next = table.format === "envelope" ? Buffer.concat([blob, bytes.subarray(len)]) : blob;
    await options.beforeWrite?.(table.table, row.id);
    const changes = await writer.write(`UPDATE ${table.table} SET ${table.column} = ? WHERE ${table.id} = ? AND ${table.column} = ?`, [
      encodeLike(value, next),
      row.id,
      value,
    ]);
    if (changes === 1) return "rewrapped";
    // Lost the race: the app wrote this row meanwhile. Start again from what it wrote.
    t.lostRaces++;
    const fresh = await options.db.query<{ v: unknown }>(`SELECT ${table.column} AS v FROM ${table.table} WHERE ${table.id} = ?`, [row.id]);
    if (fresh.length === 0 || fresh[0]!.v === null || fresh[0]!.v === undefined) return "gone";
    value = fresh[0]!.v;
    if (attempt + 1 >= (options.maxRaceRetries ?? 5)) throw new RowFailure(`lost ${attempt + 1} compare-and-set races to concurrent writes; rerun to finish it`);
  }
}

/**
 * Compare-and-set writes of concurrent workers share commits: each UPDATE is its own atomic
 * compare-and-set (a record is rewrapped whole or not at all), but one transaction carries all
 * the writes that arrived while the previous commit was being flushed to disk. A commit costs an
 * fsync; per-row commits would cap the rate at the disk's fsync rate.
 */
const GROUP_COMMIT_WINDOW_MS = 50;

class GroupCommitWriter {
  private pending: { sql: string; params: unknown[]; resolve(changes: number): void; reject(error: unknown): void }[] = [];
  private running = false;

  constructor(private readonly db: Database) {}

  write(sql: string, params: unknown[]): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ sql, params, resolve, reject });
      if (!this.running) {
        this.running = true;
        // A short window gathers more writes per commit (SQLite's commit blocks the event loop).
        setTimeout(() => void this.flush(), GROUP_COMMIT_WINDOW_MS);
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        const changes = await this.db.transaction(async (tx) => {
          const out: number[] = [];
          for (const w of batch) out.push((await tx.execute(w.sql, w.params)).changes);
          return out;
        });
        batch.forEach((w, i) => w.resolve(changes[i]!));
      } catch (error) {
        batch.forEach((w) => w.reject(error));
      }
    }
    this.running = false;
  }
}

/** Rows with a value, in id order, a page at a time (keyset pagination: no OFFSET, no full load). */
async function* scanRows(db: Database, table: ReencryptTable, pageSize: number): AsyncGenerator<{ id: unknown; value: unknown }> {
  const base = `SELECT ${table.id} AS id, ${table.column} AS v FROM ${table.table} WHERE ${table.column} IS NOT NULL`;
  let last: unknown;
  let first = true;
  for (;;) {
    const rows = first
      ? await db.query<{ id: unknown; v: unknown }>(`${base} ORDER BY ${table.id} LIMIT ?`, [pageSize])
      : await db.query<{ id: unknown; v: unknown }>(`${base} AND ${table.id} > ? ORDER BY ${table.id} LIMIT ?`, [last, pageSize]);
    first = false;
    for (const row of rows) yield { id: row.id, value: row.v };
    if (rows.length < pageSize) return;
    last = rows[rows.length - 1]!.id;
  }
}

export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  maxAttempts?: number;
  signal?: AbortSignal | undefined;
  onThrottle?: () => void;
}

const THROTTLING = new Set(["ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"]);

/** Retries a call that KMS throttled, with exponential backoff and full jitter. */
export async function withBackoff<T>(fn: () => Promise<T>, options: BackoffOptions = {}): Promise<T> {
  const base = options.baseMs ?? 100;
  const cap = options.capMs ?? 5_000;
  const max = options.maxAttempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    // A row still queued for a KMS slot when the run is stopped is not started.
    if (options.signal?.aborted) throw new StoppedError();
    try {
      return await fn();
    } catch (error) {
      if (options.signal?.aborted) throw new StoppedError();
      if (!THROTTLING.has(awsErrorName(error) ?? "") || attempt >= max) throw error;
      options.onThrottle?.();
      const delay = Math.random() * Math.min(cap, base * 2 ** attempt);
      await abortableSleep(delay, options.signal);
      if (options.signal?.aborted) throw new StoppedError();
    }
  }
}

/** Wait `ms`, or less when the signal fires. */
function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** At most `n` calls at once (the --concurrency bound on KMS). */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** Uniform sample of k items from a stream of unknown length, in constant memory. */
class Reservoir<T> {
  private readonly kept: T[] = [];
  private seen = 0;
  constructor(private readonly k: number) {}
  add(item: T): void {
    this.seen++;
    if (this.kept.length < this.k) this.kept.push(item);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < this.k) this.kept[j] = item;
    }
  }
  items(): T[] {
    return [...this.kept];
  }
}

function withPartial(error: unknown, result: ReencryptResult): DropkeysError {
  const counts = totals(result);
  const done = `${counts.rewrapped} rewrapped before it stopped; a rerun skips those`;
  if (isDropkeysError(error)) {
    return new DropkeysError(error.kind, `${error.message} (${done})`, { code: error.code, hint: error.hint, details: { ...error.details, partial: counts }, cause: error });
  }
  const name = awsErrorName(error) ?? "Error";
  const hint =
    name === "DisabledException"
      ? "KMS cannot re-encrypt from a disabled key: rerun with --reenable-source (needs the approvals of `enable` as well)."
      : name === "KMSInvalidStateException"
        ? "The key is pending deletion: cancel the deletion first (dropkeys cancel-deletion)."
        : undefined;
  return failure(`re-encryption stopped: ${name}: ${(error as Error)?.message ?? String(error)} (${done})`, {
    code: `aws.${name}`,
    ...(hint ? { hint } : {}),
    details: { partial: counts },
    cause: error,
  });
}

/**
 * Verification: re-read the sampled rows and decrypt them under the new key (KMS Decrypt with
 * KeyId = the new key, then AES-GCM with the tag checked for full envelopes). Decrypted bytes are
 * zeroed at once and never shown.
 */
export async function verifySample(options: Pick<ReencryptOptions, "db" | "tables" | "kms" | "to" | "wrappedDekBytes">, sample: ReencryptResult["sample"]): Promise<JournalVerification> {
  let passed = 0;
  let skipped = 0;
  const problems: string[] = [];
  for (const item of sample) {
    const table = options.tables.find((t) => t.table === item.table)!;
    const ref: RowRef = { table: table.table, column: table.column, id: item.id };
    const [row] = await options.db.query<{ v: unknown }>(`SELECT ${table.column} AS v FROM ${table.table} WHERE ${table.id} = ?`, [item.id]);
    if (!row || row.v === null || row.v === undefined) {
      skipped++;
      continue;
    }
    try {
      const envelope = table.format === "envelope" ? parseEnvelope(row.v, options.wrappedDekBytes, ref) : undefined;
      const wrapped = envelope ? envelope.wrappedDek : parseWrappedDek(row.v, options.wrappedDekBytes, ref);
      const out = await options.kms.send(new DecryptCommand({ CiphertextBlob: wrapped, KeyId: options.to.arn }));
      const dek = Buffer.from(out.Plaintext ?? new Uint8Array());
      try {
        if (out.KeyId && out.KeyId !== options.to.arn) throw new Error(`decrypted under ${out.KeyId}, not the new key`);
        if (envelope) open(dek, envelope).fill(0);
      } finally {
        dek.fill(0);
      }
      passed++;
    } catch (error) {
      problems.push(`${table.table} row ${JSON.stringify(item.id)}: ${awsErrorName(error) ?? "Error"}: ${(error as Error).message}`);
    }
  }
  return {
    method: `a random sample of re-encrypted rows re-read and decrypted under the new key (KMS Decrypt with KeyId ${options.to.keyId}, AES-GCM tag checked)`,
    result: sample.length === 0 ? "skipped" : problems.length ? "failed" : "passed",
    detail: `${passed} of ${sample.length} sampled rows decrypted under the new key${skipped ? `, ${skipped} erased meanwhile` : ""}${problems.length ? `; failed: ${problems.slice(0, 5).join("; ")}` : ""}`,
    checkedAt: new Date().toISOString(),
    sampled: sample.length,
    decrypted: passed,
  };
}
