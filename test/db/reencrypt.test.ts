// reencrypt's engine against the strict KMS emulator and real SQLite / PostgreSQL databases:
// every DEK rewrapped under the new key, resumable, a concurrent app write never lost (compare-
// and-set, retried from a fresh read), corrupt envelopes reported with their row id, a disabled
// source key detected, and --reenable-source's enable/disable steps journalled.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DecryptCommand, DescribeKeyCommand, DisableKeyCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/lib/db/index.js";
import { encryptEnvelope, envelopeError, open as openSealed, parseEnvelope, parseSealed } from "../../src/lib/envelope/index.js";
import { dropSection, seedDropDatabase, type Layout, type Seeded } from "../../src/lib/envelope/seed.js";
import { isDropkeysError } from "../../src/lib/errors.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { reencryptTables } from "../../src/lib/policy/database-section.js";
import { reencrypt, totals, verifySample, withBackoff, type KeyRef } from "../../src/lib/reencrypt/engine.js";
import { mergeRules } from "../../src/lib/policy/rules.js";
import { DISABLE_SOURCE, ENABLE_SOURCE, sourceKeysLeftEnabled, withSourceEnabled } from "../../src/lib/reencrypt/source-key.js";
import { kmsClient } from "../support/aws.js";
import { createKmsKey, freshPgDatabase, freshSqliteUrl, journalText, leakedNationalId, testActor } from "./support.js";

const kms = kmsClient();
const WRAPPED = 96; // the emulator's blob size for a 32-byte data key (real AWS: ~184); measured in the CLI tests
let oldKey: KeyRef;
let newKey: KeyRef;

beforeAll(async () => {
  [oldKey, newKey] = await Promise.all([createKmsKey(), createKmsKey()]);
});

/** The national ID of a row, decrypted with KMS Decrypt pinned to `key` (fails if under another key). */
async function readUnder(db: Database, layout: Layout, id: number, key: KeyRef): Promise<string> {
  const [row] = await db.query<{ national_id: string; wrapped_dek: string | null }>(
    layout === "combined"
      ? "SELECT national_id, NULL AS wrapped_dek FROM users WHERE id = ?"
      : "SELECT u.national_id, d.wrapped_dek FROM users u JOIN user_deks d ON d.user_id = u.id WHERE u.id = ?",
    [id],
  );
  const env = layout === "combined" ? parseEnvelope(row!.national_id, WRAPPED) : { wrappedDek: Buffer.from(row!.wrapped_dek!, "base64"), ...parseSealed(row!.national_id) };
  const out = await kms.send(new DecryptCommand({ CiphertextBlob: env.wrappedDek, KeyId: key.arn }));
  expect(out.KeyId).toBe(key.arn);
  const dek = Buffer.from(out.Plaintext!);
  return openSealed(dek, env).toString();
}

