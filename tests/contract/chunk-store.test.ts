import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chunkStoreContract } from './chunk-store.contract.js';
import { FsChunkStore, type FsChunkStoreOptions } from '../../relay/store/fs-chunk-store.js';
import { tempDir } from '../helpers/relay.js';

chunkStoreContract('FsChunkStore', async () => {
  const tmp = tempDir();
  return { store: new FsChunkStore(tmp.dir), dispose: tmp.remove };
});

chunkStoreContract('FsChunkStore, buffered writes only', async () => {
  const tmp = tempDir();
  return { store: new FsChunkStore(tmp.dir, { direct: false }), dispose: tmp.remove };
});

describe('FsChunkStore direct writes', () => {
  const EXT4 = 0xef53;
  const onExt4 = statfsSync(tmpdir()).type === EXT4;
  const hasFincore = spawnSync('fincore', ['--version']).status === 0;
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  /** Bytes of `file` in the page cache, from util-linux's fincore. */
  const cached = (file: string) => Number(execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], { encoding: 'utf8' }).trim());

  const withStore = async (opts: FsChunkStoreOptions, fn: (s: FsChunkStore) => Promise<void>) => {
    const tmp = tempDir();
    try {
      await fn(new FsChunkStore(tmp.dir, opts));
    } finally {
      tmp.remove();
    }
  };

  it.runIf(onExt4)('are available on ext4, for chunks in adopted memory', () =>
    withStore({}, async (store) => {
      expect(await store.writesDirect()).toBe(true);
      const memory = new SharedArrayBuffer(8 * 4096 + 4 * 1024 * 1024);
      const offset = await store.adoptMemory(memory);
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(4096);
    }));

  it.runIf(onExt4)('store chunks of any length from aligned views of adopted memory, and others by copying', () =>
    withStore({}, async (store) => {
      const memory = new SharedArrayBuffer(4096 + 4 * 1024 * 1024);
      const offset = (await store.adoptMemory(memory))!;
      const view = (at: number, data: Uint8Array) => {
        const v = new Uint8Array(memory, at, data.length);
        v.set(data);
        return v;
      };
      for (const [at, size] of [
        [offset, 1],
        [offset, 4095],
        [offset + 4096, 4096],
        [offset + 8192, 4097],
        [offset, 4 * 1024 * 1024],
        [offset + 8, 10_000], // not aligned: copied
      ]) {
        const data = randomBytes(size);
        await store.put(sha(data), view(at, data));
        expect(Buffer.compare(Buffer.from(await store.get(sha(data))), data), `${size} bytes at ${at}`).toBe(0);
      }
    }));

  it.runIf(onExt4 && hasFincore)('leave chunks written from adopted memory out of the page cache', () =>
    withStore({}, async (store) => {
      const memory = new SharedArrayBuffer(4096 + 1024 * 1024);
      const offset = (await store.adoptMemory(memory))!;
      const direct = new Uint8Array(memory, offset, 1024 * 1024);
      direct.set(randomBytes(direct.length));
      await store.put(sha(direct), direct);
      const copied = randomBytes(1024 * 1024);
      await store.put(sha(copied), copied);
      const file = (h: string) => path.join(store.root, h.slice(0, 2), h.slice(2, 4), h);
      expect(cached(file(sha(direct)))).toBe(0);
      expect(cached(file(sha(copied)))).toBeGreaterThan(0);
    }));

  it('are off when the store is told so', () =>
    withStore({ direct: false }, async (store) => {
      expect(await store.writesDirect()).toBe(false);
      expect(await store.adoptMemory(new SharedArrayBuffer(65536))).toBeUndefined();
    }));
});
