// Faults under journal appends: a full disk (ENOSPC) and a denied write (EPERM) at each write of an
// append, short and partial writes, a real full tmpfs, empty and unreadable lock files, a lock
// naming a reused pid, and the journal directory removed during a run. Each must end in a clear
// state: the error names the real cause, the journal verifies, and once the fault is gone the next
// append works without hand edits and no acknowledged entry is lost.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DropkeysError } from "../../src/lib/errors.js";
import { Journal, type JournalRecord } from "../../src/lib/journal/journal.js";
import { withLock } from "../../src/lib/journal/lock.js";
import { processStart } from "../../src/lib/journal/process-identity.js";
import { injectWriteFault } from "./fs-faults.js";
import { faultTally } from "./tally.js";

const tally = faultTally("journal-faults");
const actor = { aws: "arn:aws:sts::123456789012:assumed-role/drop-key-admin/alice", osUser: "alice", host: "laptop" };
const record = (i: number): JournalRecord => ({
  type: "intent",
  operation: "disable",
  requestId: `req-${i}`,
  target: { name: "drop-kyc-key", arn: `arn:aws:kms:eu-north-1:123456789012:key/k${i}`, region: "eu-north-1" },
  actor,
  reason: `reason ${i} (nøkkel)`,
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "dropkeys-faults-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function caught(fn: () => unknown): DropkeysError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DropkeysError);
    return error as DropkeysError;
  }
  throw new Error("expected a failure");
}

/** After a fault: the journal verifies with exactly the acknowledged entries, and no temp file is left. */
function expectClear(journal: Journal, acknowledged: number): void {
  const report = journal.verify();
  expect(report.problems).toEqual([]);
  expect(report.ok).toBe(true);
  const entries = journal.entries().filter((e) => e.operation !== "journal-repair");
  expect(entries.length).toBe(acknowledged);
  expect(readdirSync(journal.dir).filter((f) => f.endsWith(".tmp") || f.includes(".stale."))).toEqual([]);
  expect(existsSync(path.join(journal.dir, "internkontroll.lock"))).toBe(false);
}