for (const engine of ["sqlite", "postgres"] as const) {
  for (const layout of ["combined", "separate"] as const satisfies Layout[]) {
    describe(`reencrypt engine on ${engine}, layout ${layout}`, () => {
      let db: Database;
      let seeded: Seeded;
      const section = dropSection(layout);
      const tables = reencryptTables(section);
      const options = () => ({ db, tables, kms, from: oldKey, to: newKey, wrappedDekBytes: WRAPPED, concurrency: 4 });

      beforeAll(async () => {
        const url = engine === "sqlite" ? freshSqliteUrl() : await freshPgDatabase();
        db = await openDatabase(url, { create: true });
        seeded = await seedDropDatabase(db, { layout, kms, keyId: oldKey.keyId, users: 24, createSchema: true, dataKeys: 6 });
      });
      afterAll(async () => db?.close());

      it("rewraps every DEK under the new key; the fødselsnummer decrypts unchanged; the sample verifies", async () => {
        const result = await reencrypt(options());
        const t = totals(result);
        expect(t).toMatchObject({ scanned: 24, rewrapped: 24, alreadyNew: 0, corrupt: 0, failed: 0 });
        expect(result.tables[0]!.table).toBe(layout === "combined" ? "users" : "user_deks");
        for (const id of [1, 12, 24]) expect(await readUnder(db, layout, id, newKey)).toBe(seeded.nationalIds.get(id));
        await expect(readUnder(db, layout, 2, oldKey)).rejects.toBeTruthy();
        const verification = await verifySample({ db, tables, kms, to: newKey, wrappedDekBytes: WRAPPED }, result.sample);
        expect(verification.result).toBe("passed");
        expect(verification.decrypted).toBe(result.sample.length);
        expect(result.sample.length).toBe(20);
      });

      it("is resumable: a rerun skips what is already under the new key and writes nothing", async () => {
        const before = await db.query("SELECT * FROM users ORDER BY id");
        const result = await reencrypt(options());
        expect(totals(result)).toMatchObject({ scanned: 24, rewrapped: 0, alreadyNew: 24 });
        expect(await db.query("SELECT * FROM users ORDER BY id")).toEqual(before);
      });

      it("never loses a concurrent write by the app: the compare-and-set loses, and the row is redone from a fresh read", async () => {
        // The app writes rows 3 and 4 under the old key again (e.g. a user updated their profile).
        const fresh = new Map<number, string>([[3, "01019912345"], [4, "02029912345"]]);
        for (const [id, fnr] of fresh) await appWrite(db, layout, id, fnr, oldKey);
        let raced = false;
        const result = await reencrypt({
          ...options(),
          concurrency: 1,
          beforeWrite: async (_table, id) => {
            // Between our ReEncrypt and our write, the app changes row 3 once more, and erases row 4.
            if (Number(id) === 3 && !raced) {
              raced = true;
              fresh.set(3, "03039912345");
              await appWrite(db, layout, 3, "03039912345", oldKey);
            }
            if (Number(id) === 4) await appErase(db, layout, 4);
          },
        });
        const table = result.tables[0]!;
        expect(table.lostRaces).toBe(2);
        expect(table.rewrapped).toBe(1);
        expect(table.gone).toBe(1);
        expect(await readUnder(db, layout, 3, newKey)).toBe("03039912345");
      });

      it("reports a corrupt envelope with its table and row id, leaves it, and does the rest", async () => {
        const [t] = tables;
        await db.execute(`UPDATE ${t!.table} SET ${t!.column} = ? WHERE ${t!.id} = ?`, ["not base64!", 7]);
        await db.execute(`UPDATE ${t!.table} SET ${t!.column} = ? WHERE ${t!.id} = ?`, [Buffer.alloc(40, 1).toString("base64"), 8]);
        await appWrite(db, layout, 9, "04049912345", oldKey);
        const result = await reencrypt(options());
        const corrupt = result.tables[0]!.corrupt;
        expect(corrupt.map((c) => Number(c.id)).sort()).toEqual([7, 8]);
        expect(corrupt.find((c) => Number(c.id) === 7)!.problem).toMatch(/not valid base64/);
        expect(corrupt.find((c) => Number(c.id) === 8)!.problem).toMatch(/40 bytes/);
        expect(result.tables[0]!.rewrapped).toBe(1);
        expect((await db.query(`SELECT ${t!.column} AS v FROM ${t!.table} WHERE ${t!.id} = 7`))[0]).toEqual({ v: "not base64!" });
      });
    });
  }
}

async function appWrite(db: Database, layout: Layout, id: number, fnr: string, key: KeyRef): Promise<void> {
  const envelope = await encryptEnvelope(kms, key.keyId, Buffer.from(fnr));
  if (layout === "combined") {
    await db.execute("UPDATE users SET national_id = ? WHERE id = ?", [envelope, id]);
  } else {
    const env = parseEnvelope(envelope, WRAPPED);
    await db.execute("UPDATE users SET national_id = ? WHERE id = ?", [Buffer.concat([env.iv, env.tag, env.ciphertext]).toString("base64"), id]);
    await db.execute("UPDATE user_deks SET wrapped_dek = ? WHERE user_id = ?", [env.wrappedDek.toString("base64"), id]);
  }
}

async function appErase(db: Database, layout: Layout, id: number): Promise<void> {
  if (layout === "combined") await db.execute("UPDATE users SET national_id = NULL WHERE id = ?", [id]);
  else await db.execute("DELETE FROM user_deks WHERE user_id = ?", [id]);
}

