// A cross-process exclusive lock on a lock file. The holder (host, pid, process start time,
// command) is written to a temporary file first and linked into place in one step, so a lock
// file without its holder never exists. Bounded wait, then a clear error naming the holder. A lock
// is stale, and taken over at once, when its holder on this host has died or its pid now belongs
// to another process (pid reuse: the start time differs); an empty or unreadable lock (left by an
// older version) is taken over after a short grace period.
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { journalError } from "../errors.js";
import { processGone, processStart } from "./process-identity.js";

export interface LockHolder {
  pid: number;
  host: string;
  /** /proc/PID/stat starttime of the holder (Linux). */
  start?: string | undefined;
  since: string;
  command: string;
}

/** How long an empty or unreadable lock file is given before it is taken over. */
export const UNREADABLE_LOCK_GRACE_MS = 1_000;

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
/** Synchronous sleep: appends are synchronous so a crash can never interleave half an entry. */
function sleepSync(ms: number): void {
  Atomics.wait(sleepBuffer, 0, 0, ms);
}

function readLock(file: string): { text: string; holder: LockHolder | undefined } | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    const holder = JSON.parse(text) as LockHolder;
    return { text, holder: holder && typeof holder.pid === "number" && typeof holder.host === "string" ? holder : undefined };
  } catch {
    return { text, holder: undefined };
  }
}

/** The holder of a lock left by a process on this host that has died or whose pid was reused. */
export function deadHolder(file: string): LockHolder | undefined {
  const holder = readLock(file)?.holder;
  return holder && holder.pid !== process.pid && processGone(holder) ? holder : undefined;
}

/** Why a lock may be taken over now, or undefined while its holder may still be working. */
function staleReason(file: string, lock: { holder: LockHolder | undefined }): string | undefined {
  if (lock.holder) {
    if (lock.holder.pid === process.pid && lock.holder.host === hostname()) return undefined;
    return processGone(lock.holder) ? `its holder, pid ${lock.holder.pid}, is no longer running` : undefined;
  }
  try {
    const age = Date.now() - statSync(file).mtimeMs;
    return age >= UNREADABLE_LOCK_GRACE_MS ? "it was empty or unreadable" : undefined;
  } catch {
    return undefined;
  }
}

/** Write the holder to a temporary file and link it into place: the lock appears whole or not at all. */
function tryCreate(file: string, me: LockHolder): boolean {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  try {
    const fd = openSync(tmp, "wx", 0o600);
    try {
      const bytes = Buffer.from(JSON.stringify(me));
      let written = 0;
      while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(tmp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw journalError(`cannot create the journal lock ${file}: ${describeErrno(error)}`, {
      code: "journal.unavailable",
      hint: "Nothing was done. Check that the journal directory exists, is writable by this user and its disk has space.",
      details: { errno: (error as NodeJS.ErrnoException).code },
      cause: error,
    });
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* never created */
    }
  }
}

/** Move a stale lock aside, checking it is still the one judged stale (another waiter may have won). */
function takeOver(file: string, judged: string): boolean {
  const aside = `${file}.stale.${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return false;
  }
  let text: string | undefined;
  try {
    text = readFileSync(aside, "utf8");
  } catch {
    text = undefined;
  }
  if (text !== judged) {
    // Not the stale lock any more: a live holder's. Put it back.
    try {
      linkSync(aside, file);
    } catch {
      /* a third process holds it now */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
  return text === judged;
}

/**
 * Run `fn` holding the lock; waits at most `timeoutMs` for another holder. `fn` learns whether
 * the lock was taken over from a process that ended holding it: that process was killed midway.
 */
export function withLock<T>(file: string, timeoutMs: number, fn: (tookOverFromDead: boolean) => T): T {
  const deadline = Date.now() + timeoutMs;
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    start: processStart(process.pid),
    since: new Date().toISOString(),
    command: process.argv.slice(2, 4).join(" "),
  };
  let delay = 1;
  let tookOverFromDead = false;
  for (;;) {
    if (tryCreate(file, me)) break;
    const lock = readLock(file);
    if (!lock) continue; // released between our attempt and the read
    if (staleReason(file, lock) !== undefined) {
      if (takeOver(file, lock.text)) tookOverFromDead = true;
      continue;
    }
    if (Date.now() >= deadline) {
      const holder = lock.holder;
      const who = holder ? `pid ${holder.pid} on ${holder.host} (${holder.command || "dropkeys"}) since ${holder.since}` : "an unknown process";
      throw journalError(`the journal is locked by ${who}`, {
        code: "journal.locked",
        hint: `Wait for that command to finish. If no dropkeys runs any more, remove ${file}.`,
        details: { holder },
      });
    }
    sleepSync(delay);
    delay = Math.min(delay * 2, 50);
  }
  try {
    return fn(tookOverFromDead);
  } finally {
    try {
      unlinkSync(file);
    } catch {
      /* already gone */
    }
  }
}

/** "ENOSPC (no space left on device)": the errno with its meaning, for people. */
export function describeErrno(error: unknown): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const meaning: Record<string, string> = {
    ENOSPC: "no space left on device",
    EDQUOT: "disk quota exceeded",
    EPERM: "operation not permitted",
    EACCES: "permission denied",
    EROFS: "read-only file system",
    EIO: "input/output error",
    ENOENT: "no such file or directory",
  };
  if (!code) return String((error as Error)?.message ?? error);
  return meaning[code] ? `${code} (${meaning[code]})` : code;
}
