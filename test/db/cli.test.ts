// `dropkeys shred-user` and `dropkeys reencrypt` end to end: the built CLI, real approvals (SSH
// signatures of the demo approvers), a real SQLite file, the strict KMS emulator. Exit codes,
// the summary, the journal, kill -9 in the middle of a batch, and no fødselsnummer anywhere.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CreateAliasCommand, DecryptCommand, DescribeKeyCommand, DisableKeyCommand, EnableKeyCommand } from "@aws-sdk/client-kms";
import { beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/lib/db/index.js";
import { dropDatabaseSection, seedDropDatabase, type Seeded } from "../../src/lib/envelope/seed.js";
import { classifyUsers } from "../../src/lib/shred/engine.js";
import { dropSection } from "../../src/lib/envelope/seed.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { signRequest } from "../support/approvers.js";
import { cliAwsEnv, kmsClient } from "../support/aws.js";
import { BIN, type CliResult } from "../support/cli.js";
import { suffix } from "../support/policy.js";
import { kmsEntry, makeWorld, type World } from "../keys/setup.js";
import { createKmsKey, journalText, leakedNationalId } from "./support.js";

const kms = kmsClient();

async function aliasedKey(name: string) {
  const key = await createKmsKey();
  await kms.send(new CreateAliasCommand({ AliasName: `alias/${name}`, TargetKeyId: key.keyId }));
  return key;
}

function leaks(w: World, seeded: Seeded): string | undefined {
  const text = w.results.map((r) => r.stdout + r.stderr).join("\n") + journalText(w.journalDir);
  return leakedNationalId(text, seeded.nationalIds.values());
}

describe("dropkeys shred-user", () => {
  let w: World;
  let db: Database;
  let seeded: Seeded;
  const s = suffix();
  const keyName = `nid-${s}`;
  let dbFile: string;

  beforeAll(async () => {
    const key = await aliasedKey(keyName);
    w = await makeWorld("shred", {
      inventory: [kmsEntry(keyName)],
      envelope: { key: keyName, wrappedDekBytes: "auto" },
      database: { ...dropDatabaseSection("combined", "sqlite:drop.db"), shredBatchSize: 25 },
      backupRetentionDays: 30,
    });
    dbFile = path.join(w.dir, "drop.db");
    db = await openDatabase(`sqlite:${dbFile}`, { create: true });
    seeded = await seedDropDatabase(db, { layout: "combined", kms, keyId: key.keyId, users: 3000, createSchema: true, dataKeys: 8 });
    await db.execute("INSERT INTO legal_holds (user_id, reason) VALUES (?, ?)", [3, "Økokrim case 2026-114"]);
  });

  /** --request-out, signatures, then the command itself with --request and --approval (its own rendering). */
  async function approvedShred(args: string[], approvers = [w.alice]): Promise<CliResult> {
    const requestFile = path.join(w.dir, `req-${suffix()}.json`);
    const requested = await w.cli(["shred-user", ...args, "--request-out", requestFile]);
    if (requested.code !== 0 || !existsSync(requestFile)) return requested;
    const sigs = approvers.flatMap((a) => ["--approval", signRequest(requestFile, a)]);
    return w.cli(["shred-user", ...args, "--request", requestFile, ...sigs]);
  }

  it("needs --reason and at least one user id (exit 2)", async () => {
    expect((await w.cli(["shred-user", "1"])).code).toBe(2);
    expect((await w.cli(["shred-user", "--reason", "DSR-1"])).code).toBe(2);
  });

  it("without approval: exit 3, nothing erased", async () => {
    const r = await w.cli(["shred-user", "1", "--reason", "DSR-2026-0001"]);
    expect(r.code).toBe(3);
    expect((await classifyUsers(db, dropSection("combined"), ["1"])).get("1")).toBe("live");
  });

  it("erases one user with the DPO's approval (through dropkeys apply) and journals it with the backup horizon", async () => {
    const r = await w.approved(["shred-user", "1", "--reason", "DSR-2026-0001"], [w.alice]);
    expect(r.code, r.stderr).toBe(0);
    expect((await classifyUsers(db, dropSection("combined"), ["1"])).get("1")).toBe("erased");
    const [t] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM transactions WHERE user_id = 1");
    expect(t!.n).toBe(2);
    const entries = w.journal().filter((e) => e.operation === "shred-user");
    const chunkOutcome = entries.find((e) => e.type === "outcome" && (e.details as Record<string, unknown>)?.chunk === 1);
    expect(chunkOutcome).toMatchObject({ outcome: "succeeded", details: { erased: ["1"], backupRetentionDays: 30 }, verification: { result: "passed" } });
    const md = readFileSync(path.join(w.journalDir, "internkontroll.md"), "utf8");
    expect(md).toMatch(/Destruction record/);
    expect(md).toMatch(/still hold the old values until \d{4}-\d\d-\d\d/);
  });

  it("already erased: says so, exit 0, asks no approval", async () => {
    const r = await w.cli(["shred-user", "1", "--reason", "DSR-2026-0001 again"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Already erased/);
  });

  it("an unknown user alone: not found, exit 1, nothing to approve", async () => {
    const r = await w.cli(["shred-user", "88888", "--reason", "DSR-2026-0888"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/88888: not found/);
  });

  it("a batch from a file: held and unknown users reported, the others erased, exit 1, summary in JSON", async () => {
    const file = path.join(w.dir, "batch.txt");
    writeFileSync(file, "# erasure requests 2026-11\n2\n3\n4\n99999\n1\n");
    const r = await approvedShred(["--from-file", file, "--reason", "DSR batch 2026-11", "--json"]);
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout) as { status: string; summary: Record<string, unknown> };
    expect(doc.status).toBe("done");
    expect(doc.summary).toMatchObject({
      erased: ["2", "4"],
      alreadyErased: ["1"],
      held: [{ id: "3", reason: "Økokrim case 2026-114" }],
      notFound: ["99999"],
      failed: [],
    });
    const states = await classifyUsers(db, dropSection("combined"), ["2", "3", "4"]);
    expect([...states.values()]).toEqual(["erased", "live", "erased"]);
  });

  it("the same batch in human form names each user's fate", async () => {
    const r = await approvedShred(["3", "5", "--reason", "DSR-2026-0005"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1 erased, 0 already erased, 1 held, 0 not found, 0 failed/);
    expect(r.stdout).toMatch(/3: held, not erased: Økokrim case 2026-114/);
    expect(r.stdout).toMatch(/5: erased/);
    expect(r.stdout).toMatch(/backups made before now still hold the old values until/i);
  });

  it("kill -9 in the middle of a batch: every user erased and journalled, or untouched; a rerun completes", async () => {
    const ids = seeded.ids.filter((id) => id >= 100);
    const file = path.join(w.dir, "big.txt");
    writeFileSync(file, ids.join("\n") + "\n");
    const args = ["shred-user", "--from-file", file, "--reason", "DSR bulk 2026-11"];
    const requestFile = path.join(w.dir, "big-req.json");
    expect((await w.cli([...args, "--request-out", requestFile])).code).toBe(0);
    const sig = signRequest(requestFile, w.alice);
    const journalFile = path.join(w.journalDir, "internkontroll.jsonl");
    const before = readFileSync(journalFile, "utf8").split("\n").length;
    const child = spawn(process.execPath, [BIN, ...args, "--request", requestFile, "--approval", sig, "--policy", w.policyFile, "--journal", w.journalDir], {
      cwd: w.dir,
      env: { ...process.env, ...cliAwsEnv, CI: "true", NO_COLOR: "1" },
      stdio: "ignore",
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    // After a few chunks, the test takes SQLite's write lock: the run journals its next chunk's
    // intent and then waits for the lock inside BEGIN. kill -9 lands there, deterministically.
    // (A kill inside a journal append is not tested here: see the report on the journal's head file.)
    const journal = new Journal(w.journalDir);
    const newLines = () => readFileSync(journalFile, "utf8").split("\n").length - before;
    while (newLines() < 6) await new Promise((r) => setTimeout(r, 5));
    await db.execute("BEGIN IMMEDIATE");
    try {
      for (;;) {
        const last = journal.entries().at(-1);
        if (last?.type === "intent" && last.params?.chunk !== undefined && journal.verify().ok) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 200));
      child.kill("SIGKILL");
      await exited;
    } finally {
      await db.execute("ROLLBACK");
    }
    expect(journal.verify().problems).toEqual([]);
    const open = journal.verify().openIntents.filter((e) => e.params?.chunk !== undefined);
    expect(open).toHaveLength(1);
    const states = await classifyUsers(db, dropSection("combined"), ids.map(String));
    const erasedNow = ids.filter((id) => states.get(String(id)) === "erased").map(String);
    expect(erasedNow.length).toBeGreaterThan(0);
    expect(erasedNow.length).toBeLessThan(ids.length);
    // Every erased user is announced by a journalled intent of this run (the chunk's intent precedes its commit).
    const announced = new Set(journal.entries().filter((e) => e.type === "intent" && e.params?.chunk !== undefined).flatMap((e) => e.params!.userIds as string[]));
    expect(erasedNow.every((id) => announced.has(id))).toBe(true);
    // Whole chunks only: erased users are a prefix of the batch, in chunk-sized steps.
    expect(erasedNow).toEqual(ids.slice(0, erasedNow.length).map(String));
    expect(erasedNow.length % 25).toBe(0);
    // The chunk announced but not committed is untouched.
    expect((open[0]!.params!.userIds as string[]).every((id) => states.get(id) === "live")).toBe(true);

    const rerun = await approvedShred(["--from-file", file, "--reason", "DSR bulk 2026-11 (rerun)", "--json"]);
    expect(rerun.code, rerun.stderr).toBe(0);
    const doc = JSON.parse(rerun.stdout) as { summary: { erased: string[]; alreadyErased: string[] } };
    expect(doc.summary.alreadyErased.length).toBe(erasedNow.length);
    expect(doc.summary.erased.length).toBe(ids.length - erasedNow.length);
    const after = await classifyUsers(db, dropSection("combined"), ids.map(String));
    expect([...after.values()].every((v) => v === "erased")).toBe(true);
    const report = new Journal(w.journalDir).verify();
    expect(report.ok).toBe(true);
    expect(report.openIntents.filter((e) => e.operation === "shred-user")).toEqual([]);
    const reconciled = journal.entries().find((e) => e.intentSeq === open[0]!.seq);
    expect(reconciled).toMatchObject({ outcome: "interrupted", details: { erased: [] } });
    // Each user's erasure is in exactly one outcome's erased list (its chunk's, or the reconciliation's).
    const erasedInJournal = journal.entries().filter((e) => e.type === "outcome" && e.operation === "shred-user").flatMap((e) => (e.details?.erased as string[] | undefined) ?? []);
    const counts = new Map<string, number>();
    for (const id of erasedInJournal) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect(ids.every((id) => counts.get(String(id)) === 1)).toBe(true);
  }, 120_000);

  it("never prints or journals a national ID", () => {
    expect(leaks(w, seeded)).toBeUndefined();
  });
});

describe("dropkeys reencrypt", () => {
  let w: World;
  let db: Database;
  let seeded: Seeded;
  const s = suffix();
  const oldName = `nid-old-${s}`;
  const newName = `nid-new-${s}`;
  let oldKey: { keyId: string; arn: string };
  let newKey: { keyId: string; arn: string };

  beforeAll(async () => {
    [oldKey, newKey] = await Promise.all([aliasedKey(oldName), aliasedKey(newName)]);
    w = await makeWorld("reenc", {
      inventory: [kmsEntry(oldName), kmsEntry(newName)],
      envelope: { key: newName, wrappedDekBytes: "auto" },
      database: dropDatabaseSection("separate", "sqlite:drop.db"),
    });
    db = await openDatabase(`sqlite:${path.join(w.dir, "drop.db")}`, { create: true });
    seeded = await seedDropDatabase(db, { layout: "separate", kms, keyId: oldKey.keyId, users: 40, createSchema: true, dataKeys: 5 });
    await kms.send(new DisableKeyCommand({ KeyId: oldKey.keyId }));
  });

  const state = async (keyId: string) => (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;

  it("preflight: a disabled source key is named, with --reenable-source as the way on (exit 1, no approval asked)", async () => {
    const r = await w.cli(["reencrypt", "--from", oldName, "--to", newName, "--reason", "INC step 5"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is Disabled: KMS cannot ReEncrypt from a disabled key/);
    expect(r.stderr).toMatch(/--reenable-source/);
  });

  it("--reenable-source during an incident needs more than the CISO alone (the approvals of enable too): exit 3", async () => {
    const r = await w.approved(["reencrypt", "--from", oldName, "--to", newName, "--reenable-source", "--reason", "INC step 5", "--incident", `INC-T-${s}`], [w.alem]);
    expect(r.code).toBe(3);
    expect(await state(oldKey.keyId)).toBe("Disabled");
  });

  it("--reenable-source with drop-key-admin + CISO: enables, re-encrypts all, disables again, journals every step", async () => {
    const r = await w.approved(["reencrypt", "--from", oldName, "--to", newName, "--reenable-source", "--concurrency", "4", "--reason", "INC step 5", "--incident", `INC-T-${s}`], [w.alem, w.alice]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(await state(oldKey.keyId)).toBe("Disabled");
    const entries = w.journal();
    const ops = entries.map((e) => `${String(e.operation)}:${String(e.type)}`);
    const i = ops.lastIndexOf("reencrypt:intent");
    expect(ops.slice(i)).toEqual([
      "reencrypt:intent",
      "reencrypt-enable-source:intent",
      "reencrypt-enable-source:outcome",
      "reencrypt-disable-source:intent",
      "reencrypt-disable-source:outcome",
      "reencrypt:outcome",
    ]);
    const outcome = entries[entries.length - 1]!;
    expect(outcome).toMatchObject({ outcome: "succeeded", details: { rewrapped: 40, scanned: 40, wrappedDekBytes: 96, concurrency: 4 }, verification: { result: "passed" } });
    expect(String((outcome.verification as Record<string, unknown>).detail)).toMatch(/20 of 20 sampled rows decrypted under the new key; source key .* is Disabled again/);
    expect(typeof (outcome.details as Record<string, unknown>).durationMs).toBe("number");
    const [row] = await db.query<{ wrapped_dek: string }>("SELECT wrapped_dek FROM user_deks WHERE user_id = 17");
    const out = await kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(row!.wrapped_dek, "base64"), KeyId: newKey.arn }));
    expect(out.KeyId).toBe(newKey.arn);
  });

  it("a rerun finds everything under the new key already (the CISO alone during an incident, source enabled)", async () => {
    // With the source key enabled, the emergency rule applies: CISO alone.
    await kms.send(new EnableKeyCommand({ KeyId: oldKey.keyId }));
    const requestFile = path.join(w.dir, "reenc-req.json");
    const args = ["reencrypt", "--from", oldName, "--to", newName, "--reason", "INC step 5 check", "--incident", `INC-T-${s}`];
    expect((await w.cli([...args, "--request-out", requestFile])).code).toBe(0);
    const r = await w.cli([...args, "--request", requestFile, "--approval", signRequest(requestFile, w.alem)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Re-encrypted 0 value\(s\)/);
    expect(r.stdout).toMatch(/L4\s+user_deks\.wrapped_dek\s+40\s+0\s+40/);
  });

  it("never prints or journals a national ID", () => {
    expect(leaks(w, seeded)).toBeUndefined();
  });
});

describe("dropkeys reencrypt --reenable-source, interrupted", () => {
  it("Ctrl-C stops the workers, the source key is disabled again, the journal says interrupted (exit 130); a rerun finishes", async () => {
    const s = suffix();
    const oldName = `nid-old-${s}`;
    const newName = `nid-new-${s}`;
    const [oldKey] = await Promise.all([aliasedKey(oldName), aliasedKey(newName)]);
    const w = await makeWorld("reenc-int", {
      inventory: [kmsEntry(oldName), kmsEntry(newName)],
      envelope: { key: newName, wrappedDekBytes: "auto" },
      database: dropDatabaseSection("combined", "sqlite:drop.db"),
    });
    const db = await openDatabase(`sqlite:${path.join(w.dir, "drop.db")}`, { create: true });
    try {
      await seedDropDatabase(db, { layout: "combined", kms, keyId: oldKey.keyId, users: 1500, createSchema: true, dataKeys: 5, transactionsPerUser: 0 });
      await kms.send(new DisableKeyCommand({ KeyId: oldKey.keyId }));
      const args = ["reencrypt", "--from", oldName, "--to", newName, "--reenable-source", "--concurrency", "2", "--reason", "INC step 5"];
      const requestFile = path.join(w.dir, "req.json");
      expect((await w.cli([...args, "--request-out", requestFile])).code).toBe(0);
      const sigs = [w.alem, w.alice].flatMap((a) => ["--approval", signRequest(requestFile, a)]);
      const child = spawn(process.execPath, [BIN, ...args, "--request", requestFile, ...sigs, "--policy", w.policyFile, "--journal", w.journalDir], {
        cwd: w.dir,
        env: { ...process.env, ...cliAwsEnv, CI: "true", NO_COLOR: "1" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      child.stdout.on("data", (d) => (stdout += d));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      // Once the source key is enabled and some rows are done, press Ctrl-C.
      for (;;) {
        const enabled = existsSync(path.join(w.journalDir, "internkontroll.jsonl")) && w.journal().some((e) => e.operation === "reencrypt-enable-source" && e.type === "outcome");
        if (enabled) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 1500));
      child.kill("SIGINT");
      expect(await exited).toBe(130);
      expect((await kms.send(new DescribeKeyCommand({ KeyId: oldKey.keyId }))).KeyMetadata!.KeyState).toBe("Disabled");
      const entries = w.journal();
      const outcome = entries.filter((e) => e.operation === "reencrypt" && e.type === "outcome").at(-1)!;
      const details = outcome.details as { rewrapped: number; interrupted: boolean };
      expect(details.interrupted).toBe(true);
      expect(details.rewrapped).toBeGreaterThan(0);
      expect(details.rewrapped).toBeLessThan(1500);
      expect(entries.some((e) => e.operation === "reencrypt-disable-source" && e.outcome === "succeeded")).toBe(true);
      expect(stdout).toMatch(/Interrupted: run the same command again/);

      // The rerun (a new request) skips what is done and finishes.
      const rerun = await w.approved(["reencrypt", "--from", oldName, "--to", newName, "--reenable-source", "--reason", "INC step 5, rest"], [w.alem, w.alice]);
      expect(rerun.code, rerun.stderr).toBe(0);
      const last = w.journal().filter((e) => e.operation === "reencrypt" && e.type === "outcome").at(-1)!;
      expect(last.details).toMatchObject({ rewrapped: 1500 - details.rewrapped, alreadyNew: details.rewrapped, interrupted: false });
    } finally {
      await db.close();
    }
  }, 180_000);
});
