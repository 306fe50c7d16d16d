// The internkontroll journal: append-only JSON lines, each holding the SHA-256 of the previous
// entry, so editing, deleting, reordering or inserting a line breaks the chain. Appends are
// locked across processes and fsynced before they return; nothing happens that is not
// journalled first, so any failure here is fatal to the operation (exit 5).
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync, fstatSync } from "node:fs";
import path from "node:path";
import { canonicalJson, sha256Hex } from "../canonical.js";
import { isDropkeysError, journalError } from "../errors.js";
import { leakedSecret } from "../sensitive.js";
import { deadHolder, withLock } from "./lock.js";
import { renderMarkdown } from "./markdown.js";

export const GENESIS = "0".repeat(64);
export const JOURNAL_FILE = "internkontroll.jsonl";
export const MARKDOWN_FILE = "internkontroll.md";
export const HEAD_FILE = "internkontroll.head";
export const LOCK_FILE = "internkontroll.lock";

export interface Actor {
  /** AWS caller identity ARN (STS), or "unknown" when STS could not be reached. */
  aws: string;
  account?: string | undefined;
  osUser: string;
  host: string;
}

export interface JournalApproval {
  approver: string;
  role: string;
  signer: "ssh" | "kms";
  fingerprint: string;
  signature: string;
}

export interface JournalVerification {
  method: string;
  result: "passed" | "failed" | "partial" | "skipped";
  detail?: string | undefined;
  checkedAt?: string | undefined;
  [key: string]: unknown;
}

/** What a caller writes; the journal adds seq, time, prev and hash. */
export interface JournalRecord {
  type: "intent" | "outcome" | "event";
  operation: string;
  requestId?: string | undefined;
  /** The intent this outcome belongs to. */
  intentSeq?: number | undefined;
  target?: { name?: string; arn?: string; region?: string; kind?: string; [key: string]: unknown } | undefined;
  actor: Actor;
  reason?: string | undefined;
  incident?: string | undefined;
  approvals?: JournalApproval[] | undefined;
  /** The documented exception that let a single custodian approve alone. */
  exception?: string | undefined;
  params?: Record<string, unknown> | undefined;
  outcome?: "succeeded" | "failed" | "noop" | "interrupted" | undefined;
  verification?: JournalVerification | undefined;
  error?: { code: string; message: string } | undefined;
  /** What state AWS was left in, and what to run next (failures). */
  state?: string | undefined;
  next?: string[] | undefined;
  details?: Record<string, unknown> | undefined;
}

export interface JournalEntry extends JournalRecord {
  seq: number;
  time: string;
  prev: string;
  hash: string;
}

export interface JournalProblem {
  line: number;
  kind: "edited" | "deleted" | "reordered" | "inserted" | "truncated" | "unparseable";
  message: string;
}

export interface JournalVerifyReport {
  ok: boolean;
  entries: number;
  head: string;
  problems: JournalProblem[];
  /** Intents with no outcome: the process died between announcing and finishing. */
  openIntents: JournalEntry[];
  /** An append killed midway (not tampering): the next append finishes or undoes it. */
  interruptedAppend?: string | undefined;
}

interface Head {
  seq: number;
  hash: string;
}

export function entryHash(entry: Omit<JournalEntry, "hash">): string {
  return sha256Hex(canonicalJson(entry));
}

export interface JournalOptions {
  /** Longest wait for another process's append before giving up (exit 5). */
  lockTimeoutMs?: number;
}

export class Journal {
  readonly dir: string;
  readonly file: string;
  readonly markdownFile: string;
  private readonly headFile: string;
  private readonly lockFile: string;
  private readonly lockTimeoutMs: number;

  constructor(dir: string, options: JournalOptions = {}) {
    this.dir = path.resolve(dir);
    this.file = path.join(this.dir, JOURNAL_FILE);
    this.markdownFile = path.join(this.dir, MARKDOWN_FILE);
    this.headFile = path.join(this.dir, HEAD_FILE);
    this.lockFile = path.join(this.dir, LOCK_FILE);
    this.lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  }

  /**
   * Before any mutating operation: the journal can be written and its tail is intact (the last
   * entry's hash is right and matches the head), so a broken or deleted journal stops us first.
   */
  checkWritable(): void {
    this.guard(() => {
      this.ensureDir();
      withLock(this.lockFile, this.lockTimeoutMs, (tookOverFromDead) => {
        if (tookOverFromDead) this.repairInterruptedAppend();
        return this.readTail();
      });
      if (existsSync(this.file)) {
        const fd = openSync(this.file, "a");
        closeSync(fd);
      }
    });
  }

