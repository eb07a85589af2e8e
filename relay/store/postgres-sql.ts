/**
 * PostgreSQL behind `SqlEngine` (node-postgres, a pool of connections). Statements are
 * written with `?` and numbered here; 64-bit integers and sums come back as numbers
 * (every value Ferry stores fits in 2^53). Transactions run at READ COMMITTED with the
 * explicit locks `SqlMetaStore` takes, and are retried on a deadlock or serialization
 * failure.
 */
import pg from 'pg';
import type { Dialect, Param, Sql, SqlEngine } from './sql.js';

const INT8 = 20;
const NUMERIC = 1700;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 || oid === NUMERIC ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
};

const POSTGRES: Dialect = {
  name: 'postgres',
  instr: 'strpos',
  greatest: 'greatest',
  forUpdate: ' FOR UPDATE',
  // Text columns are COLLATE "C": lower() folds ASCII letters only, as SQLite's NOCASE does.
  nocaseEquals: (col) => `lower(${col}) = lower(? COLLATE "C")`,
  nocaseOrder: (col) => `lower(${col})`,
  isUniqueViolation: (err) => (err as { code?: string }).code === '23505',
};

/** SQLSTATEs after which the whole transaction may simply run again. */
const RETRY = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 8;

const numbered = new Map<string, string>();
/** `?` → `$1, $2, …` (no statement of Ferry's has a `?` inside a string literal). */
function number(sql: string): string {
  let out = numbered.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, out);
  }
  return out;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

function statements(q: Queryable): Sql {
  const rows = async <T>(sql: string, params: readonly Param[] = []) => (await q.query({ text: number(sql), values: params as Param[] })).rows as T[];
  return {
    all: rows,
    get: async <T>(sql: string, params?: readonly Param[]) => (await rows<T>(sql, params))[0],
    value: async <T>(sql: string, params?: readonly Param[]) => {
      const r = await q.query({ text: number(sql), values: (params ?? []) as Param[], rowMode: 'array' });
      return r.rows[0]?.[0] as T | undefined;
    },
    column: async <T>(sql: string, params?: readonly Param[]) => {
      const r = await q.query({ text: number(sql), values: (params ?? []) as Param[], rowMode: 'array' });
      return r.rows.map((row: unknown[]) => row[0]) as T[];
    },
    run: async (sql: string, params: readonly Param[] = []) => (await q.query({ text: number(sql), values: params as Param[] })).rowCount ?? 0,
    lock: async (...keys: number[]) => {
      for (const key of [...new Set(keys)].sort((a, b) => a - b)) await q.query({ text: 'SELECT pg_advisory_xact_lock($1)', values: [key] });
    },
    notify: async (channel: string, payload: string) => {
      await q.query({ text: 'SELECT pg_notify($1, $2)', values: [channel, payload] });
    },
  };
}

export class PostgresSql implements SqlEngine {
  readonly dialect = POSTGRES;
  readonly pool: pg.Pool;
  private readonly outside: Sql;

  constructor(
    private readonly url: string,
    opts: { max?: number } = {},
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, types, application_name: 'ferry' });
    // An idle connection that breaks (the server restarted) is dropped and replaced, not fatal.
    this.pool.on('error', () => {});
    this.outside = statements(this.pool);
  }

  all<T>(sql: string, params?: readonly Param[]) {
    return this.outside.all<T>(sql, params);
  }
  get<T>(sql: string, params?: readonly Param[]) {
    return this.outside.get<T>(sql, params);
  }
  value<T>(sql: string, params?: readonly Param[]) {
    return this.outside.value<T>(sql, params);
  }
  column<T>(sql: string, params?: readonly Param[]) {
    return this.outside.column<T>(sql, params);
  }
  run(sql: string, params?: readonly Param[]) {
    return this.outside.run(sql, params);
  }
  async lock(): Promise<void> {
    throw new Error('Locks are held by transactions: take them inside tx().');
  }
  notify(channel: string, payload: string): Promise<void> {
    return this.outside.notify(channel, payload);
  }

  async listen(channel: string, wake: (payload?: string) => void): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | undefined;
    const connect = async (delay: number): Promise<void> => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: this.url, types, application_name: 'ferry-listen' });
      c.on('notification', (n) => n.channel === channel && wake(n.payload));
      // A lost connection is made again; what was notified meanwhile is caught up by `wake`.
      c.on('error', () => {});
      c.on('end', () => {
        if (client === c && !stopped) retry = setTimeout(() => void connect(Math.min(delay * 2, 5000)), delay);
      });
      try {
        await c.connect();
        await c.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
        client = c;
        wake();
      } catch {
        await c.end().catch(() => {});
        if (!stopped) retry = setTimeout(() => void connect(Math.min(delay * 2, 5000)), delay);
      }
    };
    await connect(100);
    return async () => {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => {});
    };
  }

  async tx<T>(fn: (t: Sql) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(statements(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => (broken = true));
        if (!RETRY.has((err as { code?: string }).code ?? '') || attempt >= MAX_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
      } finally {
        client.release(broken);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
