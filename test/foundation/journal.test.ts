import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DropkeysError } from "../../src/lib/errors.js";
import { Journal, type JournalRecord } from "../../src/lib/journal/journal.js";
import { withLock } from "../../src/lib/journal/lock.js";
import { forgetSecrets, registerSecret } from "../../src/lib/sensitive.js";

const actor = { aws: "arn:aws:sts::123456789012:assumed-role/drop-key-admin/alice", osUser: "alice", host: "laptop" };
/** The lock file a dropkeys process killed with -9 in the middle of an append leaves behind. */
const leaveDeadLock = (journalDir: string) =>
  writeFileSync(path.join(journalDir, "internkontroll.lock"), JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), since: "x", command: "disable" }));
const record = (i: number, extra: Partial<JournalRecord> = {}): JournalRecord => ({
  type: "intent",
  operation: "disable",
  requestId: `req-${i}`,
  target: { name: "drop-kyc-key", arn: `arn:aws:kms:eu-north-1:123456789012:key/k${i}`, region: "eu-north-1" },
  actor,
  reason: `reason ${i}`,
  ...extra,
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-journal-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  forgetSecrets();
});

function filled(n: number): Journal {
  const journal = new Journal(dir);
  for (let i = 1; i <= n; i++) journal.append(record(i));
  return journal;
}
const lines = () => readFileSync(path.join(dir, "internkontroll.jsonl"), "utf8").split("\n").filter(Boolean);
const writeLines = (ls: string[]) => writeFileSync(path.join(dir, "internkontroll.jsonl"), ls.join("\n") + "\n");