describe("a disabled source key", () => {
  let db: Database;
  let from: KeyRef;
  let to: KeyRef;
  let seeded: Seeded;
  const journalDir = mkdtempSync(path.join(tmpdir(), "dropkeys-reenc-"));
  const journal = new Journal(journalDir);
  const section = dropSection("combined");

  beforeAll(async () => {
    [from, to] = await Promise.all([createKmsKey(), createKmsKey()]);
    db = await openDatabase(freshSqliteUrl(), { create: true });
    seeded = await seedDropDatabase(db, { layout: "combined", kms, keyId: from.keyId, users: 10, createSchema: true, dataKeys: 2 });
    await kms.send(new DisableKeyCommand({ KeyId: from.keyId }));
  });
  afterAll(async () => db?.close());

  const state = async (key: KeyRef) => (await kms.send(new DescribeKeyCommand({ KeyId: key.keyId }))).KeyMetadata!.KeyState;
  const sourceOptions = () => ({ kms, key: { ...from, name: "old-key", region: "eu-north-1" }, journal, actor: testActor, requestId: "req-src", timeoutMs: 10_000 });
  const run = () => reencrypt({ db, tables: reencryptTables(section), kms, from, to, wrappedDekBytes: WRAPPED });

  it("stops at the first ReEncrypt with DisabledException and says what to do", async () => {
    const error = await run().then(() => undefined, (e: unknown) => e);
    expect(isDropkeysError(error) && error.code).toBe("aws.DisabledException");
    expect(isDropkeysError(error) && error.hint).toMatch(/--reenable-source/);
  });

  it("--reenable-source disables the key again when the re-encryption fails, and journals each step", async () => {
    const steps = {};
    await expect(withSourceEnabled(sourceOptions(), steps, async () => {
      expect(await state(from)).toBe("Enabled");
      throw new Error("database went away");
    })).rejects.toThrow("database went away");
    expect(await state(from)).toBe("Disabled");
    expect(sourceKeysLeftEnabled(journal.entries())).toEqual([]);
  });

  it("--reenable-source: enables, re-encrypts everything, disables again; a killed run is flagged from the journal", async () => {
    const steps: { enabledAt?: string; disabledAt?: string } = {};
    const result = await withSourceEnabled(sourceOptions(), steps, run);
    expect(totals(result).rewrapped).toBe(10);
    expect(await state(from)).toBe("Disabled");
    expect(steps.enabledAt && steps.disabledAt).toBeTruthy();
    const ops = journal.entries().map((e) => `${e.operation}:${e.type}:${e.outcome ?? ""}`);
    expect(ops.slice(-4)).toEqual([`${ENABLE_SOURCE}:intent:`, `${ENABLE_SOURCE}:outcome:succeeded`, `${DISABLE_SOURCE}:intent:`, `${DISABLE_SOURCE}:outcome:succeeded`]);
    expect(sourceKeysLeftEnabled(journal.entries())).toEqual([]);
    // A run killed after enabling: only the enable entries exist.
    const killed = journal.entries().slice(0, -2);
    expect(sourceKeysLeftEnabled(killed).map((k) => k.keyId)).toEqual([from.keyId]);
    expect(leakedNationalId(journalText(journalDir), seeded.nationalIds.values())).toBeUndefined();
  });
});

describe("pieces", () => {
  it("backs off and retries on ThrottlingException, and gives up on other errors at once", async () => {
    let calls = 0;
    let throttled = 0;
    const value = await withBackoff(
      async () => {
        if (++calls < 3) throw Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
        return "ok";
      },
      { baseMs: 1, onThrottle: () => throttled++ },
    );
    expect([value, calls, throttled]).toEqual(["ok", 3, 2]);
    calls = 0;
    await expect(withBackoff(async () => {
      calls++;
      throw Object.assign(new Error("no"), { name: "DisabledException" });
    }, { baseMs: 1 })).rejects.toThrow("no");
    expect(calls).toBe(1);
  });

  it("a parse error names table, row and problem, never the value", () => {
    const error = envelopeError({ table: "users", column: "national_id", id: 42 }, "the value is not valid base64");
    expect(error.message).toBe('users.national_id row 42: the envelope does not parse: the value is not valid base64');
    expect(() => parseEnvelope(Buffer.alloc(100).toString("base64"), 96, { table: "users", id: 7 })).toThrow(/users row 7: .*100 bytes/);
  });

  it("merges approval rules so both are satisfied", () => {
    expect(mergeRules({ roles: ["CISO"] }, { roles: ["drop-key-admin", "CISO"] }).roles).toEqual(["CISO", "drop-key-admin"]);
    expect(mergeRules({ roles: ["drop-key-admin", "CISO"] }, { roles: ["drop-key-admin", "CISO"] }).roles).toEqual(["drop-key-admin", "CISO"]);
    expect(mergeRules({ roles: [["security-lead", "CISO"]] }, { roles: ["CISO"] }).roles).toEqual([["security-lead", "CISO"], "CISO"]);
    expect(mergeRules({ roles: ["CISO"], singleCustodianException: "EXC-1" }, { roles: ["CISO"] }).singleCustodianException).toBeUndefined();
  });
});
