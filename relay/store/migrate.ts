/**
 * Copies a whole deployment from one pair of stores to another: SQLite + files to
 * PostgreSQL + S3, and back, or any mix. Chunks first, each read from the source,
 * checked against its SHA-256 and size, then stored; then every table row by row, keeping
 * ids, so sessions, share links, change-log positions and the link key carry over. The
 * target is marked while the copy is unfinished (a relay refuses to start on it), and a
 * copy that stops half-way is resumed by running it again: chunks the target holds and
 * rows it has are skipped. Stop the relays on the source first: the copy compares what
 * it copied with the source at the end and refuses to finish if the source changed.
 */
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import type { ChunkStore } from './chunk-store.js';
import type { MetaStore } from './meta-store.js';
import { SqlMetaStore } from './sql-meta-store.js';
import type { Param, Sql, SqlEngine } from './sql.js';

/** The tables copied, parents before children, with the columns that order them. */
const TABLES: { name: string; key: string[] }[] = [
  { name: 'users', key: ['id'] },
  { name: 'user_keys', key: ['user_id'] },
  { name: 'spaces', key: ['id'] },
  { name: 'members', key: ['space_id', 'user_id'] },
  { name: 'sessions', key: ['token_hash'] },
  { name: 'setup_tokens', key: ['token_hash'] },
  { name: 'devices', key: ['token_hash'] },
  { name: 'signin_codes', key: ['code_hash'] },
  { name: 'trash', key: ['id'] },
  { name: 'files', key: ['id'] },
  { name: 'folders', key: ['id'] },
  { name: 'folder_keys', key: ['e2e_id', 'epoch', 'user_id'] },
  { name: 'versions', key: ['id'] },
  { name: 'version_chunks', key: ['version_id', 'idx'] },
  { name: 'uploads', key: ['id'] },
  { name: 'upload_list', key: ['upload_id', 'idx'] },
  { name: 'upload_chunks', key: ['upload_id', 'idx'] },
  { name: 'share_links', key: ['id'] },
  { name: 'changes', key: ['seq'] },
  { name: 'shared_values', key: ['name'] },
  { name: 'attempts', key: ['id'] },
];
// Not copied: `leases` (held by running processes) and `log_lines` (the last hour of the
// live admin log; each relay's log files stay where they are).

/** The name in `shared_values` that marks an unfinished copy, and the lease that keeps two copies apart. */
export const MIGRATION_MARK = 'migration';
const LEASE = 'migration';
const LEASE_MS = 60_000;

/** Rows read and written at a time. */
const PAGE = 1000;

export interface Deployment {
  meta: MetaStore;
  chunks: ChunkStore;
  /** How the person named it (shown in messages and kept in the mark). */
  label: string;
}

export type MigrateEvent =
  | { phase: 'chunks'; done: number; total: number; bytesDone: number; bytesTotal: number; copied: number; skipped: number }
  | { phase: 'table'; table: string; rows: number }
  | { phase: 'done' };

export interface MigrateReport {
  chunks: number;
  /** Chunks stored by this run (the rest the target already had). */
  copied: number;
  bytes: number;
  rows: Record<string, number>;
}

export class MigrateError extends Error {
  constructor(
    readonly code: 'TARGET_NOT_EMPTY' | 'TARGET_BUSY' | 'SOURCE_UNFINISHED' | 'SOURCE_DAMAGED' | 'SOURCE_CHANGED' | 'NOT_SQL',
    message: string,
  ) {
    super(message);
    this.name = 'MigrateError';
  }
}

function engine(meta: MetaStore): SqlEngine {
  if (!(meta instanceof SqlMetaStore)) throw new MigrateError('NOT_SQL', 'Only SQL metadata stores can be copied.');
  return meta.sql;
}

/** The unfinished copy recorded in a database, if any (a relay does not start on one). */
export async function unfinishedMigration(meta: MetaStore): Promise<string | undefined> {
  if (!(meta instanceof SqlMetaStore)) return undefined;
  const mark = await meta.sql.value<string>('SELECT value FROM shared_values WHERE name = ?', [MIGRATION_MARK]);
  if (mark === undefined) return undefined;
  try {
    return (JSON.parse(mark) as { from: string }).from;
  } catch {
    return mark;
  }
}

const q = (name: string) => `"${name}"`;

async function columns(sql: SqlEngine, table: string): Promise<string[]> {
  if (sql.dialect.name === 'sqlite') return (await sql.all<{ name: string }>(`PRAGMA table_info(${table})`)).map((c) => c.name);
  return sql.column<string>("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", [table]);
}