describe("journal", () => {
  it("chains entries by hash and renders them for people", () => {
    const journal = filled(3);
    const entries = journal.entries();
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(entries[0]!.prev).toBe("0".repeat(64));
    expect(entries[1]!.prev).toBe(entries[0]!.hash);
    expect(journal.verify()).toMatchObject({ ok: true, entries: 3, problems: [] });
    const md = readFileSync(path.join(dir, "internkontroll.md"), "utf8");
    expect(md).toContain("# Internkontroll");
    expect(md).toContain("Reason: reason 2");
    expect(md).toContain("Key id: arn:aws:kms:eu-north-1:123456789012:key/k3");
  });

  it("detects an edited line", () => {
    filled(4);
    const ls = lines();
    ls[1] = ls[1]!.replace("reason 2", "reason X");
    writeLines(ls);
    const report = new Journal(dir).verify();
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ line: 2, kind: "edited" });
  });

  it("detects a deleted line", () => {
    filled(4);
    const ls = lines();
    ls.splice(1, 1);
    writeLines(ls);
    expect(new Journal(dir).verify().problems[0]).toMatchObject({ line: 2, kind: "deleted" });
  });

  it("detects reordered lines", () => {
    filled(4);
    const ls = lines();
    [ls[1], ls[2]] = [ls[2]!, ls[1]!];
    writeLines(ls);
    const problem = new Journal(dir).verify().problems[0]!;
    expect(problem.line).toBe(2);
    expect(["deleted", "reordered"]).toContain(problem.kind);
  });

  it("detects an inserted line, even one with a correct hash of its own", () => {
    filled(3);
    const ls = lines();
    const copy = JSON.parse(ls[1]!);
    ls.splice(2, 0, JSON.stringify(copy));
    writeLines(ls);
    expect(new Journal(dir).verify().problems[0]).toMatchObject({ line: 3, kind: "inserted" });
  });

  it("detects a truncated end: a cut line, and whole entries removed from the end", () => {
    filled(3);
    const text = readFileSync(path.join(dir, "internkontroll.jsonl"), "utf8");
    writeFileSync(path.join(dir, "internkontroll.jsonl"), text.slice(0, text.length - 20));
    expect(new Journal(dir).verify().problems[0]).toMatchObject({ line: 3, kind: "truncated" });
    writeLines(lines().slice(0, 2));
    expect(new Journal(dir).verify().problems[0]).toMatchObject({ line: 3, kind: "truncated" });
  });

  it("reports intents without an outcome as warnings, not failures", () => {
    const journal = filled(2);
    journal.append({ type: "outcome", operation: "disable", intentSeq: 1, actor, outcome: "succeeded" });
    const report = journal.verify();
    expect(report.ok).toBe(true);
    expect(report.openIntents.map((e) => e.seq)).toEqual([2]);
  });

  it("knows a request whose intent was never closed (a crash) from one that reached an outcome", () => {
    const journal = new Journal(dir);
    const open = journal.append(record(1));
    const closed = journal.append(record(2));
    journal.append({ type: "outcome", operation: "disable", requestId: "req-2", intentSeq: closed.seq, actor, outcome: "failed" });
    expect(open.seq).toBe(1);
    expect(journal.isInterruptedRequest("req-1")).toBe(true);
    expect(journal.isInterruptedRequest("req-2")).toBe(false);
    expect(journal.isInterruptedRequest("req-3")).toBe(false);
  });

  it("finishes an append that stopped after its entry was written (head and markdown behind), journalling the repair", () => {
    const journal = new Journal(dir);
    const entries = [1, 2, 3].map((i) => journal.append(record(i)));
    const headFile = path.join(dir, "internkontroll.head");
    const md = path.join(dir, "internkontroll.md");
    // The state a failed write or kill -9 leaves between the fsync of entry #3 and its markdown and head.
    writeFileSync(headFile, JSON.stringify({ seq: 2, hash: entries[1]!.hash }) + "\n");
    const mdText = readFileSync(md, "utf8");
    writeFileSync(md, mdText.slice(0, mdText.indexOf("\n## #3 ") + 30)); // markdown cut inside #3's block
    // The head and markdown are derived from the JSONL: repairable whether or not a dead holder's lock is there.
    const report = new Journal(dir).verify();
    expect(report).toMatchObject({ ok: true, entries: 3 });
    expect(report.interruptedAppend).toMatch(/interrupted write, repairable: entry #3 was recorded/);
    const next = new Journal(dir).append(record(4));
    expect(next.seq).toBe(5); // #4 is the repair event
    const repair = new Journal(dir).entries()[3]!;
    expect(repair).toMatchObject({ type: "event", operation: "journal-repair", actor });
    expect(repair.state).toMatch(/internkontroll.head moved from #2 to #3.*internkontroll.md rendered again from entry #3/);
    const after = new Journal(dir).verify();
    expect(after).toMatchObject({ ok: true, entries: 5, interruptedAppend: undefined });
    expect(after.repairs).toHaveLength(1);
    expect(after.repairs[0]).toMatch(/^#4 .*interrupted write repaired/);
    expect(JSON.parse(readFileSync(headFile, "utf8"))).toEqual({ seq: 5, hash: next.hash });
    const rendered = readFileSync(md, "utf8");
    expect(rendered.match(/\n## #3 /g)).toHaveLength(1);
    expect(rendered).toContain("\n## #4 ");
    expect(rendered).toContain("\n## #5 ");
    expect(rendered.split("\n## #").length).toBe(6);
    expect(rendered.slice(rendered.indexOf("\n## #3 "), rendered.indexOf("\n## #4 "))).toContain("Reason: reason 3");
  });

  it("removes a last line cut off while being written, which was never acknowledged, and journals the cut", () => {
    const journal = new Journal(dir);
    journal.append(record(1));
    const second = journal.append(record(2));
    const file = path.join(dir, "internkontroll.jsonl");
    const whole = readFileSync(file, "utf8");
    // kill -9 in the middle of writing entry #3: part of a line ("ø" makes it multi-byte), no newline.
    writeFileSync(file, whole + '{"seq":3,"reason":"nøkkel lekket');
    expect(journal.verify()).toMatchObject({ ok: false, problems: [{ kind: "truncated" }] });
    leaveDeadLock(dir);
    expect(journal.verify()).toMatchObject({ ok: true, entries: 2 });
    expect(journal.verify().interruptedAppend).toMatch(/interrupted write, repairable/);
    journal.checkWritable();
    const text = readFileSync(file, "utf8");
    expect(text.startsWith(whole)).toBe(true);
    const cut = JSON.parse(text.slice(whole.length));
    expect(cut).toMatchObject({ seq: 3, prev: second.hash, operation: "journal-repair" });
    expect(cut.state).toMatch(/cut 33 byte\(s\) of entry #3/);
    const fourth = journal.append(record(3));
    expect(fourth).toMatchObject({ seq: 4, prev: cut.hash });
    expect(journal.verify()).toMatchObject({ ok: true, entries: 4 });
  });

  it("refuses to act on a journal whose tail is broken or that was deleted", () => {
    filled(2);
    const ls = lines();
    ls[1] = ls[1]!.replace("reason 2", "reason Y");
    writeLines(ls);
    expect(() => new Journal(dir).checkWritable()).toThrowError(/integrity check/);
    rmSync(path.join(dir, "internkontroll.jsonl"));
    let error: unknown;
    try {
      new Journal(dir).append(record(9));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DropkeysError);
    expect((error as DropkeysError).exitCode).toBe(5);
    expect((error as DropkeysError).message).toMatch(/missing/);
  });

  it("fails closed with exit 5 when the journal cannot be written", () => {
    if (process.getuid?.() === 0) {
      // root ignores file modes: make the journal path a file so the directory cannot exist.
      const blocked = path.join(dir, "blocked");
      writeFileSync(blocked, "");
      const journal = new Journal(path.join(blocked, "legal"));
      expect(() => journal.checkWritable()).toThrowError(DropkeysError);
      try {
        journal.append(record(1));
      } catch (e) {
        expect((e as DropkeysError).exitCode).toBe(5);
        expect((e as DropkeysError).message).toMatch(/cannot be written/);
      }
      return;
    }
    filled(1);
    chmodSync(path.join(dir, "internkontroll.jsonl"), 0o400);
    expect(() => new Journal(dir).checkWritable()).toThrowError(/cannot be written/);
  });

  it("refuses an entry that contains a registered secret value", () => {
    const secret = "a".repeat(24) + "5ecret";
    registerSecret(secret);
    const journal = new Journal(dir);
    expect(() => journal.append(record(1, { params: { note: `value ${secret}` } }))).toThrowError(/contains a secret value/);
    expect(existsSync(path.join(dir, "internkontroll.jsonl"))).toBe(false);
  });

  it("gives up on a held lock after a bounded wait, naming the holder", () => {
    const lock = path.join(dir, "internkontroll.lock");
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: "other-host", since: "2026-11-23T10:00:00Z", command: "rotate-jwt" }));
    const started = Date.now();
    expect(() => withLock(lock, 200, () => 1)).toThrowError(/locked by pid \d+ on other-host \(rotate-jwt\)/);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("takes over a lock left by a dead process on this host", () => {
    const lock = path.join(dir, "internkontroll.lock");
    writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), since: "x", command: "x" }));
    expect(withLock(lock, 200, () => 42)).toBe(42);
  });

  it("serialises appends of two processes: 200 each leave 400 entries and a valid chain", async () => {
    const worker = path.resolve("test/support/journal-appender.mjs");
    const run = (label: string) =>
      new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, [worker, dir, "200", label], { stdio: "inherit" });
        child.on("error", reject);
        child.on("exit", (code) => resolve(code ?? -1));
      });
    const codes = await Promise.all([run("p1"), run("p2")]);
    expect(codes).toEqual([0, 0]);
    const journal = new Journal(dir);
    const report = journal.verify();
    expect(report).toMatchObject({ ok: true, entries: 400 });
    const byWriter = journal.entries().reduce<Record<string, number>>((acc, e) => ({ ...acc, [e.actor.aws]: (acc[e.actor.aws] ?? 0) + 1 }), {});
    expect(byWriter).toEqual({ p1: 200, p2: 200 });
  }, 60_000);
});
