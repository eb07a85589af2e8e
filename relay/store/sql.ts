/**
 * The small SQL surface the metadata store is written against, so one implementation
 * (`SqlMetaStore`) runs on SQLite and on PostgreSQL. Statements use `?` placeholders
 * and the SQL both engines share; what differs is in `Dialect`.
 */
import type Database from 'better-sqlite3';

export type Param = string | number | null;

/** Statements, outside a transaction or inside one. */
export interface Sql {
  all<T>(sql: string, params?: readonly Param[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly Param[]): Promise<T | undefined>;
  /** The first column of the first row. */
  value<T>(sql: string, params?: readonly Param[]): Promise<T | undefined>;
  /** The first column of every row. */
  column<T>(sql: string, params?: readonly Param[]): Promise<T[]>;
  /** Runs a change; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly Param[]): Promise<number>;
  /**
   * Holds these locks until the transaction ends (PostgreSQL advisory locks, taken in
   * ascending order so two transactions never wait on each other in a circle). On
   * SQLite a write transaction already excludes every other, so this does nothing.
   */
  lock(...keys: number[]): Promise<void>;
  /**
   * Wakes whoever `listen`s on `channel` once the transaction commits (PostgreSQL
   * NOTIFY; a hint, not a record). Nothing on SQLite, where one process is all there is.
   */
  notify(channel: string, payload: string): Promise<void>;
}

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** Position of a substring (1-based, 0 when absent): `instr` / `strpos`. */
  readonly instr: string;
  /** The larger of two values: `max` / `greatest`. */
  readonly greatest: string;
  /** Appended to a SELECT that is about to change the rows it reads. */
  readonly forUpdate: string;
  /** `col = ?`, comparing ASCII letters without case (user and shared folder names). */
  nocaseEquals(col: string): string;
  /** An ORDER BY term that sorts like `nocaseEquals` compares. */
  nocaseOrder(col: string): string;
  /** True when `err` is a unique constraint violation. */
  isUniqueViolation(err: unknown): boolean;
}

