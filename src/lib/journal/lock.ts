// A cross-process exclusive lock on a lock file (O_EXCL create). Bounded wait, then a clear
// error naming the holder; a lock left by a dead process on this host is taken over.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { journalError } from "../errors.js";

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
  command: string;
}

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));
/** Synchronous sleep: appends are synchronous so a crash can never interleave half an entry. */
function sleepSync(ms: number): void {
  Atomics.wait(sleepBuffer, 0, 0, ms);
}

function readHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LockHolder;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The holder of a lock left by a process on this host that has died (kill -9), if that is so. */
export function deadHolder(file: string, self = process.pid): LockHolder | undefined {
  const holder = readHolder(file);
  return holder && holder.host === hostname() && holder.pid !== self && !isAlive(holder.pid) ? holder : undefined;
}

/**
 * Run `fn` holding the lock; waits at most `timeoutMs` for another holder. `fn` learns whether
 * the lock was taken over from a process that died holding it: that process was killed midway.
 */
export function withLock<T>(file: string, timeoutMs: number, fn: (tookOverFromDead: boolean) => T): T {
  const deadline = Date.now() + timeoutMs;
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    command: process.argv.slice(2, 4).join(" "),
  };
  let delay = 1;
  let tookOverFromDead = false;
  for (;;) {
    try {
      const fd = openSync(file, "wx", 0o600);
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      break;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") {
        throw journalError(`cannot create the journal lock ${file}: ${code ?? String(error)}`, {
          hint: "Check that the journal directory exists and is writable by this user.",
          cause: error,
        });
      }
      const holder = readHolder(file);
      if (deadHolder(file, me.pid)) {
        // The holder died (kill -9) while holding the lock: the lock is stale, not the journal.
        try {
          unlinkSync(file);
          tookOverFromDead = true;
        } catch {
          /* another waiter removed it first */
        }
        continue;
      }
      if (Date.now() >= deadline) {
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