  /** Append one entry: locked, chained to the last one, fsynced; returns the written entry. */
  append(record: JournalRecord): JournalEntry {
    return this.guard(() => {
      const text = JSON.stringify(record);
      const leaked = leakedSecret(text);
      if (leaked) {
        throw journalError(`refusing to journal an entry that contains a secret value (${leaked})`, {
          code: "journal.secret",
          hint: "This is a bug in dropkeys: secret values must never reach the journal.",
        });
      }
      this.ensureDir();
      return withLock(this.lockFile, this.lockTimeoutMs, (tookOverFromDead) => {
        if (tookOverFromDead) this.repairInterruptedAppend();
        const tail = this.readTail();
        const body: Omit<JournalEntry, "hash"> = {
          seq: tail.seq + 1,
          time: new Date().toISOString(),
          ...stripUndefined(record),
          prev: tail.hash,
        } as Omit<JournalEntry, "hash">;
        const entry = { ...body, hash: entryHash(body) } as JournalEntry;
        appendDurably(this.file, JSON.stringify(entry) + "\n");
        appendDurably(this.markdownFile, renderMarkdown(entry, { header: tail.seq === 0 }));
        writeDurably(this.headFile, JSON.stringify({ seq: entry.seq, hash: entry.hash } satisfies Head) + "\n");
        return entry;
      });
    });
  }

