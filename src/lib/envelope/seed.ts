// A realistic Drop database for the tests, the benchmarks and the drill: users with encrypted
// fødselsnummer envelopes (one KMS data key per record, as the app does, or a pool of data keys
// when seeding tens of thousands of rows against a slow emulator), AML transactions, legal
// holds and sessions. Both layouts; SQLite and PostgreSQL (the SQL is common to both).
import { randomInt } from "node:crypto";
import type { KMSClient } from "@aws-sdk/client-kms";
import type { Database } from "../db/index.js";
import type { DatabaseSection } from "../policy/database-section.js";
import { databaseSchema } from "../policy/database-section.js";
import { formatEnvelope, formatSealed, generateDataKey, seal } from "./index.js";

export type Layout = "combined" | "separate";

export const DROP_SCHEMA = [
  "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, national_id TEXT, erased_at TEXT)",
  "CREATE TABLE user_deks (user_id INTEGER PRIMARY KEY REFERENCES users(id), wrapped_dek TEXT NOT NULL)",
  "CREATE TABLE transactions (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), amount_ore INTEGER NOT NULL, created_at TEXT NOT NULL)",
  "CREATE INDEX transactions_user ON transactions (user_id)",
  "CREATE TABLE legal_holds (user_id INTEGER NOT NULL, reason TEXT NOT NULL, released_at TEXT)",
  "CREATE INDEX legal_holds_user ON legal_holds (user_id)",
  // As rotate-jwt --emergency expects it (revocation, and the sessions active in a compromise window).
  "CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, token_hash TEXT NOT NULL, created_at TEXT NOT NULL, last_seen_at TEXT, revoked INTEGER NOT NULL DEFAULT 0)",
];

/** The policy `database` section that maps the schema above. */
export function dropDatabaseSection(layout: Layout, url?: string): Record<string, unknown> {
  return {
    ...(url ? { url } : {}),
    users: { table: "users", id: "id", nationalId: "national_id", erasedAt: "erased_at" },
    layout,
    ...(layout === "separate" ? { dek: { table: "user_deks", column: "wrapped_dek", userColumn: "user_id" } } : {}),
    amlTables: [{ table: "transactions", userColumn: "user_id" }],
    legalHoldQuery: "SELECT reason FROM legal_holds WHERE user_id = ? AND released_at IS NULL",
  };
}

export function dropSection(layout: Layout, url?: string): DatabaseSection {
  return databaseSchema.parse(dropDatabaseSection(layout, url));
}

/** A syntactically valid, synthetic fødselsnummer (date, individual number, both mod-11 check digits). */
export function syntheticNationalId(): string {
  for (;;) {
    const day = randomInt(1, 29);
    const month = randomInt(1, 13);
    const year = randomInt(0, 100);
    const individual = randomInt(0, 500);
    const digits = [
      ...String(day).padStart(2, "0"),
      ...String(month).padStart(2, "0"),
      ...String(year).padStart(2, "0"),
      ...String(individual).padStart(3, "0"),
    ].map(Number);
    const k1 = check(digits, [3, 7, 6, 1, 8, 9, 4, 5, 2]);
    if (k1 === undefined) continue;
    const k2 = check([...digits, k1], [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]);
    if (k2 === undefined) continue;
    return [...digits, k1, k2].join("");
  }
}

function check(digits: number[], weights: number[]): number | undefined {
  const sum = digits.reduce((acc, d, i) => acc + d * weights[i]!, 0);
  const k = 11 - (sum % 11);
  if (k === 11) return 0;
  return k === 10 ? undefined : k;
}

export interface SeedOptions {
  layout: Layout;
  kms: KMSClient;
  /** The KEK (key id, ARN or alias) the data keys are wrapped under. */
  keyId: string;
  users: number;
  /** First user id (several seedings into one database). */
  firstId?: number;
  /** AML transactions per user. */
  transactionsPerUser?: number;
  /** Distinct KMS data keys to use; default one per user, as the app does. */
  dataKeys?: number;
  /** Create the schema first. */
  createSchema?: boolean;
}

export interface Seeded {
  ids: number[];
  /** id -> the plaintext fødselsnummer, for tests that scan output for leaks. */
  nationalIds: Map<number, string>;
}

export async function createDropSchema(db: Database): Promise<void> {
  for (const sql of DROP_SCHEMA) await db.execute(sql);
}

export async function seedDropDatabase(db: Database, options: SeedOptions): Promise<Seeded> {
  if (options.createSchema) await createDropSchema(db);
  const first = options.firstId ?? 1;
  const poolSize = Math.max(1, Math.min(options.dataKeys ?? options.users, options.users));
  const pool: { plaintext: Buffer; wrapped: Buffer }[] = [];
  for (let i = 0; i < poolSize; i += 16) {
    const batch = await Promise.all(Array.from({ length: Math.min(16, poolSize - i) }, () => generateDataKey(options.kms, options.keyId)));
    pool.push(...batch);
  }
  const seeded: Seeded = { ids: [], nationalIds: new Map() };
  const perUser = options.transactionsPerUser ?? 2;
  const created = new Date().toISOString();
  try {
    for (let start = 0; start < options.users; start += 1000) {
      await db.transaction(async (tx) => {
        for (let i = start; i < Math.min(options.users, start + 1000); i++) {
          const id = first + i;
          const fnr = syntheticNationalId();
          const dek = pool[i % poolSize]!;
          const sealed = seal(dek.plaintext, Buffer.from(fnr, "utf8"));
          const national = options.layout === "combined" ? formatEnvelope({ wrappedDek: dek.wrapped, ...sealed }) : formatSealed(sealed);
          await tx.execute("INSERT INTO users (id, email, national_id) VALUES (?, ?, ?)", [id, `user${id}@example.no`, national]);
          if (options.layout === "separate") await tx.execute("INSERT INTO user_deks (user_id, wrapped_dek) VALUES (?, ?)", [id, dek.wrapped.toString("base64")]);
          for (let t = 0; t < perUser; t++) {
            await tx.execute("INSERT INTO transactions (id, user_id, amount_ore, created_at) VALUES (?, ?, ?, ?)", [id * 100 + t, id, 1000 + t, created]);
          }
          seeded.ids.push(id);
          seeded.nationalIds.set(id, fnr);
        }
      });
    }
  } finally {
    for (const dek of pool) dek.plaintext.fill(0);
  }
  return seeded;
}
