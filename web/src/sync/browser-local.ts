/**
 * The sync engine's local side in the browser: a folder picked with the File System
 * Access API (LocalTree) and the pair's state in IndexedDB (SyncStateStore). Runs in the
 * engine worker, next to the connection.
 *
 * What the browser cannot do, and what that means:
 * - set a file's modification time: a fetched file has the time it was written here;
 *   the base records that time, so it is not mistaken for a local edit;
 * - tell a file's identity (inode): renames are recognised by content;
 * - replace a file by rename where the folder is not the origin's own: Chromium writes a
 *   file through a swap file (`*.crswap`) and moves it over the target when closed, so a
 *   reader sees the old or the new file, never half of one.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { FerryError, type ChunkRef } from '../../../relay/protocol';
import type { FileSink, FileSource } from '../../../relay/client';
import { MARKER, foldCase, type BaseEntry, type LocalEntry, type LocalTree, type SyncStateStore } from '../../../relay/sync/engine';
import { deleteSyncRow, putSyncRow, syncRow, syncRows } from '../storage/db';

/** What lib.dom does not declare yet. */
interface DirHandle extends FileSystemDirectoryHandle {
  entries(): AsyncIterableIterator<[string, FileSystemHandle]>;
}
interface MovableHandle extends FileSystemFileHandle {
  move(dir: FileSystemDirectoryHandle, name: string): Promise<void>;
}

/** A download's part file beside its target; `.name.ferry-part`, as on the CLI. */
const PART = /^\..*\.ferry-part$/;
/** Chromium's swap files of writes in progress. */
const SWAP = /\.crswap$/;

function split(path: string): { dirs: string[]; name: string } {
  const parts = path.split('/');
  return { dirs: parts.slice(0, -1), name: parts[parts.length - 1] };
}

function notFound(err: unknown): boolean {
  const name = (err as DOMException)?.name;
  return name === 'NotFoundError' || name === 'TypeMismatchError';
}

export interface BrowserTreeTools {
  /** The chunk list of a file, as every upload chunks it. */
  hash(file: File): Promise<ChunkRef[]>;
  /** An upload source reading the file. */
  source(file: File): FileSource & { close(): void };
}

export class BrowserLocalTree implements LocalTree {
  readonly name: string;
  /** Part files the scans since the last `dropParts` saw. */
  private readonly parts = new Set<string>();

  constructor(
    private readonly root: FileSystemDirectoryHandle,
    private readonly tools: BrowserTreeTools,
  ) {
    this.name = root.name;
  }

  private async dir(dirs: string[], create = false): Promise<FileSystemDirectoryHandle> {
    let d = this.root;
    for (const name of dirs) d = await d.getDirectoryHandle(name, { create });
    return d;
  }