  /** Every entry, parsed; lines that do not parse are skipped here (verify() reports them). */
  entries(): JournalEntry[] {
    if (!existsSync(this.file)) return [];
    const out: JournalEntry[] = [];
    for (const line of readFileSync(this.file, "utf8").split("\n")) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as JournalEntry);
      } catch {
        /* reported by verify() */
      }
    }
    return out;
  }

  /** Whether an approval request id was ever used: a request runs once (no replay). */
  hasRequestId(id: string): boolean {
    return this.entries().some((e) => e.type === "intent" && e.requestId === id);
  }

  /**
   * Whether a request's intent was journalled but nothing closed it: the process died while
   * carrying it out. A resumable operation may run that same approved request again.
   */
  isInterruptedRequest(id: string): boolean {
    const entries = this.entries();
    const intents = entries.filter((e) => e.type === "intent" && e.requestId === id).map((e) => e.seq);
    if (intents.length === 0) return false;
    const closed = new Set(entries.filter((e) => e.type === "outcome" && e.intentSeq !== undefined).map((e) => e.intentSeq));
    return intents.every((seq) => !closed.has(seq));
  }

  /** Walk the whole chain; name the first bad line and why. */
  verify(): JournalVerifyReport {
    const problems: JournalProblem[] = [];
    const parsed: JournalEntry[] = [];
    let text = "";
    if (existsSync(this.file)) text = readFileSync(this.file, "utf8");
    else if (existsSync(this.headFile)) {
      problems.push({ line: 1, kind: "deleted", message: `${JOURNAL_FILE} is missing but ${HEAD_FILE} says entries were written` });
    }
    const lines = text.split("\n");
    const complete = text.endsWith("\n") || text === "";
    let prevHash = GENESIS;
    let expectedSeq = 1;
    let interruptedAppend: string | undefined;
    // Only a process that died holding the lock can have left an append half done.
    const crashed = deadHolder(this.lockFile) !== undefined;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const lineNo = i + 1;
      if (line === "" && i === lines.length - 1) break;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        const last = i === lines.length - 1 && !complete;
        const head = this.readHead();
        if (last && crashed && (head ? head.seq === parsed.length && head.hash === prevHash : parsed.length === 0)) {
          interruptedAppend = `entry #${parsed.length + 1} was cut off while being written (never acknowledged); the next operation removes it`;
          break;
        }
        problems.push({
          line: lineNo,
          kind: last ? "truncated" : "unparseable",
          message: last ? "the last line is cut off (a write was interrupted or the file was truncated)" : "not a JSON entry",
        });
        break;
      }
      const { hash, ...body } = entry;
      if (entryHash(body) !== hash) {
        problems.push({ line: lineNo, kind: "edited", message: `entry #${entry.seq} does not match its own hash: its content was changed` });
        break;
      }
      if (entry.prev !== prevHash || entry.seq !== expectedSeq) {
        problems.push(describeBreak(lineNo, entry, expectedSeq, parsed));
        break;
      }
      parsed.push(entry);
      prevHash = hash;
      expectedSeq++;
    }
    if (problems.length === 0) {
      const head = this.readHead();
      const last = parsed[parsed.length - 1];
      if (crashed && head && last && head.seq === last.seq - 1 && head.hash === last.prev) {
        interruptedAppend = `entry #${last.seq} was written but ${HEAD_FILE} not yet updated (the process stopped); the next operation completes it`;
      } else if (head && (head.seq !== parsed.length || head.hash !== prevHash)) {
        problems.push(
          head.seq > parsed.length
            ? { line: parsed.length + 1, kind: "truncated", message: `the journal ends at entry #${parsed.length} but entry #${head.seq} was written: entries were removed from the end` }
            : { line: parsed.length, kind: "edited", message: `the last entry does not match ${HEAD_FILE} (entry #${head.seq})` },
        );
      }
    }
    const closed = new Set(parsed.filter((e) => e.type === "outcome" && e.intentSeq !== undefined).map((e) => e.intentSeq));
    const openIntents = parsed.filter((e) => e.type === "intent" && !closed.has(e.seq));
    return { ok: problems.length === 0, entries: parsed.length, head: prevHash, problems, openIntents, interruptedAppend };
  }

  /**
   * An append killed midway leaves its lock behind (a dead holder; only then is this called) and
   * one of two shapes, told apart from tampering by the head file: a cut-off last line that was
   * never acknowledged (the head still names the entry before it), which is removed; or a complete
   * last entry whose markdown and head were not written yet (the head names its predecessor),
   * which is completed. Runs under the lock.
   */
  private repairInterruptedAppend(): void {
    if (!existsSync(this.file)) return;
    const size = statSync(this.file).size;
    if (size === 0) return;
    const head = this.readHead();
    const fd = openSync(this.file, "r+");
    try {
      const lastByte = Buffer.alloc(1);
      readSync(fd, lastByte, 0, 1, size - 1);
      if (lastByte[0] !== 0x0a) {
        // Work on bytes: a tail that starts inside a multi-byte character must not shift offsets.
        const tail = readTailBytes(fd, size, 1024 * 1024);
        const cut = tail.lastIndexOf(0x0a);
        const keep = size - tail.length + cut + 1; // bytes up to and including the last newline
        const before = cut < 0 ? "" : tail.subarray(0, cut).toString("utf8").split("\n").pop() ?? "";
        const previous = before ? safeParse(before) : undefined;
        const matches = previous ? head?.seq === previous.seq && head.hash === previous.hash : cut < 0 && tail.length === size && !head;
        if (!matches) return; // damage, not a crash: readTail refuses it
        ftruncateSync(fd, cut < 0 ? 0 : keep);
        fsyncSync(fd);
        return;
      }
    } finally {
      closeSync(fd);
    }
    const last = safeParse(readLastLine(this.file) ?? "");
    if (!last) return;
    const { hash, ...body } = last;
    const behind = head ? head.seq === last.seq - 1 && head.hash === last.prev : last.seq === 1 && last.prev === GENESIS;
    if (entryHash(body) !== hash || !behind) return;
    if (!markdownHasEntry(this.markdownFile, last.seq)) {
      appendDurably(this.markdownFile, renderMarkdown(last, { header: !existsSync(this.markdownFile) }));
    }
    writeDurably(this.headFile, JSON.stringify({ seq: last.seq, hash } satisfies Head) + "\n");
  }

  private readHead(): Head | undefined {
    try {
      return JSON.parse(readFileSync(this.headFile, "utf8")) as Head;
    } catch {
      return undefined;
    }
  }

  /** The last entry's seq and hash, checked: its own hash, and agreement with the head file. */
  private readTail(): Head {
    const head = this.readHead();
    if (!existsSync(this.file)) {
      if (head && head.seq > 0) {
        throw journalError(`the journal ${this.file} is missing, but ${HEAD_FILE} says ${head.seq} entries were written`, {
          code: "journal.missing",
          hint: "Restore the journal from its backup or S3 mirror before running any operation.",
        });
      }
      return { seq: 0, hash: GENESIS };
    }
    const last = readLastLine(this.file);
    if (last === undefined) {
      if (head && head.seq > 0) {
        throw journalError(`the journal ${this.file} is empty, but ${HEAD_FILE} says ${head.seq} entries were written`, {
          code: "journal.truncated",
          hint: "Restore the journal from its backup or S3 mirror; `dropkeys log verify` shows the damage.",
        });
      }
      return { seq: 0, hash: GENESIS };
    }
    let entry: JournalEntry;
    try {
      entry = JSON.parse(last) as JournalEntry;
    } catch {
      throw journalError(`the last line of ${this.file} is not a journal entry (cut off or edited)`, {
        code: "journal.corrupt",
        hint: "Run `dropkeys log verify` to see the damage; restore the journal before running any operation.",
      });
    }
    const { hash, ...body } = entry;
    if (entryHash(body) !== hash || (head && (head.seq !== entry.seq || head.hash !== hash))) {
      throw journalError(`the journal's last entry (#${entry.seq}) fails its integrity check`, {
        code: "journal.corrupt",
        hint: "Run `dropkeys log verify` to see the damage; restore the journal before running any operation.",
      });
    }
    return { seq: entry.seq, hash };
  }

  private ensureDir(): void {
    mkdirSync(this.dir, { recursive: true });
  }

  /** Turn any file-system failure into exit 5; the operation must not go on. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isDropkeysError(error)) throw error;
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw journalError(`the journal in ${this.dir} cannot be written: ${code}`, {
        code: "journal.unavailable",
        hint: "Nothing was done. Fix the journal directory (permissions, disk space) or pass --journal DIR.",
        cause: error,
      });
    }
  }
}

function describeBreak(lineNo: number, entry: JournalEntry, expectedSeq: number, earlier: JournalEntry[]): JournalProblem {
  if (entry.seq > expectedSeq) {
    return { line: lineNo, kind: "deleted", message: `entry #${expectedSeq} is missing: line ${lineNo} holds #${entry.seq}` };
  }
  if (earlier.some((e) => e.seq === entry.seq) && entry.seq < expectedSeq - 1) {
    return { line: lineNo, kind: "reordered", message: `entry #${entry.seq} appears again after #${expectedSeq - 1}: lines were moved` };
  }
  if (entry.seq < expectedSeq) {
    return { line: lineNo, kind: entry.seq === expectedSeq - 1 ? "inserted" : "reordered", message: `entry #${entry.seq} comes after #${expectedSeq - 1}: lines were inserted or moved` };
  }
  return { line: lineNo, kind: "inserted", message: `entry #${entry.seq} does not follow the previous entry's hash: a line was inserted or replaced` };
}

function stripUndefined<T extends object>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function appendDurably(file: string, text: string): void {
  const fd = openSync(file, "a", 0o640);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDurably(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o640);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** The last non-empty line, read backwards in chunks (journals grow; the tail is all we need). */