export interface SqlEngine extends Sql {
  readonly dialect: Dialect;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it
   * throws. `fn` must use the `Sql` it is given, never the engine itself. It may run
   * more than once when the engine asks for a retry (a serialization failure).
   */
  tx<T>(fn: (t: Sql) => Promise<T>): Promise<T>;
  /**
   * Calls `wake` with the payload on every `notify` on `channel` from any process, and
   * with none once after each reconnection (notifications sent meanwhile are lost).
   * Resolves to the function that stops listening.
   */
  listen(channel: string, wake: (payload?: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Lock keys: one namespace per kind of thing, so a space and a user never share a key. */
export const LOCK = {
  space: (id: number) => 1 * 2 ** 32 + id,
  user: (id: number) => 2 * 2 ** 32 + id,
  /** Who is an enabled admin (so the last one is never demoted). */
  admins: 3 * 2 ** 32,
  /** The change log: appended one transaction at a time, so positions follow commit order. */
  changes: 4 * 2 ** 32,
  /**
   * One stored chunk (by a 32-bit hash of its SHA-256): the collector deciding to delete
   * it and an upload recording that it holds it take turns.
   */
  chunk: (sha256: string) => 5 * 2 ** 32 + hash32(sha256),
  /** One throttle key (by a 32-bit hash of its name: two names may share a lock, never a count). */
  attempt: (name: string) => 6 * 2 ** 32 + hash32(name),
} as const;

/** FNV-1a of a string's UTF-16 units. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Rows per multi-row INSERT (SQLite allows 32,766 parameters, PostgreSQL 65,535). */
export const INSERT_BATCH = 500;

/** Inserts `rows` into `table (columns)` with a few multi-row statements. */
export async function insertRows(t: Sql, table: string, columns: string[], rows: Param[][], suffix = ''): Promise<void> {
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    const batch = rows.slice(i, i + INSERT_BATCH);
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    await t.run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${batch.map(() => tuple).join(', ')} ${suffix}`, batch.flat());
  }
}

const SQLITE: Dialect = {
  name: 'sqlite',
  instr: 'instr',
  greatest: 'max',
  forUpdate: '',
  // The columns are declared COLLATE NOCASE.
  nocaseEquals: (col) => `${col} = ?`,
  nocaseOrder: (col) => col,
  isUniqueViolation: (err) => (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE',
};

/** A queue of turns: one holder at a time, the rest in arrival order. */
class Turns {
  private held = false;
  private readonly waiting: (() => void)[] = [];

  get busy(): boolean {
    return this.held;
  }

  async acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }
}

/**
 * The turns of each database file in this process. Two connections to one file in one
 * process must share them: SQLite's own lock makes the second wait by blocking the
 * thread, which is the very thread the first needs to finish its transaction.
 */
const fileTurns = new Map<string, { turns: Turns; users: number }>();

/**
 * better-sqlite3 behind the asynchronous surface. Its calls are synchronous, so a
 * transaction is the only thing that can be interleaved: while one is open (its body
 * awaits between statements) every other statement and transaction on the same file
 * waits its turn. Another process writing the same file (`ferry user add`) is kept
 * apart by SQLite's lock and the busy timeout.
 */
export class SqliteSql implements SqlEngine {
  readonly dialect = SQLITE;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly turns: Turns;
  /** The statements a transaction body runs, without waiting for the turn it holds. */
  private readonly inside: Sql;

  /** `file` names the database for sharing turns; undefined (an in-memory database) shares with nothing. */
  constructor(
    readonly db: Database.Database,
    private readonly file?: string,
  ) {
    const shared = file === undefined ? undefined : fileTurns.get(file);
    if (shared) shared.users++;
    else if (file !== undefined) fileTurns.set(file, { turns: new Turns(), users: 1 });
    this.turns = file === undefined ? new Turns() : fileTurns.get(file)!.turns;
    const first = (row: unknown) => (row === undefined ? undefined : Object.values(row as object)[0]);
    this.inside = {
      all: async <T>(sql: string, params: readonly Param[] = []) => this.statement(sql).all(...params) as T[],
      get: async <T>(sql: string, params: readonly Param[] = []) => this.statement(sql).get(...params) as T | undefined,
      value: async <T>(sql: string, params: readonly Param[] = []) => first(this.statement(sql).get(...params)) as T | undefined,
      column: async <T>(sql: string, params: readonly Param[] = []) => this.statement(sql).all(...params).map(first) as T[],
      run: async (sql: string, params: readonly Param[] = []) => this.statement(sql).run(...params).changes,
      lock: async () => {},
      notify: async () => {},
    };
  }

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** One statement: now when no transaction is open, else after it. */
  private async one<T>(op: (s: Sql) => Promise<T>): Promise<T> {
    if (!this.turns.busy) return op(this.inside);
    await this.turns.acquire();
    try {
      return await op(this.inside);
    } finally {
      this.turns.release();
    }
  }

  all<T>(sql: string, params?: readonly Param[]) {
    return this.one((s) => s.all<T>(sql, params));
  }
  get<T>(sql: string, params?: readonly Param[]) {
    return this.one((s) => s.get<T>(sql, params));
  }
  value<T>(sql: string, params?: readonly Param[]) {
    return this.one((s) => s.value<T>(sql, params));
  }
  column<T>(sql: string, params?: readonly Param[]) {
    return this.one((s) => s.column<T>(sql, params));
  }
  run(sql: string, params?: readonly Param[]) {
    return this.one((s) => s.run(sql, params));
  }
  async lock(): Promise<void> {}
  async notify(): Promise<void> {}
  async listen(): Promise<() => Promise<void>> {
    return async () => {};
  }

  async tx<T>(fn: (t: Sql) => Promise<T>): Promise<T> {
    await this.turns.acquire();
    try {
      // IMMEDIATE: take the write lock now, so a read-then-write never has to upgrade
      // (another process, such as `ferry user add`, may write to the same file).
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.inside);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      this.turns.release();
    }
  }

  async close(): Promise<void> {
    await this.turns.acquire();
    try {
      this.db.close();
    } finally {
      this.turns.release();
      const shared = this.file === undefined ? undefined : fileTurns.get(this.file);
      if (shared && --shared.users === 0) fileTurns.delete(this.file!);
    }
  }
}
