// Session revocation and the compromise-window report, on SQLite and on the real PostgreSQL
// server (a database of its own for this file).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/lib/db/index.js";
import { isDropkeysError } from "../../src/lib/errors.js";
import { DEFAULT_ACTIVE_SESSIONS_QUERY, reportFormat, revokeSessions, sessionStatements, writeSessionReport } from "../../src/lib/jwt/sessions.js";
import { parsePolicy } from "../../src/lib/policy/load.js";
import { freshPgDatabase, freshSqliteUrl } from "../db/support.js";

const H = 3_600_000;
const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * H).toISOString();
const REVOKE = "UPDATE sessions SET revoked = 1 WHERE revoked = 0";

const DDL = {
  sqlite: "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT, token TEXT, created_at TEXT, last_seen_at TEXT, revoked INTEGER NOT NULL DEFAULT 0)",
  postgres: "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT, token TEXT, created_at TIMESTAMPTZ, last_seen_at TIMESTAMPTZ, revoked INTEGER NOT NULL DEFAULT 0)",
};

async function seed(db: Database): Promise<void> {
  await db.execute("DROP TABLE IF EXISTS sessions");
  await db.execute(DDL[db.kind]);
  const rows: [string, string, string, string | null, number][] = [
    ["a", "u1", at(10), at(1), 0], // active in the window
    ["b", "u2", at(2), null, 0], // created in the window, never seen again
    ["c", "u3", at(100), at(60), 0], // ended before the window
    ["d", "u4", at(30), at(20), 1], // active in the window, revoked earlier
  ];
  for (const [id, user, created, seen, revoked] of rows) {
    await db.execute("INSERT INTO sessions (id, user_id, token, created_at, last_seen_at, revoked) VALUES (?, ?, ?, ?, ?, ?)", [id, user, `secret-token-${id}`, created, seen, revoked]);
  }
}

const engines: [string, () => Promise<string>][] = [
  ["sqlite", async () => freshSqliteUrl()],
  ["postgres", () => freshPgDatabase("dk_jwt_sessions")],
];

for (const [engine, makeUrl] of engines) {
  describe(`session revocation (${engine})`, () => {
    let db: Database;
    beforeAll(async () => {
      db = await openDatabase(await makeUrl(), { create: true });
    });
    afterAll(async () => db?.close());

    it("lists the window's sessions (ids and times only) and revokes every live session in one transaction", async () => {
      await seed(db);
      const window = { since: new Date(Date.now() - 48 * H), until: new Date() };
      const result = await revokeSessions(db, { revoke: REVOKE, active: DEFAULT_ACTIVE_SESSIONS_QUERY }, window);
      expect(result.revoked).toBe(3);
      expect(result.active!.map((s) => [s.session_id, s.user_id])).toEqual([
        ["d", "u4"],
        ["a", "u1"],
        ["b", "u2"],
      ]);
      // Times come back as ISO text from both engines (PostgreSQL gives Date objects).
      expect(Math.abs(Date.parse(result.active![1]!.created_at!) - Date.parse(at(10)))).toBeLessThan(10_000);
      expect(result.active![2]!.last_seen_at).toBeNull();
      expect(JSON.stringify(result)).not.toContain("secret-token");
      const left = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE revoked = 0");
      expect(Number(left[0]!.n)).toBe(0);
      // Again: nothing left to revoke.
      expect((await revokeSessions(db, { revoke: REVOKE, active: DEFAULT_ACTIVE_SESSIONS_QUERY }, undefined)).revoked).toBe(0);
    });

    it("a failing statement rolls the whole transaction back and says nothing was revoked", async () => {
      await seed(db);
      const error = await revokeSessions(db, { revoke: "UPDATE no_such_table SET revoked = 1", active: DEFAULT_ACTIVE_SESSIONS_QUERY }, undefined).catch((e: unknown) => e);
      expect(isDropkeysError(error) && error.code).toBe("jwt.revoke-failed");
      expect(isDropkeysError(error) && error.message).toContain("nothing was revoked");
      const left = await db.query<{ n: number }>("SELECT COUNT(*) AS n FROM sessions WHERE revoked = 0");
      expect(Number(left[0]!.n)).toBe(3);
    });
  });
}

describe("the session report", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "dropkeys-jwt-report-"));
  const sessions = [
    { session_id: "s,1", user_id: '=HYPERLINK("x")', created_at: "2026-11-20T10:00:00.000Z", last_seen_at: null },
    { session_id: "s2", user_id: "u2", created_at: "2026-11-21T10:00:00.000Z", last_seen_at: "2026-11-22T10:00:00.000Z" },
  ];
  const report = { incident: "INC-1", secret: "JWT_SECRET", compromisedSince: "2026-11-20T00:00:00.000Z", until: "2026-11-23T00:00:00.000Z", revokedSessions: 7, sessions };

  it("CSV: quoted where needed, formulas defused", () => {
    const file = path.join(dir, "r.csv");
    writeSessionReport(file, report);
    expect(readFileSync(file, "utf8")).toBe(
      'session_id,user_id,created_at,last_seen_at\n"s,1","\'=HYPERLINK(""x"")",2026-11-20T10:00:00.000Z,\ns2,u2,2026-11-21T10:00:00.000Z,2026-11-22T10:00:00.000Z\n',
    );
  });

  it("JSON: the window, the count and the sessions", () => {
    const file = path.join(dir, "r.json");
    writeSessionReport(file, report);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(report);
  });

  it("any other extension is a usage error", () => {
    expect(reportFormat("x.CSV")).toBe("csv");
    const error = (() => {
      try {
        return reportFormat("x.txt");
      } catch (e) {
        return e;
      }
    })();
    expect(isDropkeysError(error) && error.exitCode).toBe(2);
  });

  it("takes the revocation statement from the database section and the window query from jwt", () => {
    const policy = parsePolicy(
      [
        "version: 1",
        "inventory: [{ name: JWT_SECRET, kind: secret, rotation: quarterly }]",
        "database: { url: 'sqlite:x.db', sessionRevocation: 'DELETE FROM refresh_tokens' }",
        "jwt: { activeSessionsQuery: 'SELECT id AS session_id, user_id, created_at, NULL AS last_seen_at FROM refresh_tokens WHERE created_at >= ? AND created_at <= ?' }",
      ].join("\n"),
    );
    expect(sessionStatements(policy)).toEqual({
      revoke: "DELETE FROM refresh_tokens",
      active: "SELECT id AS session_id, user_id, created_at, NULL AS last_seen_at FROM refresh_tokens WHERE created_at >= ? AND created_at <= ?",
    });
    const defaults = sessionStatements(parsePolicy("version: 1\ninventory: [{ name: JWT_SECRET, kind: secret, rotation: quarterly }]\n"));
    expect(defaults).toEqual({ revoke: REVOKE, active: DEFAULT_ACTIVE_SESSIONS_QUERY });
  });
});
