// shred-user under kill -9 at several moments, SIGINT and SIGTERM during a 10,000-user SQLite run,
// and a second Ctrl-C. After each fault: the journal verifies, every erased user was announced by
// an intent, and the next command closes the dead run's intents (outcome interrupted, state read
// back from the database), so no intent is left open; a rerun erases the rest, each user journalled
// as erased exactly once.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateAliasCommand } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/lib/db/index.js";
import { dropDatabaseSection, dropSection, seedDropDatabase } from "../../src/lib/envelope/seed.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { classifyUsers } from "../../src/lib/shred/engine.js";
import { signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient } from "../support/aws.js";
import { BIN } from "../support/cli.js";
import { suffix } from "../support/policy.js";
import { createKmsKey } from "../db/support.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { faultTally } from "./tally.js";

const tally = faultTally("shred-faults");
const kms = kmsClient();
const USERS = 10_000;
let w: World;
let db: Database;
let ids: number[];
const s = suffix();

beforeAll(async () => {
  const keyName = `sf-${s}`;
  const key = await createKmsKey();
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${keyName}`, TargetKeyId: key.keyId }));
  w = await makeWorld("faults-shred", {
    inventory: [kmsEntry(keyName)],
    envelope: { key: keyName, wrappedDekBytes: "auto" },
    database: { ...dropDatabaseSection("combined", "sqlite:drop.db"), shredBatchSize: 50 },
  });
  db = await openDatabase(`sqlite:${path.join(w.dir, "drop.db")}`, { create: true });
  const seeded = await seedDropDatabase(db, { layout: "combined", kms, keyId: key.keyId, users: USERS, createSchema: true, dataKeys: 4 });
  ids = seeded.ids;
}, 300_000);

const journalFile = () => path.join(w.journalDir, "internkontroll.jsonl");
const lineCount = () => readFileSync(journalFile(), "utf8").split("\n").length - 1;

/** An approved shred-user run of `batch`, spawned; `at` is told each time the journal grows. */
async function spawnShred(batch: number[], label: string) {
  const file = path.join(w.dir, `${label}.txt`);
  writeFileSync(file, batch.join("\n") + "\n");
  const args = ["shred-user", "--from-file", file, "--reason", `DSR ${label}`];
  const requestFile = path.join(w.dir, `${label}.request.json`);
  const requested = await w.cli([...args, "--request-out", requestFile]);
  expect(requested.code, requested.stderr).toBe(0);
  const sig = signRequest(requestFile, w.alice);
  const before = lineCount();
  const child = spawn(process.execPath, [BIN, ...args, "--request", requestFile, "--approval", sig, "--policy", w.policyFile, "--journal", w.journalDir], {
    cwd: w.dir,
    env: { ...process.env, ...cliAwsEnv, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on("exit", (code) => resolve({ code, at: Date.now() })));
  return {
    child,
    exited,
    stderr: () => stderr,
    /** Wait until the run has journalled `n` new lines (or ended). */
    async grown(n: number) {
      let ended = false;
      void exited.then(() => (ended = true));
      while (!ended && lineCount() - before < n) await new Promise((r) => setTimeout(r, 2));
      return !ended;
    },
  };
}

async function approvedRerun(batch: number[], label: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = path.join(w.dir, `${label}.txt`);
  writeFileSync(file, batch.join("\n") + "\n");
  const args = ["shred-user", "--from-file", file, "--reason", `DSR ${label}`, "--json"];
  const requestFile = path.join(w.dir, `${label}.request.json`);
  await w.cli([...args, "--request-out", requestFile]);
  return w.cli([...args, "--request", requestFile, "--approval", signRequest(requestFile, w.alice)]);
}

/** The clear state after a fault: chain intact, every erased user announced, whole chunks only. */
async function expectClearAfterFault(batch: number[]): Promise<void> {
  const journal = new Journal(w.journalDir);
  expect(journal.verify().problems).toEqual([]);
  const states = await classifyUsers(db, dropSection("combined"), batch.map(String));
  const erased = batch.map(String).filter((id) => states.get(id) === "erased");
  const announced = new Set(journal.entries().filter((e) => e.type === "intent" && e.params?.chunk !== undefined).flatMap((e) => e.params!.userIds as string[]));
  expect(erased.every((id) => announced.has(id))).toBe(true);
}

/** After the next command: no open intent, every user of the batch erased and journalled once. */
async function expectRecovered(batch: number[]): Promise<void> {
  const journal = new Journal(w.journalDir);
  const report = journal.verify();
  expect(report.ok).toBe(true);
  expect(report.openIntents).toEqual([]);
  const states = await classifyUsers(db, dropSection("combined"), batch.map(String));
  expect([...states.values()].every((v) => v === "erased")).toBe(true);
  const counts = new Map<string, number>();
  for (const e of journal.entries()) {
    // Chunk outcomes (and the read-back of interrupted chunks) list the users they erased.
    if (e.type !== "outcome" || e.operation !== "shred-user" || !Array.isArray(e.details?.erased)) continue;
    for (const id of e.details.erased as string[]) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  expect(batch.every((id) => counts.get(String(id)) === 1)).toBe(true);
}

describe("kill -9 during shred-user, then the next command", () => {
  // Journal lines after the run's start at which the kill lands: right after the pipeline intent
  // (before the first chunk), after a chunk's intent, between chunks, deep in the run.
  const points = [1, 2, 3, 8, 21];
  it.each(points.map((p, i) => [p, i]))("killed after %i journal line(s): the next command closes its intents, a rerun completes", async (point, i) => {
    const batch = ids.slice(i * 1000, i * 1000 + 1000);
    const run = await spawnShred(batch, `kill-${point}`);
    const caught = await run.grown(point);
    tally.inject();
    run.child.kill("SIGKILL");
    await run.exited;
    expect(caught, "the run ended before the kill point").toBe(true);
    await expectClearAfterFault(batch);
    // The next command (any operation) closes the dead run's intents with what the database says.
    const open = new Journal(w.journalDir).verify().openIntents;
    expect(open.length).toBeGreaterThan(0);
    const rerun = await approvedRerun(batch, `kill-${point}-rerun`);
    expect(rerun.code, rerun.stderr).toBe(0);
    const entries = new Journal(w.journalDir).entries();
    for (const intent of open) {
      const closing = entries.find((e) => e.type === "outcome" && e.intentSeq === intent.seq);
      expect(closing, `intent #${intent.seq}`).toMatchObject({ outcome: "interrupted" });
      expect(closing!.state).toBeTruthy();
    }
    await expectRecovered(batch);
    tally.recovered();
  }, 120_000);
});