  private async fileHandle(path: string, create = false): Promise<FileSystemFileHandle | undefined> {
    const { dirs, name } = split(path);
    try {
      return await (await this.dir(dirs, create)).getFileHandle(name, { create });
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  private async file(path: string): Promise<File | undefined> {
    const h = await this.fileHandle(path);
    return h ? h.getFile() : undefined;
  }

  async hasMarker(): Promise<boolean> {
    return (await this.fileHandle(MARKER)) !== undefined;
  }

  async writeMarker(text: string): Promise<void> {
    const w = await (await this.fileHandle(MARKER, true))!.createWritable();
    await w.write(text);
    await w.close();
  }

  async scan(folder = ''): Promise<LocalEntry[]> {
    const found: LocalEntry[] = [];
    const parts = this.parts;
    const walk = async (dir: FileSystemDirectoryHandle, rel: string) => {
      for await (const [name, h] of (dir as DirHandle).entries()) {
        const p = rel ? `${rel}/${name}` : name;
        if (h.kind === 'file' && PART.test(name)) parts.add(p);
        if (p === MARKER || PART.test(name) || SWAP.test(name)) continue;
        if (h.kind === 'directory') {
          found.push({ kind: 'folder', path: p });
          await walk(h as FileSystemDirectoryHandle, p);
        } else {
          const f = await (h as FileSystemFileHandle).getFile().catch(() => undefined);
          if (f) found.push({ kind: 'file', path: p, size: f.size, mtime: f.lastModified });
        }
      }
    };
    let start: FileSystemDirectoryHandle;
    try {
      start = folder === '' ? this.root : await this.dir(folder.split('/'));
    } catch (err) {
      if (notFound(err)) return found;
      throw err;
    }
    await walk(start, folder);
    return found;
  }

  async stat(path: string): Promise<LocalEntry | undefined> {
    const { dirs, name } = split(path);
    let d: FileSystemDirectoryHandle;
    try {
      d = await this.dir(dirs);
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
    try {
      const f = await (await d.getFileHandle(name)).getFile();
      return { kind: 'file', path, size: f.size, mtime: f.lastModified };
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    try {
      await d.getDirectoryHandle(name);
      return { kind: 'folder', path };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async hashFile(path: string): Promise<ChunkRef[]> {
    const f = await this.file(path);
    if (!f) throw new FerryError('NOT_FOUND', `${path} is gone.`);
    return this.tools.hash(f);
  }

  async openSource(path: string): Promise<FileSource & { close(): Promise<void> }> {
    const f = await this.file(path);
    if (!f) throw new FerryError('NOT_FOUND', `${path} is gone.`);
    const source = this.tools.source(f);
    const close = source.close.bind(source);
    return Object.assign(source, { close: async () => close() });
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array | undefined> {
    const f = await this.file(path).catch(() => undefined);
    if (!f || f.size < offset + length) return undefined;
    return new Uint8Array(await f.slice(offset, offset + length).arrayBuffer());
  }

  sink(path: string, opts: Parameters<LocalTree['sink']>[1]): FileSink {
    const { dirs, name } = split(path);
    const partName = `.${name}.ferry-part`;
    const wanted = new Map<number, string>();
    let dir: FileSystemDirectoryHandle;
    let part: FileSystemFileHandle;
    /** What an earlier, interrupted attempt left in the part file. */
    let earlier: File | undefined;
    let out: FileSystemWritableFileStream | undefined;
    const sink: FileSink = {
      async start(meta) {
        for (const c of meta.chunks) wanted.set(c.offset, c.sha256);
        dir = await tree.dir(dirs, true);
        part = await dir.getFileHandle(partName, { create: true });
        earlier = await part.getFile();
        out = await part.createWritable({ keepExistingData: true });
      },
      async readExisting(offset, length) {
        if (earlier && offset + length <= earlier.size) {
          const buf = new Uint8Array(await earlier.slice(offset, offset + length).arrayBuffer());
          if (bytesToHex(sha256(buf)) === wanted.get(offset)) return buf;
        }
        const hash = wanted.get(offset);
        const found = hash && opts.reuse ? await opts.reuse(hash, length) : undefined;
        if (!found || found.byteLength !== length) return undefined;
        // The download checks these bytes against the chunk's hash (and fetches the chunk
        // over them if they are not right).
        await sink.write(offset, found);
        return found;
      },
      async write(offset, data) {
        await out!.write({ type: 'write', position: offset, data: data as Uint8Array<ArrayBuffer> });
      },
      async finish(meta) {
        await out!.truncate(meta.size);
        await out!.close();
        out = undefined;
        // The whole file, read back once, against its SHA-256.
        const written = await part.getFile();
        const h = sha256.create();
        const reader = written.stream().getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          h.update(value);
        }
        if (written.size !== meta.size || bytesToHex(h.digest()) !== meta.sha256) {
          await dir.removeEntry(partName).catch(() => {});
          throw new FerryError('INTEGRITY_FAILED', `${path}: the written file does not match its SHA-256; fetched again next round.`);
        }
        await opts.beforeReplace();
        await (part as MovableHandle).move(dir, name);
      },
    };
    const tree = this;
    return sink;
  }

  async remove(path: string): Promise<void> {
    const { dirs, name } = split(path);
    try {
      await (await this.dir(dirs)).removeEntry(name);
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }

  async mkdir(path: string): Promise<void> {
    if (path !== '') await this.dir(path.split('/'), true);
  }

  async rmdir(path: string): Promise<boolean> {
    const { dirs, name } = split(path);
    try {
      await (await this.dir(dirs)).removeEntry(name);
      return true;
    } catch (err) {
      if (notFound(err)) return true;
      return false; // not empty
    }
  }

  async rename(from: string, to: string): Promise<void> {
    if (await this.stat(to)) throw new FerryError('PATH_CONFLICT', `${to} exists here already.`);
    const h = await this.fileHandle(from);
    if (!h) throw new FerryError('NOT_FOUND', `${from} is gone.`);
    const { dirs, name } = split(to);
    await (h as MovableHandle).move(await this.dir(dirs, true), name);
  }

  async readText(path: string): Promise<string | undefined> {
    return (await this.file(path))?.text();
  }

  async dropParts(keep: (path: string) => boolean): Promise<number> {
    let n = 0;
    for (const p of this.parts) {
      const { dirs, name } = split(p);
      const target = [...dirs, name.slice(1, -'.ferry-part'.length)].join('/');
      if (keep(target)) continue;
      await this.remove(p).catch(() => {});
      n++;
    }
    this.parts.clear();
    return n;
  }
}

/** Rows of values have a path no file can have (relay paths hold no control characters). */
const VALUE = '\u0000';

/**
 * A pair's base and values in IndexedDB. The base is read once and then kept in memory
 * beside the database (a folder a browser syncs is a person's folder, not a server's),
 * so the lookups a round makes cost nothing; every change is written through.
 */
export class IdbSyncState implements SyncStateStore {
  private base: Map<string, BaseEntry> | undefined;
  /** Which file holds a chunk, and the base paths by their case-folded form. */
  private readonly chunkAt = new Map<string, { path: string; offset: number }>();
  private readonly folded = new Map<string, Set<string>>();

  constructor(private readonly pair: string) {}

  private async all(): Promise<Map<string, BaseEntry>> {
    if (!this.base) {
      const m = new Map<string, BaseEntry>();
      for (const row of await syncRows(this.pair)) if (!row.path.startsWith(VALUE)) m.set(row.path, row.value as BaseEntry);
      for (const e of m.values()) this.index(e);
      this.base ??= m;
    }
    return this.base;
  }

  private index(e: BaseEntry): void {
    for (const c of e.chunks ?? []) this.chunkAt.set(c.sha256, { path: e.path, offset: c.offset });
    const f = foldCase(e.path);
    if (!this.folded.has(f)) this.folded.set(f, new Set());
    this.folded.get(f)!.add(e.path);
  }

  private unindex(e: BaseEntry): void {
    for (const c of e.chunks ?? []) if (this.chunkAt.get(c.sha256)?.path === e.path) this.chunkAt.delete(c.sha256);
    this.folded.get(foldCase(e.path))?.delete(e.path);
  }

  async loadUnder(roots: string[]): Promise<Map<string, BaseEntry>> {
    const out = new Map<string, BaseEntry>();
    for (const e of (await this.all()).values()) {
      if (roots.some((r) => r === '' || e.path === r || e.path.startsWith(`${r}/`))) {
        const { chunks: _chunks, ...rest } = e;
        out.set(e.path, rest);
      }
    }
    return out;
  }

  async put(entry: BaseEntry): Promise<void> {
    const all = await this.all();
    const before = all.get(entry.path);
    const kept: BaseEntry = entry.kind === 'file' && !entry.chunks && before?.chunks ? { ...entry, chunks: before.chunks } : entry;
    await putSyncRow({ pair: this.pair, path: entry.path, value: kept });
    if (before) this.unindex(before);
    all.set(entry.path, kept);
    this.index(kept);
  }

  async delete(path: string): Promise<void> {
    const all = await this.all();
    await deleteSyncRow(this.pair, path);
    const before = all.get(path);
    if (before) this.unindex(before);
    all.delete(path);
  }

  async chunksOf(path: string): Promise<ChunkRef[] | undefined> {
    return (await this.all()).get(path)?.chunks;
  }

  async findChunk(sha256: string): Promise<{ path: string; offset: number } | undefined> {
    await this.all();
    return this.chunkAt.get(sha256);
  }

  async caseTwin(path: string): Promise<string | undefined> {
    await this.all();
    for (const p of this.folded.get(foldCase(path)) ?? []) if (p !== path) return p;
    return undefined;
  }

  async totals(): Promise<{ entries: number; files: number; bytes: number }> {
    let files = 0;
    let bytes = 0;
    const all = await this.all();
    for (const e of all.values()) {
      if (e.kind !== 'file') continue;
      files++;
      bytes += e.size ?? 0;
    }
    return { entries: all.size, files, bytes };
  }

  async value(name: string): Promise<string | undefined> {
    return (await syncRow(this.pair, VALUE + name))?.value as string | undefined;
  }

  async setValue(name: string, value: string | undefined): Promise<void> {
    if (value === undefined) await deleteSyncRow(this.pair, VALUE + name);
    else await putSyncRow({ pair: this.pair, path: VALUE + name, value });
  }
}
