// PostgreSQL through pg: a small pool, one client per transaction, savepoints when nested.
// COUNT(*) and other int8 values come back as numbers (they are row counts here, far below 2^53).
import pg from "pg";
import { databaseFailure, normaliseParams, redactUrl, toDollarPlaceholders, type Database } from "./driver.js";

const INT8_OID = 20;

const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8_OID && format !== "binary") return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

type Queryable = pg.Pool | pg.PoolClient;

class PostgresDatabase implements Database {
  readonly kind = "postgres" as const;
  private savepoints = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly client: pg.PoolClient | undefined,
  ) {}

  private get target(): Queryable {
    return this.client ?? this.pool;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    try {
      const result = await this.target.query(toDollarPlaceholders(sql), normaliseParams(params));
      return result.rows as T[];
    } catch (error) {
      throw databaseFailure(error, "a query", "postgres");
    }
  }

  async execute(sql: string, params?: unknown[]): Promise<{ changes: number }> {
    try {
      const result = await this.target.query(toDollarPlaceholders(sql), normaliseParams(params));
      return { changes: result.rowCount ?? 0 };
    } catch (error) {
      throw databaseFailure(error, "a statement", "postgres");
    }
  }

  async transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T> {
    if (this.client) {
      const name = `dropkeys_sp_${++this.savepoints}`;
      await this.client.query(`SAVEPOINT ${name}`);
      try {
        const result = await fn(this);
        await this.client.query(`RELEASE SAVEPOINT ${name}`);
        return result;
      } catch (error) {
        await this.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
        await this.client.query(`RELEASE SAVEPOINT ${name}`);
        throw error;
      }
    }
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw databaseFailure(error, "connecting", "postgres");
    }
    let broken = false;
    try {
      await client.query("BEGIN");
      const result = await fn(new PostgresDatabase(this.pool, client));
      await client.query("COMMIT");
      return result;
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true;
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    if (!this.client) await this.pool.end();
  }
}

export async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 12, types, connectionTimeoutMillis: 15_000, allowExitOnIdle: true });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on("error", () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw databaseFailure(error, `connecting to ${redactUrl(url)}`, "postgres");
  }
  return new PostgresDatabase(pool, undefined);
}