function readLastLine(file: string): string | undefined {
  const size = statSync(file).size;
  if (size === 0) return undefined;
  const fd = openSync(file, "r");
  try {
    let chunk = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buffer = Buffer.alloc(size - start);
      readSync(fd, buffer, 0, buffer.length, start);
      const text = buffer.toString("utf8").replace(/\n+$/, "");
      const cut = text.lastIndexOf("\n");
      if (cut >= 0 || start === 0) return text.slice(cut + 1) || undefined;
      if (chunk >= fstatSync(fd).size) return text || undefined;
      chunk *= 4;
    }
  } finally {
    closeSync(fd);
  }
}

function safeParse(line: string): JournalEntry | undefined {
  try {
    return JSON.parse(line) as JournalEntry;
  } catch {
    return undefined;
  }
}

/** The last `max` bytes of an open file. */
function readTailBytes(fd: number, size: number, max: number): Buffer {
  const start = Math.max(0, size - max);
  const buffer = Buffer.alloc(size - start);
  readSync(fd, buffer, 0, buffer.length, start);
  return buffer;
}

/** Whether internkontroll.md already holds the rendering of entry `seq` (it is appended last). */
function markdownHasEntry(file: string, seq: number): boolean {
  if (!existsSync(file)) return false;
  const fd = openSync(file, "r");
  try {
    return readTailBytes(fd, fstatSync(fd).size, 256 * 1024).toString("utf8").includes(`\n## #${seq} `);
  } finally {
    closeSync(fd);
  }
}
