// The SQL shred-user needs, built once from the policy's database mapping. Names come from the
// policy (validated identifiers); values are always bound parameters.
import type { DatabaseSection } from "../policy/database-section.js";

export interface ShredSql {
  /** One row per user id given (in an IN list of `n` ids): id and live (1 when a DEK is left). */
  classify(n: number): string;
  /** The same for one user. */
  state: string;
  /** One row: c0, c1, ... the AML row counts of one user (every `?` bound to the user id). */
  amlCounts: string | undefined;
  amlParams: number;
  /** Statements that destroy the DEK of one user; parameters from `destroyParams`. */
  destroy: { sql: string; params(id: string, erasedAt: string): unknown[] }[];
  /** The same for `n` users at once (the fast path of a chunk). */
  destroyMany(n: number): { sql: string; params(ids: string[], erasedAt: string): unknown[] }[];
  /** Per AML table: rows id, n (the user's row count) for an IN list of `n` users. */
  amlCountsMany(n: number): string[];
  legalHold: string | undefined;
  legalHoldParams: number;
}

export function shredSql(section: DatabaseSection): ShredSql {
  const u = section.users;
  const dek = section.dek;
  let from: string;
  let live: string;
  if (section.layout === "combined" || !dek) {
    from = `${u.table} u`;
    live = `u.${u.nationalId}`;
  } else if (dek.table) {
    from = `${u.table} u LEFT JOIN ${dek.table} d ON d.${dek.userColumn} = u.${u.id}`;
    live = `d.${dek.column}`;
  } else {
    from = `${u.table} u`;
    live = `u.${dek.column}`;
  }
  const select = `SELECT u.${u.id} AS id, CASE WHEN ${live} IS NULL THEN 0 ELSE 1 END AS live FROM ${from}`;

  const erasedAtSet = u.erasedAt ? `, ${u.erasedAt} = ?` : "";
  const destroy: ShredSql["destroy"] = [];
  if (section.layout === "combined" || !dek) {
    // The envelope holds the wrapped DEK: clearing the column destroys it.
    destroy.push({
      sql: `UPDATE ${u.table} SET ${u.nationalId} = NULL${erasedAtSet} WHERE ${u.id} = ? AND ${u.nationalId} IS NOT NULL`,
      params: (id, at) => (u.erasedAt ? [at, id] : [id]),
    });
  } else if (dek.table) {
    destroy.push({ sql: `DELETE FROM ${dek.table} WHERE ${dek.userColumn} = ?`, params: (id) => [id] });
    if (u.erasedAt) destroy.push({ sql: `UPDATE ${u.table} SET ${u.erasedAt} = ? WHERE ${u.id} = ?`, params: (id, at) => [at, id] });
  } else {
    destroy.push({
      sql: `UPDATE ${u.table} SET ${dek.column} = NULL${erasedAtSet} WHERE ${u.id} = ? AND ${dek.column} IS NOT NULL`,
      params: (id, at) => (u.erasedAt ? [at, id] : [id]),
    });
  }

  const list = (n: number) => Array.from({ length: n }, () => "?").join(", ");
  const destroyMany = (n: number): ReturnType<ShredSql["destroyMany"]> => {
    if (section.layout === "combined" || !dek) {
      return [{ sql: `UPDATE ${u.table} SET ${u.nationalId} = NULL${erasedAtSet} WHERE ${u.id} IN (${list(n)}) AND ${u.nationalId} IS NOT NULL`, params: (ids, at) => (u.erasedAt ? [at, ...ids] : ids) }];
    }
    if (dek.table) {
      return [
        { sql: `DELETE FROM ${dek.table} WHERE ${dek.userColumn} IN (${list(n)})`, params: (ids) => ids },
        ...(u.erasedAt ? [{ sql: `UPDATE ${u.table} SET ${u.erasedAt} = ? WHERE ${u.id} IN (${list(n)})`, params: (ids: string[], at: string) => [at, ...ids] }] : []),
      ];
    }
    return [{ sql: `UPDATE ${u.table} SET ${dek.column} = NULL${erasedAtSet} WHERE ${u.id} IN (${list(n)}) AND ${dek.column} IS NOT NULL`, params: (ids, at) => (u.erasedAt ? [at, ...ids] : ids) }];
  };

  const aml = section.amlTables;
  const amlCounts = aml.length
    ? `SELECT ${aml.map((t, i) => `(SELECT COUNT(*) FROM ${t.table} WHERE ${t.userColumn} = ?) AS c${i}`).join(", ")}`
    : undefined;

  return {
    classify: (n) => `${select} WHERE u.${u.id} IN (${list(n)})`,
    state: `${select} WHERE u.${u.id} = ?`,
    amlCounts,
    amlParams: aml.length,
    destroy,
    destroyMany,
    amlCountsMany: (n) => aml.map((t) => `SELECT ${t.userColumn} AS id, COUNT(*) AS n FROM ${t.table} WHERE ${t.userColumn} IN (${list(n)}) GROUP BY ${t.userColumn}`),
    legalHold: section.legalHoldQuery,
    legalHoldParams: section.legalHoldQuery ? countPlaceholders(section.legalHoldQuery) : 0,
  };
}

/** `?` outside quotes: how many times the legal-hold query wants the user id. */
export function countPlaceholders(sql: string): number {
  return sql.replace(/'[^']*'|"[^"]*"/g, "").split("?").length - 1;
}
