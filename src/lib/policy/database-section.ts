// The policy's `database` section: where the Drop database is and how its schema maps onto
// what shred-user, reencrypt and rotate-jwt --emergency need. Table and column names are
// interpolated into SQL, so they must be plain identifiers (optionally schema-qualified).
import { z } from "zod";

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/, "expected an SQL identifier such as users or public.users");

const classification = z.enum(["L1", "L2", "L3", "L4"], { error: () => 'expected "L1", "L2", "L3" or "L4"' });

/** The users table and the column that holds the fødselsnummer envelope. */
const usersSchema = z.object({
  table: identifier.default("users"),
  id: identifier.default("id"),
  /** layout combined: the whole envelope; layout separate: base64(iv || tag || ciphertext). */
  nationalId: identifier.default("national_id"),
  /** Set to the erasure time by shred-user when present. */
  erasedAt: identifier.optional(),
});

/** Layout `separate`: where the wrapped DEK lives (base64 text, or bytes). */
const dekSchema = z.object({
  /** A table of its own (one row per user), or absent: a column of the users table. */
  table: identifier.optional(),
  column: identifier.default("wrapped_dek"),
  /** With `table`: the column that refers to the user's id. */
  userColumn: identifier.default("user_id"),
});

/** A table that must survive an erasure unchanged (transactions: AML, 5 years, Hvitvaskingsloven § 30). */
const amlTableSchema = z.object({
  table: identifier,
  userColumn: identifier.default("user_id"),
});

/** A column of envelopes (or bare wrapped DEKs) that reencrypt rewraps after a compromise. */
const reencryptTableSchema = z.object({
  table: identifier,
  id: identifier.default("id"),
  column: identifier,
  /** envelope: base64(wrappedDEK || iv || tag || ciphertext); dek: base64 of the wrapped DEK alone. */
  format: z.enum(["envelope", "dek"]).default("envelope"),
  classification: classification.default("L4"),
});

export const DEFAULT_SESSION_REVOCATION = "UPDATE sessions SET revoked = 1 WHERE revoked = 0";

export const databaseSchema = z
  .object({
    /** "sqlite:PATH" or "postgres://..."; DATABASE_URL is used when this is absent. */
    url: z.string().min(1).optional(),
    users: usersSchema.default(usersSchema.parse({})),
    layout: z.enum(["combined", "separate"]).default("combined"),
    dek: dekSchema.optional(),
    amlTables: z.array(amlTableSchema).default([]),
    /**
     * SELECT that finds a legal hold on a user: every `?` is bound to the user id; any row means
     * "held", and its first column (when text) is shown as the reason.
     */
    legalHoldQuery: z.string().min(1).optional(),
    /** The statement rotate-jwt --emergency runs to revoke every session. */
    sessionRevocation: z.string().min(1).default(DEFAULT_SESSION_REVOCATION),
    /** Users per shred-user transaction and journal intent/outcome pair (the journal fsyncs each entry). */
    shredBatchSize: z.number().int().min(1).max(10_000).default(500),
    /** What reencrypt rewraps, in priority order (L4 first); default: the users mapping. */
    reencrypt: z.array(reencryptTableSchema).optional(),
  })
  .superRefine((section, ctx) => {
    if (section.layout === "separate" && !section.dek) {
      ctx.addIssue({ code: "custom", path: ["dek"], message: 'layout "separate" needs `dek` (the table or column of the wrapped DEK)' });
    }
    if (section.legalHoldQuery && !/^\s*(select|with)\b/i.test(section.legalHoldQuery)) {
      ctx.addIssue({ code: "custom", path: ["legalHoldQuery"], message: "expected a SELECT statement" });
    }
  });

export type DatabaseSection = z.output<typeof databaseSchema>;
export type ReencryptTable = z.output<typeof reencryptTableSchema>;
export type AmlTable = z.output<typeof amlTableSchema>;

/** The policy's database mapping, with every default filled in when the section is absent. */
export function databaseSection(policy: { database?: DatabaseSection | undefined }): DatabaseSection {
  return policy.database ?? databaseSchema.parse({});
}

const RANK = { L4: 0, L3: 1, L2: 2, L1: 3 } as const;

/** The tables reencrypt walks, L4 first, otherwise in the order the policy lists them. */
export function reencryptTables(section: DatabaseSection): ReencryptTable[] {
  const tables: ReencryptTable[] = section.reencrypt ?? [defaultReencryptTable(section)];
  return tables.map((t, i) => ({ t, i })).sort((a, b) => RANK[a.t.classification] - RANK[b.t.classification] || a.i - b.i).map(({ t }) => t);
}

function defaultReencryptTable(section: DatabaseSection): ReencryptTable {
  const users = section.users;
  if (section.layout === "combined" || !section.dek) {
    return { table: users.table, id: users.id, column: users.nationalId, format: "envelope", classification: "L4" };
  }
  const dek = section.dek;
  return dek.table
    ? { table: dek.table, id: dek.userColumn, column: dek.column, format: "dek", classification: "L4" }
    : { table: users.table, id: users.id, column: dek.column, format: "dek", classification: "L4" };
}
