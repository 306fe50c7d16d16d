// SQLite through better-sqlite3. The driver is synchronous and one connection serves the whole
// process, so transactions are serialised with a queue: two async callers never interleave
// their statements inside one BEGIN ... COMMIT.
import BetterSqlite3 from "better-sqlite3";
import { checkSqliteFile, databaseFailure, normaliseParams, type Database, type OpenOptions } from "./driver.js";

type Statement = BetterSqlite3.Statement<unknown[]>;

class SqliteConnection {
  private readonly statements = new Map<string, Statement>();
  private queue: Promise<unknown> = Promise.resolve();
  private savepoints = 0;

  constructor(readonly db: BetterSqlite3.Database) {}

  prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      // Statements are cached per SQL text: batches run the same few thousands of times.
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs fn when every earlier exclusive section has finished. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  nextSavepoint(): string {
    return `dropkeys_sp_${++this.savepoints}`;
  }
}

class SqliteDatabase implements Database {
  readonly kind = "sqlite" as const;

  constructor(
    private readonly conn: SqliteConnection,
    /** Inside a transaction: statements run at once, already holding the queue. */
    private readonly inTransaction: boolean,
  ) {}

  private run<T>(fn: () => T): Promise<T> {
    const call = async () => fn();
    return this.inTransaction ? call() : this.conn.exclusive(call);
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.run(() => {
      try {
        return this.conn.prepare(sql).all(...normaliseParams(params)) as T[];
      } catch (error) {
        throw databaseFailure(error, "a query", "sqlite");
      }
    });
  }

  execute(sql: string, params?: unknown[]): Promise<{ changes: number }> {
    return this.run(() => {
      try {
        return { changes: this.conn.prepare(sql).run(...normaliseParams(params)).changes };
      } catch (error) {
        throw databaseFailure(error, "a statement", "sqlite");
      }
    });
  }

  transaction<T>(fn: (tx: Database) => Promise<T>): Promise<T> {
    const inner = new SqliteDatabase(this.conn, true);
    if (this.inTransaction) {
      const name = this.conn.nextSavepoint();
      return (async () => {
        this.conn.db.exec(`SAVEPOINT ${name}`);
        try {
          const result = await fn(inner);
          this.conn.db.exec(`RELEASE ${name}`);
          return result;
        } catch (error) {
          this.conn.db.exec(`ROLLBACK TO ${name}`);
          this.conn.db.exec(`RELEASE ${name}`);
          throw error;
        }
      })();
    }
    return this.conn.exclusive(async () => {
      // IMMEDIATE takes the write lock up front: no deadlock when a reader later wants to write.
      this.conn.db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(inner);
        this.conn.db.exec("COMMIT");
        return result;
      } catch (error) {
        if (this.conn.db.inTransaction) this.conn.db.exec("ROLLBACK");
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    if (this.inTransaction) return;
    await this.conn.exclusive(async () => this.conn.db.close());
  }
}

export function openSqlite(file: string, options: OpenOptions): Database {
  const full = checkSqliteFile(file, options.create === true);
  let db: BetterSqlite3.Database;
  try {
    db = new BetterSqlite3(full, { fileMustExist: options.create !== true, timeout: 10_000 });
  } catch (error) {
    throw databaseFailure(error, `opening ${full}`, "sqlite");
  }
  return new SqliteDatabase(new SqliteConnection(db), false);
}
