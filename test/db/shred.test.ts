// shred-user's engine against real SQLite files and a real PostgreSQL server, both layouts:
// erasure, legal hold, unknown and already-erased users, AML rows kept, the journal per chunk
// with its verification and the backup horizon, and no fødselsnummer anywhere in the journal.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/lib/db/index.js";
import { DescribeKeyCommand } from "@aws-sdk/client-kms";
import { decryptEnvelope, encryptEnvelope, formatSealed, parseEnvelope, parseSealed, open as openSealed, unwrapDek } from "../../src/lib/envelope/index.js";
import { databaseSchema, reencryptTables } from "../../src/lib/policy/database-section.js";
import { reencrypt } from "../../src/lib/reencrypt/engine.js";
import { dropSection, seedDropDatabase, type Layout, type Seeded } from "../../src/lib/envelope/seed.js";
import { Journal } from "../../src/lib/journal/journal.js";
import { classifyUsers, parseUserIds, shredUsers } from "../../src/lib/shred/engine.js";
import { kmsClient } from "../support/aws.js";
import { createKmsKey, freshPgDatabase, freshSqliteUrl, journalText, leakedNationalId, testActor } from "./support.js";

const kms = kmsClient();
let keyId: string;
beforeAll(async () => {
  keyId = (await createKmsKey()).keyId;
});

it("reads user ids from a file: one per line, blanks and comments dropped, duplicates once", () => {
  expect(parseUserIds(["1", " 2 ", "", "# header", "3 # note", "2"])).toEqual(["1", "2", "3"]);
});

