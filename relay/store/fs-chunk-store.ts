/**
 * ChunkStore on the local file system: `<root>/ab/cd/abcd…` (two levels of fan-out
 * keep directories small), written to `<root>/.tmp` first, fsynced, then renamed
 * into place so a chunk file is either whole or absent.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';
import type { ChunkReader, ChunkStore, StoredChunk } from './chunk-store.js';
import { DirectWriter } from './direct-io.js';

export interface FsChunkStoreOptions {
  /** Write chunks with O_DIRECT where the file system supports it (default true). */
  direct?: boolean;
}

const HASH_RE = /^[0-9a-f]{64}$/;

export class FsChunkStore implements ChunkStore {
  readonly root: string;
  private readonly tmp: string;
  private readonly ready: Promise<void>;
  /** Folders known to exist, so a put does not mkdir every time. */
  private readonly made = new Set<string>();
  private direct?: DirectWriter;

  constructor(root: string, opts: FsChunkStoreOptions = {}) {
    this.root = root;
    const tmp = path.join(root, '.tmp');
    this.tmp = tmp;
    this.ready = (async () => {
      await mkdir(tmp, { recursive: true, mode: 0o700 });
      // Leftovers of writes interrupted by a crash are never referenced: drop them.
      for (const name of await readdir(tmp)) await rm(path.join(tmp, name), { force: true });
      if (opts.direct !== false) this.direct = DirectWriter.probe(tmp);
    })();
  }

  /** True when chunk writes can bypass the page cache (O_DIRECT works in this folder). */
  async writesDirect(): Promise<boolean> {
    await this.ready;
    return this.direct !== undefined;
  }

  /**
   * Chunks handed to `put` as views of `memory` at `offset + k × 4096` (the returned
   * offset) are written straight from it, bypassing the page cache. Undefined when
   * this folder does not allow that; `put` then copies as usual.
   */
  async adoptMemory(memory: SharedArrayBuffer): Promise<number | undefined> {
    await this.ready;
    return this.direct?.adopt(memory);
  }

  private file(hash: string): string {
    if (!HASH_RE.test(hash)) throw new FerryError('BAD_MESSAGE', `Not a SHA-256: ${hash}`);
    return path.join(this.root, hash.slice(0, 2), hash.slice(2, 4), hash);
  }

  async put(hash: string, data: Uint8Array): Promise<void> {
    const target = this.file(hash);
    await this.ready;
    if (await exists(target)) return;
    const dir = path.dirname(target);
    if (!this.made.has(dir)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      this.made.add(dir);
    }
    const temp = path.join(this.tmp, `${hash}.${randomBytes(6).toString('hex')}`);
    try {
      const fh = (await this.direct?.write(temp, data)) ?? (await writeBuffered(temp, data));
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(temp, target);
    } catch (err) {
      // A full disk or a failing write: leave nothing half-written behind.
      await rm(temp, { force: true }).catch(() => {});
      throw err;
    }
    await syncDir(dir);
  }

  async has(hash: string): Promise<boolean> {
    return exists(this.file(hash));
  }

  async get(hash: string): Promise<Uint8Array> {
    try {
      return await readFile(this.file(hash));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FerryError('NOT_FOUND', `Chunk ${hash} is not stored.`);
      throw err;
    }
  }

  async getRange(hash: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const reader = await this.openChunk(hash);
    try {
      return await reader.read(offset, length, into);
    } finally {
      await reader.close();
    }
  }

  async openChunk(hash: string): Promise<ChunkReader> {
    let fh: FileHandle;
    try {
      fh = await open(this.file(hash), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FerryError('NOT_FOUND', `Chunk ${hash} is not stored.`);
      throw err;
    }
    return {
      async read(offset, length, into) {
        const buf = into && into.byteLength >= length ? into : Buffer.allocUnsafe(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      },
      close: () => fh.close(),
    };
  }

  async delete(hash: string): Promise<void> {
    await rm(this.file(hash), { force: true });
  }

  async *list(): AsyncIterable<StoredChunk> {
    await this.ready;
    for (const a of await readdirSafe(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(a)) continue;
      for (const b of await readdirSafe(path.join(this.root, a))) {
        for (const name of await readdirSafe(path.join(this.root, a, b))) {
          if (!HASH_RE.test(name)) continue;
          const s = await stat(path.join(this.root, a, b, name)).catch(() => undefined);
          if (s) yield { hash: name, size: s.size, mtimeMs: s.mtimeMs };
        }
      }
    }
  }
}

async function writeBuffered(file: string, data: Uint8Array): Promise<FileHandle> {
  const fh = await open(file, 'w', 0o600);
  try {
    await fh.write(data, 0, data.byteLength, 0);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function readdirSafe(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Makes a rename inside `dir` durable. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