describe("a failed write at each step of an append", () => {
  const stages = [
    { file: /^internkontroll\.jsonl$/, stage: "internkontroll.jsonl", passBytes: 120 },
    { file: /^internkontroll\.md$/, stage: "internkontroll.md", passBytes: 120 },
    { file: /^internkontroll\.head\..*\.tmp$/, stage: "internkontroll.head", passBytes: 20 },
  ];
  for (const errno of ["ENOSPC", "EPERM"] as const) {
    for (const { file, stage, passBytes } of stages) {
      it(`${errno} while writing ${stage}: the entry is not recorded, the cause is named, the next append works`, () => {
        const journal = new Journal(dir);
        for (let i = 1; i <= 3; i++) journal.append(record(i));
        const jsonlBefore = readFileSync(journal.file, "utf8");
        const mdBefore = readFileSync(journal.markdownFile, "utf8");
        tally.inject();
        // A partial write first, then the error: the worst case for a cut-off line.
        const fault = injectWriteFault({ file, errno, passBytes });
        let error: DropkeysError;
        try {
          error = caught(() => journal.append(record(4)));
        } finally {
          fault.restore();
        }
        expect(fault.hits()).toBeGreaterThan(0);
        expect(error.exitCode).toBe(5);
        expect(error.message).toContain(errno);
        expect(error.message).toContain(`while writing ${stage}`);
        expect(error.message).toMatch(/entry #4 \(intent of disable drop-kyc-key\) was not recorded/);
        expect(error.details).toMatchObject({ errno, stage, entry: 4, recorded: false });
        // Cut back whole: the record and its rendering are as before the append.
        expect(readFileSync(journal.file, "utf8")).toBe(jsonlBefore);
        expect(readFileSync(journal.markdownFile, "utf8")).toBe(mdBefore);
        expectClear(new Journal(dir), 3);
        // The fault is gone: the next append just works.
        expect(new Journal(dir).append(record(5)).seq).toBe(4);
        expectClear(new Journal(dir), 4);
        tally.recovered();
      });
    }
  }

  it("short writes are continued: the line is whole", () => {
    const journal = new Journal(dir);
    tally.inject();
    const fault = injectWriteFault({ file: /^internkontroll\.(jsonl|md)$/, shortWrite: 7 });
    try {
      for (let i = 1; i <= 3; i++) journal.append(record(i));
    } finally {
      fault.restore();
    }
    expect(fault.hits()).toBeGreaterThan(100);
    expectClear(new Journal(dir), 3);
    tally.recovered();
  });

  it("a failed head write leaves no internkontroll.head.PID.tmp behind", () => {
    const journal = new Journal(dir);
    journal.append(record(1));
    tally.inject();
    const fault = injectWriteFault({ file: /^internkontroll\.head\./, errno: "ENOSPC" });
    try {
      caught(() => journal.append(record(2)));
    } finally {
      fault.restore();
    }
    expect(readdirSync(dir).filter((f) => f.includes(".tmp"))).toEqual([]);
    expectClear(new Journal(dir), 1);
    tally.recovered();
  });
});

describe("a real full disk (tmpfs)", () => {
  let mount: string;
  beforeEach(() => {
    mount = mkdtempSync(path.join(tmpdir(), "dropkeys-tmpfs-"));
    const result = spawnSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]);
    if (result.status !== 0) throw new Error(`this test mounts a 64 KiB tmpfs and needs root: ${result.stderr.toString()}`);
  });
  afterEach(() => {
    spawnSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
  });

  it("ENOSPC at whatever write of an append fills the disk; after space is freed the journal goes on, nothing lost", () => {
    const journalDir = path.join(mount, "legal");
    const filler = path.join(mount, "filler");
    let acknowledged = 0;
    const stagesSeen = new Set<string>();
    // Rounds: fill the disk to the last byte, append until ENOSPC, free the space, append again.
    for (let round = 0; round < 6; round++) {
      fillDisk(filler, round * 1400);
      tally.inject();
      let error: DropkeysError | undefined;
      for (let i = 0; i < 50 && !error; i++) {
        try {
          new Journal(journalDir).append(record(acknowledged + 1));
          acknowledged++;
        } catch (e) {
          error = e as DropkeysError;
        }
      }
      expect(error).toBeInstanceOf(DropkeysError);
      expect(error!.exitCode).toBe(5);
      expect(error!.message).toContain("ENOSPC (no space left on device)");
      stagesSeen.add(String(error!.details?.stage ?? "lock"));
      rmSync(filler);
      const journal = new Journal(journalDir);
      expectClear(journal, acknowledged);
      journal.append(record(acknowledged + 1));
      acknowledged++;
      expectClear(new Journal(journalDir), acknowledged);
      tally.recovered();
    }
    // The entries all chain: nothing was lost in six full-disk rounds.
    expect(new Journal(journalDir).verify()).toMatchObject({ ok: true });
    expect(stagesSeen.size).toBeGreaterThanOrEqual(2);
  });
});

/** Write the filler until the file system is full, then free `slack` bytes. */
function fillDisk(file: string, slack: number): void {
  const chunk = Buffer.alloc(1024, 0x41);
  const fd = require_fs().openSync(file, "w");
  try {
    for (;;) {
      try {
        require_fs().writeSync(fd, chunk);
      } catch {
        break;
      }
    }
    for (;;) {
      try {
        require_fs().writeSync(fd, chunk, 0, 1);
      } catch {
        break;
      }
    }
  } finally {
    require_fs().closeSync(fd);
  }
  if (slack > 0) {
    const size = require_fs().statSync(file).size;
    require_fs().truncateSync(file, Math.max(0, size - slack));
  }
}
import * as fsModule from "node:fs";
const require_fs = () => fsModule;