/** Counts of every copied table, and the source's change-log position: what "unchanged" means. */
async function fingerprint(sql: SqlEngine): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t.name] = Number(await sql.value<number>(`SELECT count(*) FROM ${t.name}`));
  out['changes.seq'] = Number((await sql.value<number | null>('SELECT max(seq) FROM changes')) ?? 0);
  return out;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Copies `from` into `to`. `to` must be empty, or hold an unfinished copy of the same
 * source (then this run finishes it). `parallel` chunks are in flight at once.
 */
export async function migrate(from: Deployment, to: Deployment, opts: { parallel?: number; onEvent?: (e: MigrateEvent) => void } = {}): Promise<MigrateReport> {
  const src = engine(from.meta);
  const dst = engine(to.meta);
  const emit = opts.onEvent ?? (() => {});
  const holder = `${os.hostname()} ${process.pid} ${randomUUID()}`;
  if (!(await to.meta.takeLease(LEASE, holder, LEASE_MS, Date.now()))) {
    // A copy on this machine that was killed lets go at once; one elsewhere within a minute.
    if (!(await dropDeadHolder(dst)) || !(await to.meta.takeLease(LEASE, holder, LEASE_MS, Date.now()))) {
      throw new MigrateError('TARGET_BUSY', `Another copy into ${to.label} is running (one that stopped on another machine lets go within a minute).`);
    }
  }
  const renew = setInterval(() => void to.meta.takeLease(LEASE, holder, LEASE_MS, Date.now()).catch(() => {}), LEASE_MS / 3);
  try {
    await markTarget(dst, from.label, to.label);
    const before = await fingerprint(src);
    const chunkReport = await copyChunks(src, from, to, opts.parallel ?? 8, emit);
    const rows: Record<string, number> = {};
    for (const table of TABLES) {
      rows[table.name] = await copyTable(src, dst, table);
      emit({ phase: 'table', table: table.name, rows: rows[table.name] });
    }
    if (dst.dialect.name === 'postgres') await resetIdentities(dst);
    const after = await fingerprint(src);
    const changed = Object.keys(before).filter((k) => before[k] !== after[k]);
    if (changed.length) throw new MigrateError('SOURCE_CHANGED', `The source changed while it was copied (${changed.join(', ')}). Stop every relay on ${from.label} and run the same command again.`);
    const target = await fingerprint(dst);
    // The mark itself is one more shared value in the target than in the source.
    const differ = TABLES.map((t) => t.name).filter((n) => target[n] - (n === 'shared_values' ? 1 : 0) !== after[n]);
    if (differ.length) throw new MigrateError('TARGET_NOT_EMPTY', `${to.label} holds rows the source does not have (${differ.join(', ')}); copy into an empty database.`);
    await dst.run('DELETE FROM shared_values WHERE name = ?', [MIGRATION_MARK]);
    emit({ phase: 'done' });
    return { ...chunkReport, rows };
  } finally {
    clearInterval(renew);
    await to.meta.dropLease(LEASE, holder).catch(() => {});
  }
}

/** Drops the copy lease when its holder was a process on this machine that is gone. */
async function dropDeadHolder(dst: SqlEngine): Promise<boolean> {
  const holder = await dst.value<string>('SELECT holder FROM leases WHERE name = ?', [LEASE]);
  const [host, pid] = (holder ?? '').split(' ');
  if (host !== os.hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') return false;
  }
  return (await dst.run('DELETE FROM leases WHERE name = ? AND holder = ?', [LEASE, holder!])) > 0;
}

async function markTarget(dst: SqlEngine, fromLabel: string, toLabel: string): Promise<void> {
  await dst.tx(async (t) => {
    const mark = await t.value<string>('SELECT value FROM shared_values WHERE name = ?', [MIGRATION_MARK]);
    if (mark !== undefined) {
      const was = (JSON.parse(mark) as { from: string }).from;
      if (was !== fromLabel) throw new MigrateError('TARGET_BUSY', `${toLabel} holds an unfinished copy of ${was}, not of ${fromLabel}. Finish that one (run it again) or start from an empty database.`);
      return;
    }
    const users = Number(await t.value<number>('SELECT count(*) FROM users'));
    const values = Number(await t.value<number>('SELECT count(*) FROM shared_values'));
    if (users > 0 || values > 0) throw new MigrateError('TARGET_NOT_EMPTY', `${toLabel} already holds a library (${users} users). Copy into an empty database.`);
    await t.run('INSERT INTO shared_values (name, value) VALUES (?, ?)', [MIGRATION_MARK, JSON.stringify({ from: fromLabel, started: new Date().toISOString() })]);
  });
}

