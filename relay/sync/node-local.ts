/**
 * The sync engine's local side on Node: a folder on disk (LocalTree) and the pair's
 * state in a small SQLite database (SyncStateStore), written in WAL mode so a kill -9
 * loses at most the last row, never the database.
 */
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { link, lstat, mkdir, open, readdir, readFile, rmdir, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { ChunkRef } from '../protocol/index.js';
import { hashFile } from '../client/index.js';
import { fileSink, openFileSource } from '../cli/node-files.js';
import { MARKER, type BaseEntry, type LocalEntry, type LocalTree, type SyncStateStore } from './engine.js';

const PART = /^\..*\.ferry-part$/;

export class NodeLocalTree implements LocalTree {
  readonly name: string;
  constructor(readonly root: string) {
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

  /** Part files the last scan saw. */
  private parts: string[] = [];

  async scan(): Promise<LocalEntry[]> {
    const found: LocalEntry[] = [];
    const parts: string[] = [];
    const walk = async (rel: string) => {
      const names = await readdir(this.abs(rel), { withFileTypes: true }).catch(() => []);
      for (const d of names) {
        const p = rel ? `${rel}/${d.name}` : d.name;
        if (PART.test(d.name) && d.isFile()) parts.push(p);
        if (p === MARKER || PART.test(d.name)) continue;
        if (d.isDirectory()) {
          found.push({ kind: 'folder', path: p });
          await walk(p);
        } else if (d.isFile()) {
          const s = await lstat(this.abs(p)).catch(() => undefined);
          if (s?.isFile()) found.push({ kind: 'file', path: p, size: s.size, mtime: Math.floor(s.mtimeMs), id: `${s.dev}:${s.ino}` });
        }
        // Symbolic links and special files are not synced.
      }
    };
    await walk('');
    this.parts = parts;
    return found;
  }

  async stat(rel: string): Promise<LocalEntry | undefined> {
    const s = await lstat(this.abs(rel)).catch(() => undefined);
    if (!s) return undefined;
    if (s.isDirectory()) return { kind: 'folder', path: rel };
    if (s.isFile()) return { kind: 'file', path: rel, size: s.size, mtime: Math.floor(s.mtimeMs), id: `${s.dev}:${s.ino}` };
    return undefined;
  }

  async hashFile(rel: string): Promise<ChunkRef[]> {
    // The same chunking as every upload.
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
    return fileSink(this.abs(rel), opts);
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
    this.parts = [];
    return n;
  }

  async readText(rel: string): Promise<string | undefined> {
    return readFile(this.abs(rel), 'utf8').catch(() => undefined);
  }
}

/** A pair's state: the base (one row per path) and named values. */
export class SqliteSyncState implements SyncStateStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS base (path TEXT PRIMARY KEY, entry TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS vals (name TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
  }

  async load(): Promise<Map<string, BaseEntry>> {
    const rows = this.db.prepare('SELECT entry FROM base').all() as { entry: string }[];
    return new Map(rows.map((r) => {
      const e = JSON.parse(r.entry) as BaseEntry;
      return [e.path, e];
    }));
  }

  async put(entry: BaseEntry): Promise<void> {
    this.db.prepare('INSERT INTO base (path, entry) VALUES (?, ?) ON CONFLICT (path) DO UPDATE SET entry = excluded.entry').run(entry.path, JSON.stringify(entry));
  }

  async delete(p: string): Promise<void> {
    this.db.prepare('DELETE FROM base WHERE path = ?').run(p);
  }

  async value(name: string): Promise<string | undefined> {
    return (this.db.prepare('SELECT value FROM vals WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  async setValue(name: string, value: string | undefined): Promise<void> {
    if (value === undefined) this.db.prepare('DELETE FROM vals WHERE name = ?').run(name);
    else this.db.prepare('INSERT INTO vals (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value);
  }

  close(): void {
    this.db.close();
  }
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
export function watchFolder(root: string, changed: () => void): (() => void) | undefined {
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
        changed();
        if (name) void appeared(path.join(dir, name.toString()));
      });
    } catch {
      return; // gone already
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
      changed();
    } else if (!s) forget(p);
  };
  void add(root);
  return () => {
    closed = true;
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
}