for (const engine of ["sqlite", "postgres"] as const) {
  for (const layout of ["combined", "separate"] as const satisfies Layout[]) {
    describe(`shred-user engine on ${engine}, layout ${layout}`, () => {
      let db: Database;
      let seeded: Seeded;
      let journalDir: string;
      let journal: Journal;
      const section = dropSection(layout);

      beforeAll(async () => {
        const url = engine === "sqlite" ? freshSqliteUrl() : await freshPgDatabase();
        db = await openDatabase(url, { create: true });
        seeded = await seedDropDatabase(db, { layout, kms, keyId, users: 12, createSchema: true, transactionsPerUser: 3 });
        await db.execute("INSERT INTO legal_holds (user_id, reason) VALUES (?, ?)", [5, "Økokrim case 2026-114"]);
        await db.execute("INSERT INTO legal_holds (user_id, reason, released_at) VALUES (?, ?, ?)", [6, "old case", "2026-01-01"]);
        journalDir = mkdtempSync(path.join(tmpdir(), "dropkeys-shred-"));
        journal = new Journal(journalDir);
      });
      afterAll(async () => db?.close());

      const run = (ids: string[], requestId: string, chunkSize?: number) =>
        shredUsers(ids, { db, section, journal, actor: testActor, requestId, reason: "DSR-2026-0042", backupRetentionDays: 35, chunkSize });

      it("erases the DEK, keeps the AML rows, journals intent and outcome with verification and the backup horizon", async () => {
        const before = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM transactions WHERE user_id IN (1, 2)");
        const summary = await run(["1", "2"], "req-1");
        expect(summary.erased).toEqual(["1", "2"]);
        expect(summary.failed).toEqual([]);
        const states = await classifyUsers(db, section, ["1", "2", "3"]);
        expect([...states.values()]).toEqual(["erased", "erased", "live"]);
        if (layout === "combined") {
          const rows = await db.query<{ national_id: unknown; erased_at: unknown }>("SELECT national_id, erased_at FROM users WHERE id IN (1, 2)");
          expect(rows.every((r) => r.national_id === null && typeof r.erased_at === "string")).toBe(true);
        } else {
          expect(await db.query("SELECT * FROM user_deks WHERE user_id IN (1, 2)")).toEqual([]);
          // The ciphertext stays, but nothing can open it any more.
          const [row] = await db.query<{ national_id: string; erased_at: unknown }>("SELECT national_id, erased_at FROM users WHERE id = 1");
          expect(parseSealed(row!.national_id).ciphertext.length).toBeGreaterThan(0);
          expect(row!.erased_at).toBeTruthy();
        }
        const after = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM transactions WHERE user_id IN (1, 2)");
        expect(after[0]!.n).toBe(before[0]!.n);
        expect(after[0]!.n).toBe(6);

        const entries = journal.entries().filter((e) => e.requestId === "req-1");
        expect(entries.map((e) => e.type)).toEqual(["intent", "outcome"]);
        expect(entries[0]!.params).toMatchObject({ chunk: 1, userIds: ["1", "2"] });
        expect(entries[1]!.intentSeq).toBe(entries[0]!.seq);
        expect(entries[1]!.outcome).toBe("succeeded");
        expect(entries[1]!.verification?.result).toBe("passed");
        expect(entries[1]!.details).toMatchObject({ erased: ["1", "2"], backupRetentionDays: 35 });
        const until = new Date(String(entries[1]!.details!.backupsHoldUntil)).getTime();
        expect(Math.abs(until - (Date.now() + 35 * 86_400_000))).toBeLessThan(60_000);
        expect(journal.verify().ok).toBe(true);
      });

      it("leaves every other user's fødselsnummer readable", async () => {
        if (layout === "combined") {
          const [row] = await db.query<{ national_id: string }>("SELECT national_id FROM users WHERE id = 3");
          const plain = await decryptEnvelope(kms, row!.national_id, 96);
          expect(plain.toString()).toBe(seeded.nationalIds.get(3));
        } else {
          const [row] = await db.query<{ national_id: string; wrapped_dek: string }>(
            "SELECT u.national_id, d.wrapped_dek FROM users u JOIN user_deks d ON d.user_id = u.id WHERE u.id = 3",
          );
          const { dek } = await unwrapDek(kms, Buffer.from(row!.wrapped_dek, "base64"));
          expect(openSealed(dek, parseSealed(row!.national_id)).toString()).toBe(seeded.nationalIds.get(3));
        }
      });

      it("refuses a user under legal hold and goes on with the others; a released hold does not count", async () => {
        const summary = await run(["5", "6", "7"], "req-2");
        expect(summary.held).toEqual([{ id: "5", reason: "Økokrim case 2026-114" }]);
        expect(summary.erased).toEqual(["6", "7"]);
        const states = await classifyUsers(db, section, ["5", "6", "7"]);
        expect(states.get("5")).toBe("live");
        const outcome = journal.entries().find((e) => e.requestId === "req-2" && e.type === "outcome");
        expect(outcome!.details).toMatchObject({ held: [{ id: "5", reason: "Økokrim case 2026-114" }], erased: ["6", "7"] });
      });

      it("reports unknown users as not found and erased ones as already erased, changing nothing", async () => {
        const [erasedBefore] = await db.query<{ erased_at: unknown }>("SELECT erased_at FROM users WHERE id = 1");
        const summary = await run(["1", "999", "not-a-number"], "req-3");
        expect(summary.alreadyErased).toEqual(["1"]);
        expect(summary.notFound).toEqual(["999", "not-a-number"]);
        expect(summary.erased).toEqual([]);
        const [erasedAfter] = await db.query<{ erased_at: unknown }>("SELECT erased_at FROM users WHERE id = 1");
        expect(erasedAfter!.erased_at).toEqual(erasedBefore!.erased_at);
      });

      it("works in chunks, one intent and one outcome per chunk", async () => {
        const summary = await run(["8", "9", "10", "11", "12"], "req-4", 2);
        expect(summary.erased).toEqual(["8", "9", "10", "11", "12"]);
        expect(summary.chunks).toBe(3);
        const entries = journal.entries().filter((e) => e.requestId === "req-4");
        expect(entries.map((e) => `${e.type}:${String(e.params?.chunk ?? e.details?.chunk)}`)).toEqual([
          "intent:1", "outcome:1", "intent:2", "outcome:2", "intent:3", "outcome:3",
        ]);
      });

      it("never writes a national ID into the journal", () => {
        expect(leakedNationalId(journalText(journalDir), seeded.nationalIds.values())).toBeUndefined();
      });
    });
  }
}

describe("AML verification catches a cascade", () => {
  it("rolls the user back when erasing would remove transaction rows (trigger), and reports a failure", async () => {
    const db = await openDatabase(freshSqliteUrl(), { create: true });
    try {
      await seedDropDatabase(db, { layout: "combined", kms, keyId, users: 3, createSchema: true, dataKeys: 1 });
      await db.execute(
        "CREATE TRIGGER wipe AFTER UPDATE OF national_id ON users WHEN NEW.id = 2 BEGIN DELETE FROM transactions WHERE user_id = NEW.id; END",
      );
      const journal = new Journal(mkdtempSync(path.join(tmpdir(), "dropkeys-shred-")));
      const summary = await shredUsers(["1", "2", "3"], {
        db, section: dropSection("combined"), journal, actor: testActor, requestId: "req-t", backupRetentionDays: 35,
      });
      expect(summary.erased).toEqual(["1", "3"]);
      expect(summary.failed).toHaveLength(1);
      expect(summary.failed[0]!.error).toMatch(/AML row counts changed/);
      const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM transactions WHERE user_id = 2");
      expect(row!.n).toBe(2);
      expect((await classifyUsers(db, dropSection("combined"), ["2"])).get("2")).toBe("live");
      const outcome = journal.entries().find((e) => e.type === "outcome");
      expect(outcome!.outcome).toBe("failed");
      expect(outcome!.verification!.result).toBe("partial");
    } finally {
      await db.close();
    }
  });
});