/** Every chunk the source's metadata refers to: of every version, and held by unfinished uploads. */
async function referencedChunks(src: SqlEngine): Promise<{ hash: string; length: number | null }[]> {
  return src.all<{ hash: string; length: number | null }>(
    `SELECT hash, max(length) AS length FROM (
       SELECT hash, length FROM version_chunks
       UNION ALL
       SELECT c.hash, l.length FROM upload_chunks c LEFT JOIN upload_list l ON l.upload_id = c.upload_id AND l.idx = c.idx
     ) AS refs GROUP BY hash ORDER BY hash`,
  );
}

async function copyChunks(src: SqlEngine, from: Deployment, to: Deployment, parallel: number, emit: (e: MigrateEvent) => void): Promise<Pick<MigrateReport, 'chunks' | 'copied' | 'bytes'>> {
  const refs = await referencedChunks(src);
  const bytesTotal = refs.reduce((n, r) => n + (r.length ?? 0), 0);
  let next = 0;
  let done = 0;
  let bytesDone = 0;
  let copied = 0;
  const damaged: string[] = [];
  const report = () => emit({ phase: 'chunks', done, total: refs.length, bytesDone, bytesTotal, copied, skipped: done - copied - damaged.length });
  report();
  const worker = async () => {
    while (next < refs.length) {
      const ref = refs[next++];
      if (!(await to.chunks.has(ref.hash))) {
        const data = await from.chunks.get(ref.hash).catch((err) => {
          if ((err as { code?: string }).code === 'NOT_FOUND') return undefined;
          throw err;
        });
        if (!data) damaged.push(`${ref.hash} (missing)`);
        else if (sha256Hex(data) !== ref.hash || (ref.length !== null && data.length !== ref.length)) damaged.push(`${ref.hash} (its bytes do not match)`);
        else {
          await to.chunks.put(ref.hash, data);
          copied++;
        }
      }
      done++;
      bytesDone += ref.length ?? 0;
      report();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  if (damaged.length) {
    throw new MigrateError(
      'SOURCE_DAMAGED',
      `${damaged.length} of ${refs.length} chunks in ${from.label} are missing or damaged, so the copy is not finished (everything else was copied): ${damaged.slice(0, 5).join(', ')}${damaged.length > 5 ? ', …' : ''}. Upload the files that use them again to the source (its "verify" names them), then run the same command again.`,
    );
  }
  return { chunks: refs.length, copied, bytes: bytesTotal };
}

async function copyTable(src: SqlEngine, dst: SqlEngine, table: { name: string; key: string[] }): Promise<number> {
  const have = new Set(await columns(src, table.name));
  const cols = (await columns(dst, table.name)).filter((c) => have.has(c));
  const list = cols.map(q).join(', ');
  const key = table.key.map(q).join(', ');
  // Identity columns declared GENERATED ALWAYS take given values only when told to.
  const overriding = dst.dialect.name === 'postgres' ? 'OVERRIDING SYSTEM VALUE' : '';
  let after: Param[] | undefined;
  let rows = 0;
  for (;;) {
    const where = after ? `WHERE (${key}) > (${after.map(() => '?').join(', ')})` : '';
    const page = await src.all<Record<string, Param>>(`SELECT ${list} FROM ${table.name} ${where} ORDER BY ${key} LIMIT ${PAGE}`, after ?? []);
    if (page.length === 0) return rows;
    await dst.tx((t: Sql) => insertPage(t, table.name, cols, overriding, page));
    rows += page.length;
    const last = page[page.length - 1];
    after = table.key.map((k) => last[k]);
  }
}

async function insertPage(t: Sql, table: string, cols: string[], overriding: string, page: Record<string, Param>[]): Promise<void> {
  // Well under both engines' parameter limits (SQLite 32,766).
  const per = Math.max(1, Math.floor(30_000 / cols.length));
  for (let i = 0; i < page.length; i += per) {
    const batch = page.slice(i, i + per);
    const tuple = `(${cols.map(() => '?').join(', ')})`;
    await t.run(
      `INSERT INTO ${table} (${cols.map(q).join(', ')}) ${overriding} VALUES ${batch.map(() => tuple).join(', ')} ON CONFLICT DO NOTHING`,
      batch.flatMap((r) => cols.map((c) => r[c] ?? null)),
    );
  }
}

/** PostgreSQL hands out ids from sequences, which given ids do not move: set each past the largest copied. */
async function resetIdentities(dst: SqlEngine): Promise<void> {
  const identities = await dst.all<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'",
  );
  for (const { table_name: t, column_name: c } of identities) {
    if (!TABLES.some((x) => x.name === t)) continue;
    await dst.run(`SELECT setval(pg_get_serial_sequence('${t}', '${c}'), coalesce((SELECT max(${q(c)}) FROM ${t}), 0) + 1, false)`);
  }
}
