// The journal checks, read-only: the directory can be written, the lock is free, the chain is intact.
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Journal, JOURNAL_FILE, LOCK_FILE } from "../journal/journal.js";
import { deadHolder } from "../journal/lock.js";
import { ok, problem, reason, warning, type CheckResult } from "./check.js";

export function journalChecks(dir: string): CheckResult[] {
  const writable = directoryWritable(dir);
  if (writable.state === "problem") return [writable];
  return [writable, lockFree(dir), chainIntact(dir)];
}

function directoryWritable(dir: string): CheckResult {
  const fix = "Make the directory writable by this user (or pass --journal DIR / set DROPKEYS_JOURNAL to one that is).";
  try {
    if (!existsSync(dir)) {
      // The first operation creates it: the nearest existing parent must be a writable directory.
      let parent = path.dirname(dir);
      while (!existsSync(parent) && parent !== path.dirname(parent)) parent = path.dirname(parent);
      if (!statSync(parent).isDirectory()) return problem("journal.directory", `${dir} cannot be created: ${parent} is not a directory`, fix);
      accessSync(parent, constants.W_OK);
      return ok("journal.directory", `${dir} does not exist yet; the first operation creates it (in ${parent}, writable)`, { dir, exists: false });
    }
    if (!statSync(dir).isDirectory()) return problem("journal.directory", `${dir} is not a directory`, fix);
    accessSync(dir, constants.W_OK);
    const file = path.join(dir, JOURNAL_FILE);
    if (existsSync(file)) accessSync(file, constants.W_OK);
    return ok("journal.directory", `${dir} is writable`, { dir, exists: true });
  } catch (error) {
    return problem("journal.directory", `${dir} is not writable: ${(error as NodeJS.ErrnoException).code ?? reason(error)}; every operation would stop with exit 5`, fix, { dir });
  }
}

function lockFree(dir: string): CheckResult {
  const file = path.join(dir, LOCK_FILE);
  if (!existsSync(file)) return ok("journal.lock", "the journal lock is free");
  let holder: { pid?: number; host?: string; since?: string; command?: string } | undefined;
  try {
    holder = JSON.parse(readFileSync(file, "utf8")) as typeof holder;
  } catch {
    holder = undefined;
  }
  if (!holder?.pid) {
    return warning("journal.lock", `${file} exists but names no holder`, "If no dropkeys is running, remove the empty lock file; appends wait for it otherwise.", { file });
  }
  const who = `pid ${holder.pid} on ${holder.host ?? "?"}${holder.command ? ` (${holder.command})` : ""} since ${holder.since ?? "?"}`;
  if (deadHolder(file)) {
    return warning("journal.lock", `the journal lock was left by ${who}, which has died`, "Nothing to do by hand: the next operation takes the lock over and repairs an interrupted append.", { file, holder });
  }
  return warning("journal.lock", `the journal lock is held by ${who}`, "Wait for that dropkeys to finish; if it hangs, stop it (its operation is journalled as interrupted).", { file, holder });
}

function chainIntact(dir: string): CheckResult {
  let report: ReturnType<Journal["verify"]>;
  try {
    report = new Journal(dir).verify();
  } catch (error) {
    return problem("journal.chain", `the journal cannot be read: ${reason(error)}`, "Run `dropkeys log verify` and restore the journal from its copy.");
  }
  const first = report.problems[0];
  if (first) {
    return problem("journal.chain", `the journal's chain is broken at line ${first.line} (${first.kind}): ${first.message}`, "Run `dropkeys log verify`; restore the journal before any operation.", {
      entries: report.entries,
      problems: report.problems,
    });
  }
  if (report.interruptedAppend) {
    return warning("journal.chain", `intact up to an interrupted append: ${report.interruptedAppend}`, "The next operation finishes or removes it; `dropkeys log verify` shows it.", { entries: report.entries });
  }
  if (report.openIntents.length > 0) {
    const seqs = report.openIntents.map((e) => `#${e.seq} ${e.operation}`).join(", ");
    return warning("journal.chain", `intact: ${report.entries} entries, but intents without an outcome (${seqs}): a run died midway`, "Check what those runs did with `dropkeys log show` and rerun them to finish.", {
      entries: report.entries,
      openIntents: report.openIntents.map((e) => e.seq),
    });
  }
  return ok("journal.chain", `intact: ${report.entries} entries`, { entries: report.entries });
}