describe("a run that dies between a chunk's commit and its outcome entry", () => {
  it("leaves the chunk erased and announced; the next run journals its outcome from the database and finishes", async () => {
    const db = await openDatabase(freshSqliteUrl(), { create: true });
    try {
      await seedDropDatabase(db, { layout: "combined", kms, keyId, users: 6, createSchema: true, dataKeys: 1 });
      const journal = new Journal(mkdtempSync(path.join(tmpdir(), "dropkeys-shred-")));
      const section = dropSection("combined");
      const base = { db, section, journal, actor: testActor, backupRetentionDays: 35, chunkSize: 2 };
      const ids = ["1", "2", "3", "4", "5", "6"];
      await expect(
        shredUsers(ids, { ...base, requestId: "req-dies", afterCommit: (chunk) => {
          if (chunk === 2) throw new Error("process died");
        } }),
      ).rejects.toThrow("process died");
      const open = journal.verify().openIntents;
      expect(open.map((e) => e.params?.userIds)).toEqual([["3", "4"]]);
      expect([...(await classifyUsers(db, section, ids)).values()]).toEqual(["erased", "erased", "erased", "erased", "live", "live"]);

      const summary = await shredUsers(ids, { ...base, requestId: "req-rerun" });
      expect(summary.reconciled).toBe(1);
      expect(summary.alreadyErased).toEqual(["1", "2", "3", "4"]);
      expect(summary.erased).toEqual(["5", "6"]);
      const closing = journal.entries().find((e) => e.type === "outcome" && e.intentSeq === open[0]!.seq);
      expect(closing).toMatchObject({ outcome: "interrupted", details: { erased: ["3", "4"], untouched: [] } });
      expect(journal.verify()).toMatchObject({ ok: true, openIntents: [] });
    } finally {
      await db.close();
    }
  });
});

describe("layout separate with the wrapped DEK in a column of the users table", () => {
  it("shred-user clears the DEK column only, and reencrypt rewraps that column", async () => {
    const db = await openDatabase(freshSqliteUrl(), { create: true });
    try {
      await db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, national_id TEXT, wrapped_dek TEXT, erased_at TEXT)");
      await db.execute("CREATE TABLE transactions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL)");
      for (let id = 1; id <= 3; id++) {
        const env = parseEnvelope(await encryptEnvelope(kms, keyId, Buffer.from(`0101990000${id}`)), 96);
        await db.execute("INSERT INTO users (id, national_id, wrapped_dek) VALUES (?, ?, ?)", [id, formatSealed(env), env.wrappedDek.toString("base64")]);
        await db.execute("INSERT INTO transactions (id, user_id) VALUES (?, ?)", [id, id]);
      }
      const section = databaseSchema.parse({
        users: { erasedAt: "erased_at" },
        layout: "separate",
        dek: { column: "wrapped_dek" },
        amlTables: [{ table: "transactions" }],
      });
      const journal = new Journal(mkdtempSync(path.join(tmpdir(), "dropkeys-shred-")));
      const summary = await shredUsers(["2"], { db, section, journal, actor: testActor, requestId: "req-col", backupRetentionDays: 35 });
      expect(summary.erased).toEqual(["2"]);
      const [row] = await db.query<{ national_id: string | null; wrapped_dek: string | null; erased_at: string | null }>("SELECT * FROM users WHERE id = 2");
      expect(row!.wrapped_dek).toBeNull();
      expect(row!.national_id).not.toBeNull();
      expect(row!.erased_at).not.toBeNull();

      const newKey = await createKmsKey();
      const from = { keyId, arn: (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.Arn! };
      const tables = reencryptTables(section);
      expect(tables).toEqual([{ table: "users", id: "id", column: "wrapped_dek", format: "dek", classification: "L4" }]);
      const result = await reencrypt({ db, tables, kms, from, to: newKey, wrappedDekBytes: 96 });
      expect(result.tables[0]).toMatchObject({ scanned: 2, rewrapped: 2 });
      const [one] = await db.query<{ national_id: string; wrapped_dek: string }>("SELECT * FROM users WHERE id = 1");
      const { dek, keyId: under } = await unwrapDek(kms, Buffer.from(one!.wrapped_dek, "base64"), newKey.arn);
      expect(under).toBe(newKey.arn);
      expect(openSealed(dek, parseSealed(one!.national_id)).toString()).toBe("01019900001");
    } finally {
      await db.close();
    }
  });
});