describe("the lock", () => {
  const lockOf = (d: string) => path.join(d, "internkontroll.lock");

  it("an empty lock file (older version, ENOSPC or a kill while writing it) is taken over after a short grace", () => {
    const journal = new Journal(dir);
    journal.append(record(1));
    tally.inject();
    writeFileSync(lockOf(dir), "");
    const started = Date.now();
    journal.append(record(2));
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(2_000 + 1_000);
    expectClear(new Journal(dir), 2);
    tally.recovered();
  });

  it("an unreadable lock file older than the grace is taken over at once", () => {
    const journal = new Journal(dir);
    tally.inject();
    writeFileSync(lockOf(dir), "{\"pid\": 12");
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockOf(dir), old, old);
    const started = Date.now();
    journal.append(record(1));
    expect(Date.now() - started).toBeLessThan(500);
    expectClear(new Journal(dir), 1);
    tally.recovered();
  });

  it("the lock never exists without its holder: ENOSPC while writing the holder leaves no lock file", () => {
    const journal = new Journal(dir);
    journal.append(record(1));
    tally.inject();
    const fault = injectWriteFault({ file: /^internkontroll\.lock\..*\.tmp$/, errno: "ENOSPC" });
    let error: DropkeysError;
    try {
      error = caught(() => journal.append(record(2)));
    } finally {
      fault.restore();
    }
    expect(error.exitCode).toBe(5);
    expect(error.message).toMatch(/ENOSPC/);
    expect(readdirSync(dir).filter((f) => f.includes("lock"))).toEqual([]);
    expect(new Journal(dir).append(record(2)).seq).toBe(2);
    expectClear(new Journal(dir), 2);
    tally.recovered();
  });

  it("records host, pid and process start time", () => {
    const seen = withLock(lockOf(dir), 1_000, () => JSON.parse(readFileSync(lockOf(dir), "utf8")));
    expect(seen).toMatchObject({ pid: process.pid, host: hostname(), start: processStart(process.pid) });
    expect(seen.start).toMatch(/^\d+$/);
  });

  it("a lock naming a live but unrelated process (pid reused: another start time) is stale; a live holder is waited for", async () => {
    const other = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await new Promise((r) => setTimeout(r, 100));
      const pid = other.pid!;
      const realStart = processStart(pid)!;
      expect(realStart).toBeDefined();
      tally.inject();
      writeFileSync(lockOf(dir), JSON.stringify({ pid, host: hostname(), start: String(Number(realStart) - 1000), since: "x", command: "disable" }));
      const started = Date.now();
      expect(withLock(lockOf(dir), 10_000, () => "taken")).toBe("taken");
      expect(Date.now() - started).toBeLessThan(2_000);
      tally.recovered();
      // The same pid with its real start time is a live holder: waited for, then a clear error.
      writeFileSync(lockOf(dir), JSON.stringify({ pid, host: hostname(), start: realStart, since: "2026-12-02T10:00:00Z", command: "shred-user" }));
      expect(() => withLock(lockOf(dir), 300, () => "taken")).toThrowError(new RegExp(`locked by pid ${pid} on ${hostname()} \\(shred-user\\)`));
    } finally {
      other.kill("SIGKILL");
    }
  });
});

describe("the journal removed during a run", () => {
  it("is exit 5, never a new chain; log verify fails an outcome whose intent does not exist", () => {
    const journal = new Journal(dir);
    journal.checkWritable();
    const intent = journal.append(record(1));
    tally.inject();
    rmSync(dir, { recursive: true, force: true });
    const error = caught(() => journal.append({ type: "outcome", operation: "disable", intentSeq: intent.seq, actor, outcome: "succeeded" }));
    expect(error.exitCode).toBe(5);
    expect(error.code).toBe("journal.missing");
    expect(existsSync(dir)).toBe(false);
    tally.recovered();
    // A journal restarted by hand (a new chain), holding an outcome of an intent it does not have.
    mkdirSync(dir);
    const fresh = new Journal(dir);
    fresh.append({ type: "event", operation: "note", actor });
    fresh.append({ type: "outcome", operation: "disable", intentSeq: 1, actor, outcome: "succeeded" });
    const report = fresh.verify();
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ line: 2, kind: "orphan-outcome" });
  });
});
