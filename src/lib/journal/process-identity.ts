// Who a process is, in a way that survives pid reuse: host, pid and the process's start time
// (field 22 of /proc/PID/stat on Linux, in clock ticks since boot). A lock or an intent naming a
// pid that is alive but started at another time belongs to a process that is gone.
import { readFileSync } from "node:fs";
import { hostname } from "node:os";

export interface ProcessIdentity {
  host: string;
  pid: number;
  /** /proc/PID/stat starttime; absent where /proc is not available. */
  start?: string | undefined;
}

/** The start time of a running process, or undefined (no /proc, or no such process). */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19];
  } catch {
    return undefined;
  }
}

export function currentProcess(): ProcessIdentity {
  return { host: hostname(), pid: process.pid, start: processStart(process.pid) };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Whether the process a record names has ended, as far as this host can tell: same host, and the
 * pid is gone or now belongs to a process that started at another time. Another host's process
 * cannot be checked, so it is never called dead.
 */
export function processGone(who: Partial<ProcessIdentity> | undefined): boolean {
  if (!who || who.host !== hostname() || !Number.isInteger(who.pid) || (who.pid ?? 0) <= 0) return false;
  if (who.pid === process.pid) return who.start !== undefined && who.start !== processStart(process.pid);
  if (!pidAlive(who.pid!)) return true;
  if (who.start === undefined) return false;
  const now = processStart(who.pid!);
  return now !== undefined && now !== who.start;
}
