/**
 * The sync engine's local side on Node: a folder on disk (LocalTree) and the pair's
 * state in a small SQLite database (SyncStateStore), written in WAL mode so a kill -9
 * loses at most the last row, never the database.
 */
import { existsSync, lstatSync, readdirSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { link, lstat, mkdir, open, readdir, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ChunkRef } from '../protocol/index.js';
import { chunkFeed, hashFile } from '../client/index.js';
import type { NodeHashPool } from '../cli/hash-pool.js';
import { fileSink, isExecutableMode, openFileSource, setExecutable } from '../cli/node-files.js';
import { MARKER, foldCase, type BaseEntry, type LocalEntry, type LocalTree, type SyncStateStore } from './engine.js';

const PART = /^\..*\.ferry-part$/;

export class NodeLocalTree implements LocalTree {
  readonly name: string;
  /** `pool` hashes files on worker threads (both cores, no bytes crossing threads); without it, on this thread. */
  constructor(
    readonly root: string,
    private readonly pool?: NodeHashPool,
  ) {
    this.name = root;
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
  }

  async hasMarker(): Promise<boolean> {
    return !!(await lstat(this.abs(MARKER)).catch(() => undefined));
  }

  async writeMarker(text: string): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await writeFile(this.abs(MARKER), text);
  }

  /** Part files the scans since the last `dropParts` saw. */
  private parts = new Set<string>();

  private entry(rel: string, s: Stats): LocalEntry | undefined {
    if (s.isDirectory()) return { kind: 'folder', path: rel };
    if (!s.isFile()) return undefined;
    const e: LocalEntry = { kind: 'file', path: rel, size: s.size, mtime: Math.floor(s.mtimeMs), id: `${s.dev}:${s.ino}` };
    // Windows has no executable bit: the relay's is kept.
    if (process.platform !== 'win32') e.executable = isExecutableMode(s.mode);
    return e;
  }

  /**
   * Each folder is read with synchronous calls (a readdir and an lstat per file cost a
   * few microseconds that way, against tens through the thread pool), yielding to the
   * event loop between folders so the connection is never kept waiting long.
   */
  async scan(folder = ''): Promise<LocalEntry[]> {
    const found: LocalEntry[] = [];
    const parts = this.parts;
    const folders = [folder];
    while (folders.length > 0) {
      const rel = folders.pop()!;
      let names: Dirent[];
      try {
        names = readdirSync(this.abs(rel), { withFileTypes: true });
      } catch {
        continue; // gone meanwhile
      }
      for (const d of names) {
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (PART.test(d.name) && d.isFile()) parts.add(p);
        if (p === MARKER || PART.test(d.name)) continue;
        if (d.isDirectory()) {
          found.push({ kind: 'folder', path: p });
          folders.push(p);
        } else if (d.isFile()) {
          const st = lstatSync(this.abs(p), { throwIfNoEntry: false });
          const e = st?.isFile() ? this.entry(p, st) : undefined;
          if (e) found.push(e);
        }
        // Symbolic links and special files are not synced.
      }
      await new Promise<void>((r) => setImmediate(r));
    }
    return found;
  }

  async stat(rel: string): Promise<LocalEntry | undefined> {
    const s = await lstat(this.abs(rel)).catch(() => undefined);
    return s ? this.entry(rel, s) : undefined;
  }

  async setExecutable(rel: string, executable: boolean): Promise<void> {
    await setExecutable(this.abs(rel), executable);
  }

  async hashFile(rel: string): Promise<ChunkRef[]> {
    // The same chunking as every upload.
    if (this.pool) {
      const file = this.abs(rel);
      const { size } = await lstat(file);
      const pool = this.pool;
      return chunkFeed(size, (offset, length) => pool.hashRange(file, offset, length), { concurrency: pool.size }).done;
    }
    const source = await openFileSource(this.abs(rel));
    try {
      return await hashFile(source);
    } finally {
      await source.close();
    }
  }

  openSource(rel: string) {
    return openFileSource(this.abs(rel));
  }

  async readRange(rel: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const fh = await open(this.abs(rel), 'r').catch(() => undefined);
    if (!fh) return undefined;
    try {
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return bytesRead === length ? buf : undefined;
    } finally {
      await fh.close();
    }
  }

  sink(rel: string, opts: Parameters<LocalTree['sink']>[1]) {
    return fileSink(this.abs(rel), {
      reuse: opts.reuse,
      beforeReplace: opts.beforeReplace,
      pool: this.pool,
      locate: opts.locate
        ? async (sha256) => {
            const at = await opts.locate!(sha256);
            return at && { file: this.abs(at.path), offset: at.offset };
          }
        : undefined,
    });
  }

  async remove(rel: string): Promise<void> {
    await unlink(this.abs(rel)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async mkdir(rel: string): Promise<void> {
    await mkdir(this.abs(rel), { recursive: true });
  }

  async rmdir(rel: string): Promise<boolean> {
    try {
      await rmdir(this.abs(rel));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
      return false;
    }
  }

  async rename(from: string, to: string): Promise<void> {
    await mkdir(path.dirname(this.abs(to)), { recursive: true });
    // A hard link then an unlink: fails instead of replacing a file that appeared at `to`.
    await link(this.abs(from), this.abs(to));
    await unlink(this.abs(from));
  }

  /** Writes a probe with an upper-case name and looks for it under the lower-case one. */
  async caseInsensitive(): Promise<boolean> {
    const probe = `.Ferry-Case-${process.pid}-${Date.now()}`;
    await mkdir(this.root, { recursive: true });
    await writeFile(this.abs(probe), '');
    try {
      return !!(await lstat(this.abs(probe.toLowerCase())).catch(() => undefined));
    } finally {
      await unlink(this.abs(probe)).catch(() => {});
    }
  }

  async dropParts(keep: (path: string) => boolean): Promise<number> {
    let n = 0;
    for (const part of this.parts) {
      const rel = part.split('/');
      const name = rel.pop()!;
      const target = [...rel, name.slice(1, -'.ferry-part'.length)].join('/');
      if (keep(target)) continue;
      await unlink(this.abs(part)).catch(() => {});
      n++;
    }
    this.parts.clear();
    return n;
  }

  async readText(rel: string): Promise<string | undefined> {
    return readFile(this.abs(rel), 'utf8').catch(() => undefined);
  }
}

/**
 * A pair's state: the base (one row per path, with its case-folded form, its size and
 * whether it is a file, for lookups that must not read everything), the chunk lists of
 * synced files (which file holds which chunk, for reuse by downloads) and named values.
 * Nothing is held in memory: a round reads the part of the base it looks at.
 */
export class SqliteSyncState implements SyncStateStore {
  private readonly db: Database.Database;
  private readonly q: Record<'putBase' | 'dropBase' | 'dropChunks' | 'addChunk' | 'chunksOf' | 'findChunk' | 'twins' | 'totals' | 'one' | 'under' | 'all' | 'value' | 'setValue' | 'dropValue', Database.Statement>;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    migrateSyncState(this.db);
    const st = (sql: string) => this.db.prepare(sql);
    this.q = {
      putBase: st('INSERT INTO base (path, entry, fold, size, is_file) VALUES (?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET entry = excluded.entry, fold = excluded.fold, size = excluded.size, is_file = excluded.is_file'),
      dropBase: st('DELETE FROM base WHERE path = ?'),
      dropChunks: st('DELETE FROM base_chunks WHERE path = ?'),
      addChunk: st('INSERT INTO base_chunks (path, idx, sha256, "offset", length) VALUES (?, ?, ?, ?, ?)'),
      chunksOf: st('SELECT sha256, "offset", length FROM base_chunks WHERE path = ? ORDER BY idx'),
      findChunk: st('SELECT path, "offset" FROM base_chunks WHERE sha256 = ? LIMIT 1'),
      twins: st('SELECT path FROM base WHERE fold = ? AND path <> ? LIMIT 1'),
      totals: st('SELECT count(*) AS entries, coalesce(sum(is_file), 0) AS files, coalesce(sum(size), 0) AS bytes FROM base'),
      one: st('SELECT entry FROM base WHERE path = ?'),
      // Under a folder: its path followed by '/' up to (not including) its path followed
      // by '0', the next character after '/' (text compares byte by byte).
      under: st('SELECT entry FROM base WHERE path > ? AND path < ?'),
      all: st('SELECT entry FROM base'),
      value: st('SELECT value FROM vals WHERE name = ?'),
      setValue: st('INSERT INTO vals (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value'),
      dropValue: st('DELETE FROM vals WHERE name = ?'),
    };
  }

  async loadUnder(roots: string[]): Promise<Map<string, BaseEntry>> {
    const rows: { entry: string }[] = [];
    if (roots.includes('')) rows.push(...(this.q.all.all() as { entry: string }[]));
    else {
      for (const r of roots) {
        const one = this.q.one.get(r) as { entry: string } | undefined;
        if (one) rows.push(one);
        rows.push(...(this.q.under.all(`${r}/`, `${r}0`) as { entry: string }[]));
      }
    }
    const m = new Map<string, BaseEntry>();
    for (const r of rows) {
      const e = JSON.parse(r.entry) as BaseEntry;
      m.set(e.path, e);
    }
    return m;
  }

  async put(entry: BaseEntry): Promise<void> {
    const { chunks, ...rest } = entry;
    this.db.transaction(() => {
      this.q.putBase.run(entry.path, JSON.stringify(rest), foldCase(entry.path), entry.kind === 'file' ? (entry.size ?? 0) : 0, entry.kind === 'file' ? 1 : 0);
      if (entry.kind === 'folder') this.q.dropChunks.run(entry.path);
      else if (chunks) {
        this.q.dropChunks.run(entry.path);
        chunks.forEach((c, i) => this.q.addChunk.run(entry.path, i, c.sha256, c.offset, c.length));
      }
    })();
  }

  async delete(p: string): Promise<void> {
    this.db.transaction(() => {
      this.q.dropBase.run(p);
      this.q.dropChunks.run(p);
    })();
  }

  async chunksOf(p: string): Promise<ChunkRef[] | undefined> {
    const rows = this.q.chunksOf.all(p) as ChunkRef[];
    return rows.length ? rows : undefined;
  }

  async findChunk(sha256: string): Promise<{ path: string; offset: number } | undefined> {
    return this.q.findChunk.get(sha256) as { path: string; offset: number } | undefined;
  }

  async caseTwin(p: string): Promise<string | undefined> {
    return (this.q.twins.get(foldCase(p), p) as { path: string } | undefined)?.path;
  }

  async totals(): Promise<{ entries: number; files: number; bytes: number }> {
    return this.q.totals.get() as { entries: number; files: number; bytes: number };
  }

  async value(name: string): Promise<string | undefined> {
    return (this.q.value.get(name) as { value: string } | undefined)?.value;
  }

  async setValue(name: string, value: string | undefined): Promise<void> {
    if (value === undefined) this.q.dropValue.run(name);
    else this.q.setValue.run(name, value);
  }

  close(): void {
    this.db.close();
  }
}

/**
 * The state file's schema, by `PRAGMA user_version`: 1 is the first (each row's entry
 * JSON held its chunk list); 2 moves chunk lists to their own table and adds the columns
 * lookups need.
 */
function migrateSyncState(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS base (path TEXT PRIMARY KEY, entry TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS vals (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  `);
  const at = db.pragma('user_version', { simple: true }) as number;
  if (at >= 2) return;
  db.transaction(() => {
    db.exec(`
      ALTER TABLE base ADD COLUMN fold TEXT;
      ALTER TABLE base ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE base ADD COLUMN is_file INTEGER NOT NULL DEFAULT 0;
      CREATE TABLE base_chunks (path TEXT NOT NULL, idx INTEGER NOT NULL, sha256 TEXT NOT NULL, "offset" INTEGER NOT NULL, length INTEGER NOT NULL, PRIMARY KEY (path, idx));
      CREATE INDEX base_chunks_sha256 ON base_chunks(sha256);
      CREATE INDEX base_fold ON base(fold);
    `);
    const update = db.prepare('UPDATE base SET entry = ?, fold = ?, size = ?, is_file = ? WHERE path = ?');
    const add = db.prepare('INSERT INTO base_chunks (path, idx, sha256, "offset", length) VALUES (?, ?, ?, ?, ?)');
    for (const row of db.prepare('SELECT path, entry FROM base').all() as { path: string; entry: string }[]) {
      const { chunks, ...rest } = JSON.parse(row.entry) as BaseEntry;
      update.run(JSON.stringify(rest), foldCase(row.path), rest.kind === 'file' ? (rest.size ?? 0) : 0, rest.kind === 'file' ? 1 : 0, row.path);
      chunks?.forEach((c, i) => add.run(row.path, i, c.sha256, c.offset, c.length));
    }
    db.pragma('user_version = 2');
  })();
}

/** Files the folder holds that a killed download left (for tests and `status`). */
export async function partFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (d.isDirectory()) await walk(path.join(dir, d.name));
      else if (PART.test(d.name)) found.push(path.join(dir, d.name));
    }
  };
  await walk(root);
  return found;
}

/**
 * Watches a folder and every folder under it, one watch per folder (a folder's watch
 * reports its files' changes). Node's own recursive watch on Linux keeps a watch and a
 * stat per file, which for 100,000 files costs memory and a long start. New folders are
 * watched as they appear. Returns a stop function, or undefined if the folder is missing.
 */
export function watchFolder(root: string, changed: (path?: string) => void, degraded?: (why: string) => void): (() => void) | undefined {
  if (!existsSync(root)) return undefined;
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  const forget = (dir: string) => {
    for (const [d, w] of watchers) {
      if (d === dir || d.startsWith(dir + path.sep)) {
        w.close();
        watchers.delete(d);
      }
    }
  };
  const add = async (dir: string): Promise<void> => {
    if (closed || watchers.has(dir)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true }, (_type, name) => {
        if (!name) return changed();
        const at = path.join(dir, name.toString());
        changed(path.relative(root, at).split(path.sep).join('/'));
        void appeared(at);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone already
      // Out of watches (fs.inotify.max_user_watches) or descriptors: this folder is seen
      // only by rounds over everything, which the caller then runs more often.
      degraded?.(`${dir} cannot be watched (${code ?? String(err)})`);
      changed();
      return;
    }
    w.on('error', () => forget(dir));
    watchers.set(dir, w);
    for (const d of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (d.isDirectory()) await add(path.join(dir, d.name));
  };
  const appeared = async (p: string) => {
    const s = await lstat(p).catch(() => undefined);
    if (s?.isDirectory()) {
      if (watchers.has(p)) return;
      await add(p);
      // What was written into it before its watch began is seen by one more round.
      changed(path.relative(root, p).split(path.sep).join('/'));
    } else if (!s) forget(p);
  };
  void add(root);
  return () => {
    closed = true;
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}
