// The database layer on a real SQLite file and a real PostgreSQL server: the same SQL with `?`
// placeholders, changes counted, transactions committed or rolled back, savepoints when nested.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { databaseUrl, openDatabase, redactUrl, toDollarPlaceholders, type Database } from "../../src/lib/db/index.js";
import { databaseSchema, reencryptTables } from "../../src/lib/policy/database-section.js";
import { isDropkeysError } from "../../src/lib/errors.js";
import { freshPgDatabase, freshSqliteUrl } from "./support.js";

describe("placeholders and URLs", () => {
  it("translates ? outside quotes and comments", () => {
    expect(toDollarPlaceholders("SELECT * FROM t WHERE a = ? AND b = '?' AND \"c?\" = ? -- ?\nAND d = ?")).toBe(
      "SELECT * FROM t WHERE a = $1 AND b = '?' AND \"c?\" = $2 -- ?\nAND d = $3",
    );
  });
  it("never shows a password", () => {
    expect(redactUrl("postgres://drop:s3cret@db.internal:5432/drop")).toBe("postgres://drop:***@db.internal:5432/drop");
  });
  it("takes the URL from the policy, then DATABASE_URL, else exit 2", () => {
    const saved = process.env.DATABASE_URL;
    try {
      delete process.env.DATABASE_URL;
      expect(databaseUrl({ database: databaseSchema.parse({ url: "sqlite:a.db" }) })).toBe("sqlite:a.db");
      process.env.DATABASE_URL = "postgres://x@h/d";
      expect(databaseUrl({ database: undefined })).toBe("postgres://x@h/d");
      delete process.env.DATABASE_URL;
      let error: unknown;
      try {
        databaseUrl({ database: undefined });
      } catch (e) {
        error = e;
      }
      expect(isDropkeysError(error) && error.exitCode).toBe(2);
    } finally {
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  });
  it("refuses an unknown scheme and a missing SQLite file", async () => {
    await expect(openDatabase("mysql://x")).rejects.toMatchObject({ code: "database.url" });
    await expect(openDatabase("sqlite:/nonexistent/drop.db")).rejects.toMatchObject({ code: "database.missing" });
  });
});

describe("policy database section", () => {
  it("fills defaults, requires dek for layout separate, orders reencrypt tables L4 first", () => {
    const d = databaseSchema.parse({});
    expect(d.users).toEqual({ table: "users", id: "id", nationalId: "national_id" });
    expect(d.shredBatchSize).toBe(500);
    expect(d.sessionRevocation).toBe("UPDATE sessions SET revoked = 1 WHERE revoked = 0");
    expect(databaseSchema.safeParse({ layout: "separate" }).success).toBe(false);
    expect(databaseSchema.safeParse({ users: { table: "users; DROP TABLE x" } }).success).toBe(false);
    const s = databaseSchema.parse({
      reencrypt: [
        { table: "notes", column: "body", classification: "L3" },
        { table: "users", column: "national_id" },
        { table: "aml", column: "doc", classification: "L4" },
      ],
    });
    expect(reencryptTables(s).map((t) => t.table)).toEqual(["users", "aml", "notes"]);
    const sep = databaseSchema.parse({ layout: "separate", dek: { table: "user_deks" } });
    expect(reencryptTables(sep)).toEqual([{ table: "user_deks", id: "user_id", column: "wrapped_dek", format: "dek", classification: "L4" }]);
  });
});

for (const engine of ["sqlite", "postgres"] as const) {
  describe(`database layer on ${engine}`, () => {
    let db: Database;
    beforeAll(async () => {
      const url = engine === "sqlite" ? freshSqliteUrl() : await freshPgDatabase();
      db = await openDatabase(url, { create: true });
      await db.execute("CREATE TABLE sessions (id INTEGER PRIMARY KEY, revoked INTEGER NOT NULL DEFAULT 0, note TEXT)");
      for (let i = 1; i <= 5; i++) await db.execute("INSERT INTO sessions (id, revoked, note) VALUES (?, ?, ?)", [i, i === 5, `n${i}`]);
    });
    afterAll(async () => db?.close());

    it("reports its kind and counts rows", async () => {
      expect(db.kind).toBe(engine);
      const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE revoked = ?", [0]);
      expect(row!.n).toBe(4);
    });

    it("commits a transaction and returns changes", async () => {
      const changes = await db.transaction(async (tx) => (await tx.execute("UPDATE sessions SET note = ? WHERE id <= ?", ["x", 2])).changes);
      expect(changes).toBe(2);
      const rows = await db.query<{ note: string }>("SELECT note FROM sessions WHERE id <= 2 ORDER BY id");
      expect(rows.map((r) => r.note)).toEqual(["x", "x"]);
    });

    it("rolls back on throw, and a nested failure only undoes its savepoint", async () => {
      await expect(
        db.transaction(async (tx) => {
          await tx.execute("UPDATE sessions SET note = 'lost' WHERE id = 3");
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect((await db.query<{ note: string }>("SELECT note FROM sessions WHERE id = 3"))[0]!.note).toBe("n3");

      await db.transaction(async (tx) => {
        await tx.execute("UPDATE sessions SET note = 'kept' WHERE id = 3");
        await tx.transaction(async (inner) => {
          await inner.execute("UPDATE sessions SET note = 'undone' WHERE id = 4");
          throw new Error("inner");
        }).catch(() => undefined);
      });
      const rows = await db.query<{ id: number; note: string }>("SELECT id, note FROM sessions WHERE id IN (3, 4) ORDER BY id");
      expect(rows.map((r) => r.note)).toEqual(["kept", "n4"]);
    });

    it("runs the default session revocation statement", async () => {
      const { changes } = await db.execute(databaseSchema.parse({}).sessionRevocation);
      expect(changes).toBe(4);
    });

    it("keeps concurrent transactions apart", async () => {
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          db.transaction(async (tx) => {
            const [row] = await tx.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions");
            await tx.execute("INSERT INTO sessions (id, revoked, note) VALUES (?, 0, ?)", [100 + i, `c${row!.n}`]);
          }),
        ),
      );
      const [row] = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE id >= 100");
      expect(row!.n).toBe(8);
    });

    it("reports a bad statement as an expected failure", async () => {
      await expect(db.query("SELECT nope FROM sessions")).rejects.toSatisfy((e: unknown) => isDropkeysError(e) && e.exitCode === 1);
    });
  });
}