describe("signals during a 10,000-user SQLite shred", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal}: exit 130 within 2 s, outcome interrupted, the rest untouched; a rerun finishes`, async () => {
      const batch = ids.slice(5000, 10_000);
      await db.execute("UPDATE users SET national_id = national_id"); // no-op: the rows are live
      const run = await spawnShred(signal === "SIGINT" ? batch.slice(0, 2500) : batch.slice(2500), `signal-${signal}`);
      const running = await run.grown(6);
      expect(running, "the run ended before the signal").toBe(true);
      tally.inject();
      const sentAt = Date.now();
      run.child.kill(signal);
      const { code, at } = await run.exited;
      expect(code, run.stderr()).toBe(130);
      expect(at - sentAt).toBeLessThan(2_000);
      const mine = signal === "SIGINT" ? batch.slice(0, 2500) : batch.slice(2500);
      await expectClearAfterFault(mine);
      const journal = new Journal(w.journalDir);
      const last = journal.entries().filter((e) => e.operation === "shred-user" && e.type === "outcome" && e.details?.chunk === undefined).at(-1)!;
      expect(last).toMatchObject({ outcome: "interrupted", details: { interrupted: true } });
      expect(journal.verify().openIntents).toEqual([]);
      const states = await classifyUsers(db, dropSection("combined"), mine.map(String));
      const erased = [...states.values()].filter((v) => v === "erased").length;
      expect(erased).toBeLessThan(mine.length);
      const rerun = await approvedRerun(mine, `signal-${signal}-rerun`);
      expect(rerun.code, rerun.stderr).toBe(0);
      await expectRecovered(mine);
      tally.recovered();
    }, 120_000);
  }
});
