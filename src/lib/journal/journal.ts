// The internkontroll journal: append-only JSON lines, each holding the SHA-256 of the previous
// entry, so editing, deleting, reordering or inserting a line breaks the chain. Appends are
// locked across processes and fsynced before they return; nothing happens that is not
// journalled first, so any failure here is fatal to the operation (exit 5).
import { closeSync, existsSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, statSync, truncateSync, unlinkSync, writeSync, fstatSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import path from "node:path";
import { canonicalJson, sha256Hex } from "../canonical.js";
import { isDropkeysError, journalError } from "../errors.js";
import { leakedSecret } from "../sensitive.js";
import { deadHolder, describeErrno, withLock } from "./lock.js";
import { renderMarkdown } from "./markdown.js";
import { currentProcess, processGone } from "./process-identity.js";
import type { Actor, JournalApproval, JournalVerification, JournalRecord, JournalEntry, JournalProblem, JournalVerifyReport } from "./entry.js";

export type { Actor, JournalApproval, JournalVerification, JournalRecord, JournalEntry, JournalProblem, JournalVerifyReport };

export const GENESIS = "0".repeat(64);
export const JOURNAL_FILE = "internkontroll.jsonl";
export const MARKDOWN_FILE = "internkontroll.md";
export const HEAD_FILE = "internkontroll.head";
export const LOCK_FILE = "internkontroll.lock";

export const REPAIR_OPERATION = "journal-repair";

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
  /** The chain as this process last saw it: a journal that shrinks or vanishes during a run is exit 5. */
  private seen: Head | undefined;

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
        const repairs = this.repairInterruptedAppend(tookOverFromDead);
        const tail = this.readTailContinuous();
        if (repairs.length > 0) this.writeEntry(tail, repairRecord(repairs));
      });
      if (existsSync(this.file)) {
        const fd = openSync(this.file, "a");
        closeSync(fd);
      }
    });
  }

  /**
   * Append one entry: locked, chained to the last one, fsynced; returns the written entry. Atomic
   * as a whole: if any of its writes fails, the JSONL line and the markdown are cut back to where
   * they were and the head is not moved, so the entry is either recorded or not at all.
   */
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
        const repairs = this.repairInterruptedAppend(tookOverFromDead);
        let tail = this.readTailContinuous();
        if (repairs.length > 0) {
          const event = this.writeEntry(tail, repairRecord(repairs, record.actor));
          tail = { seq: event.seq, hash: event.hash };
        }
        if (record.type === "outcome" && record.intentSeq !== undefined && record.intentSeq > tail.seq) {
          throw journalError(`the journal in ${this.dir} holds ${tail.seq} entries, but this outcome belongs to intent #${record.intentSeq}: the journal was removed or replaced during the run`, {
            code: "journal.missing",
            hint: "Restore the journal from its backup or S3 mirror; nothing is written to a new chain.",
          });
        }
        const withProcess = record.type === "intent" && !record.process ? { ...record, process: currentProcess() } : record;
        return this.writeEntry(tail, withProcess);
      });
    });
  }

  /** Write one entry after `tail`: JSONL line (the record), markdown, head; undone whole on failure. */
  private writeEntry(tail: Head, record: JournalRecord): JournalEntry {
    const body: Omit<JournalEntry, "hash"> = {
      seq: tail.seq + 1,
      time: new Date().toISOString(),
      ...stripUndefined(record),
      prev: tail.hash,
    } as Omit<JournalEntry, "hash">;
    const entry = { ...body, hash: entryHash(body) } as JournalEntry;
    const jsonlSize = sizeOf(this.file);
    const markdownSize = sizeOf(this.markdownFile);
    let stage = JOURNAL_FILE;
    try {
      appendDurably(this.file, JSON.stringify(entry) + "\n");
      stage = MARKDOWN_FILE;
      appendDurably(this.markdownFile, renderMarkdown(entry, { header: markdownSize === 0 }));
      stage = HEAD_FILE;
      writeDurably(this.headFile, JSON.stringify({ seq: entry.seq, hash: entry.hash } satisfies Head) + "\n");
    } catch (error) {
      const undone = cutBack(this.file, jsonlSize) && cutBack(this.markdownFile, markdownSize);
      const what = `${entry.type} of ${entry.operation}${entry.target?.name ? ` ${entry.target.name}` : ""}`;
      throw journalError(
        `the journal in ${this.dir} cannot be written: ${describeErrno(error)} while writing ${stage}; entry #${entry.seq} (${what}) was ${undone ? "not recorded (its partial write was undone)" : "left partly written; the next append repairs it"}`,
        {
          code: "journal.unavailable",
          hint: "Free space or fix the permissions of the journal directory, then run the command again (no hand edits needed).",
          details: { errno: (error as NodeJS.ErrnoException).code, stage, entry: entry.seq, recorded: false },
          cause: error,
        },
      );
    }
    this.seen = { seq: entry.seq, hash: entry.hash };
    return entry;
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
    // An intent closed as `interrupted` (its process died) still counts as unfinished: resumable.
    const closed = new Set(entries.filter((e) => e.type === "outcome" && e.intentSeq !== undefined && e.outcome !== "interrupted").map((e) => e.intentSeq));
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
    // Only a process that died holding the lock can have left a line half written.
    const crashed = deadHolder(this.lockFile) !== undefined;
    const intentSeqs = new Set<number>();
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
          interruptedAppend = `interrupted write, repairable: entry #${parsed.length + 1} was cut off while being written (never acknowledged); the next operation removes it`;
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
      if (entry.type === "intent") intentSeqs.add(entry.seq);
      if (entry.type === "outcome" && entry.intentSeq !== undefined && !intentSeqs.has(entry.intentSeq)) {
        problems.push({ line: lineNo, kind: "orphan-outcome", message: `entry #${entry.seq} is the outcome of intent #${entry.intentSeq}, which this journal does not hold: the journal was restarted or entries replaced` });
      }
      parsed.push(entry);
      prevHash = hash;
      expectedSeq++;
    }
    if (problems.length === 0) {
      const head = this.readHead();
      const last = parsed[parsed.length - 1];
      const headEntry = head ? parsed[head.seq - 1] : undefined;
      if (head && last && head.seq < last.seq && headEntry?.hash === head.hash) {
        // Every entry after the head chains from it: a write that stopped before the head (derived) moved.
        interruptedAppend = `interrupted write, repairable: entr${last.seq - head.seq > 1 ? `ies #${head.seq + 1}-#${last.seq} were` : `y #${last.seq} was`} recorded but ${HEAD_FILE} not yet updated; the next operation completes it`;
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
    const repairs = parsed.filter((e) => e.type === "event" && e.operation === REPAIR_OPERATION).map((e) => `#${e.seq} (${e.time}): interrupted write repaired: ${e.state ?? ""}`);
    return { ok: problems.length === 0, entries: parsed.length, head: prevHash, problems, openIntents, interruptedAppend, repairs };
  }

  /**
   * Repairs what an interrupted append can leave, under the lock, and says what it did (journalled
   * as a `journal-repair` event). The JSONL is the record; the head and the markdown are derived
   * and are brought up to the JSONL whenever they are behind: the entries past the head must chain
   * from it. A cut-off last line is removed only when the lock was taken over from a process that
   * died holding it and the head names the entry before it (else it is damage, refused by readTail).
   */
  private repairInterruptedAppend(tookOverFromDead: boolean): string[] {
    const repairs: string[] = [];
    removeStaleTempFiles(this.dir);
    if (!existsSync(this.file)) return repairs;
    const size = statSync(this.file).size;
    if (size === 0) return repairs;
    const head = this.readHead();
    const fd = openSync(this.file, "r+");
    try {
      const lastByte = Buffer.alloc(1);
      readSync(fd, lastByte, 0, 1, size - 1);
      if (lastByte[0] !== 0x0a) {
        if (!tookOverFromDead) return repairs;
        // Work on bytes: a tail that starts inside a multi-byte character must not shift offsets.
        const tail = readTailBytes(fd, size, 1024 * 1024);
        const cut = tail.lastIndexOf(0x0a);
        const keep = cut < 0 ? 0 : size - tail.length + cut + 1; // bytes up to and including the last newline
        const before = cut < 0 ? "" : tail.subarray(0, cut).toString("utf8").split("\n").pop() ?? "";
        const previous = before ? safeParse(before) : undefined;
        const matches = previous ? head?.seq === previous.seq && head.hash === previous.hash : cut < 0 && tail.length === size && !head;
        if (!matches) return repairs;
        ftruncateSync(fd, keep);
        fsyncSync(fd);
        repairs.push(`cut ${size - keep} byte(s) of entry #${(previous?.seq ?? 0) + 1}, cut off while being written and never acknowledged`);
      }
    } finally {
      closeSync(fd);
    }
    const last = safeParse(readLastLine(this.file) ?? "");
    if (!last) return repairs;
    const { hash, ...body } = last;
    if (entryHash(body) !== hash) return repairs;
    let entries: JournalEntry[] | undefined;
    if (head ? head.seq < last.seq : last.seq === 1 && last.prev === GENESIS) {
      entries = this.entries();
      if (!chainsFrom(entries, head)) return repairs;
      writeDurably(this.headFile, JSON.stringify({ seq: last.seq, hash } satisfies Head) + "\n");
      repairs.push(`${HEAD_FILE} moved from #${head?.seq ?? 0} to #${last.seq} (the write stopped after the entry was recorded)`);
    }
    if (!markdownEndsWith(this.markdownFile, last)) {
      const from = rebuildMarkdown(this.markdownFile, entries ?? this.entries());
      repairs.push(`${MARKDOWN_FILE} rendered again from entry #${from}`);
    }
    return repairs;
  }

  /** readTail, refusing a chain that shrank or was replaced since this process last saw it. */
  private readTailContinuous(): Head {
    const tail = this.readTail();
    const seen = this.seen;
    if (seen && (tail.seq < seen.seq || (tail.seq === seen.seq && tail.hash !== seen.hash))) {
      throw journalError(`the journal in ${this.dir} changed during this run: it held entry #${seen.seq}, now ${tail.seq === 0 ? "nothing" : `#${tail.seq}`} (removed or replaced)`, {
        code: "journal.missing",
        hint: "Restore the journal from its backup or S3 mirror; dropkeys never starts a new chain in the middle of a run.",
      });
    }
    this.seen = tail;
    return tail;
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
    if (this.seen && this.seen.seq > 0 && !existsSync(this.dir)) {
      throw journalError(`the journal directory ${this.dir} disappeared during this run (it held entry #${this.seen.seq})`, {
        code: "journal.missing",
        hint: "Restore the journal from its backup or S3 mirror; dropkeys never starts a new chain in the middle of a run.",
      });
    }
    mkdirSync(this.dir, { recursive: true });
  }

  /** Turn any file-system failure into exit 5; the operation must not go on. */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (isDropkeysError(error)) throw error;
      throw journalError(`the journal in ${this.dir} cannot be written: ${describeErrno(error)}`, {
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

/** Write all of `bytes`: a short write is continued, and a failure (ENOSPC...) thrown. */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  let written = 0;
  while (written < bytes.length) {
    const n = writeSync(fd, bytes, written, bytes.length - written);
    if (n <= 0) throw Object.assign(new Error("the write made no progress"), { code: "EIO" });
    written += n;
  }
}

function appendDurably(file: string, text: string): void {
  const fd = openSync(file, "a", 0o640);
  try {
    writeAll(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeDurably(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, "w", 0o640);
    try {
      writeAll(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created, or renamed */
    }
    throw error;
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Undo a failed append: cut the file back to its size before (never needs disk space). */
function cutBack(file: string, size: number): boolean {
  try {
    if (sizeOf(file) === size) return true;
    truncateSync(file, size);
    const fd = openSync(file, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch {
    return false;
  }
}

/** Temporary files (head, lock) of processes that are gone: never left behind. */
function removeStaleTempFiles(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = /^internkontroll\.(?:head|lock)\.(\d+)(?:\.[a-z0-9]+)?\.tmp$|^internkontroll\.lock\.stale\.(\d+)$/.exec(name);
    const pid = Number(match?.[1] ?? match?.[2]);
    if (!match || pid === process.pid || !processGone({ host: hostname(), pid })) continue;
    try {
      unlinkSync(path.join(dir, name));
    } catch {
      /* removed by another process */
    }
  }
}

/** The entries after `head` chain from it, each with its own hash right. */
function chainsFrom(entries: JournalEntry[], head: Head | undefined): boolean {
  let prev = head?.hash ?? GENESIS;
  let seq = head?.seq ?? 0;
  if (head && entries[head.seq - 1]?.hash !== head.hash) return false;
  for (const entry of entries.slice(seq)) {
    const { hash, ...body } = entry;
    if (entry.prev !== prev || entry.seq !== seq + 1 || entryHash(body) !== hash) return false;
    prev = hash;
    seq = entry.seq;
  }
  return true;
}

/** The event entry that records a repair. */
function repairRecord(repairs: string[], actor?: Actor): JournalRecord {
  return {
    type: "event",
    operation: REPAIR_OPERATION,
    actor: actor ?? { aws: "unknown (journal repair)", osUser: safeUser(), host: hostname() },
    state: repairs.join("; "),
    details: { repairs },
  };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return "unknown";
  }
}

/** Whether internkontroll.md ends with the rendering of `entry` (it is written right after the JSONL line). */
function markdownEndsWith(file: string, entry: JournalEntry): boolean {
  const expected = Buffer.from(renderMarkdown(entry, { header: false }), "utf8");
  const size = sizeOf(file);
  if (size < expected.length) return false;
  const fd = openSync(file, "r");
  try {
    return readTailBytes(fd, size, expected.length).equals(expected);
  } finally {
    closeSync(fd);
  }
}

/** Cut internkontroll.md at its last entry heading and render every entry from there; returns that seq. */
function rebuildMarkdown(file: string, entries: JournalEntry[]): number {
  const size = sizeOf(file);
  let from = 1;
  let keep = 0;
  if (size > 0) {
    const fd = openSync(file, "r");
    let tail: Buffer;
    try {
      tail = readTailBytes(fd, size, 1024 * 1024);
    } finally {
      closeSync(fd);
    }
    const text = tail.toString("latin1"); // one char per byte: indexes are byte offsets
    const headings = [...text.matchAll(/(?:^|\n)## #(\d+) /g)];
    const lastHeading = headings[headings.length - 1];
    const seq = lastHeading ? Number(lastHeading[1]) : 0;
    if (lastHeading && seq >= 1 && seq <= entries.length) {
      from = seq;
      keep = size - tail.length + lastHeading.index + (lastHeading[0].startsWith("\n") ? 1 : 0);
    }
  }
  if (size > 0) truncateSync(file, keep);
  const text = entries.slice(from - 1).map((e) => renderMarkdown(e, { header: keep === 0 && e === entries[from - 1] })).join("");
  appendDurably(file, text);
  return from;
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
