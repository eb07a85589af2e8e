/**
 * The conformance suite every ChunkStore backend must pass.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ChunkStore } from '../../relay/store/chunk-store.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export function chunkStoreContract(name: string, make: () => Promise<{ store: ChunkStore; dispose: () => Promise<void> | void }>) {
  describe(`ChunkStore contract: ${name}`, () => {
    const withStore = async (fn: (s: ChunkStore) => Promise<void>) => {
      const { store, dispose } = await make();
      try {
        await fn(store);
      } finally {
        await dispose();
      }
    };

    it('stores a chunk under its hash and returns the same bytes', () =>
      withStore(async (s) => {
        const data = randomBytes(100_000);
        await s.put(sha(data), data);
        expect(await s.has(sha(data))).toBe(true);
        expect(Buffer.compare(Buffer.from(await s.get(sha(data))), data)).toBe(0);
      }));

    it('reads ranges of a chunk, into a given buffer where it can, and fewer bytes at its end', () =>
      withStore(async (s) => {
        const data = randomBytes(300_000);
        await s.put(sha(data), data);
        expect(Buffer.compare(Buffer.from(await s.getRange(sha(data), 1000, 5000)), data.subarray(1000, 6000))).toBe(0);
        expect(Buffer.from(await s.getRange(sha(data), 299_990, 100))).toEqual(data.subarray(299_990));
        const into = Buffer.alloc(64 * 1024);
        const got = await s.getRange(sha(data), 200_000, 64 * 1024, into);
        expect(Buffer.compare(Buffer.from(got), data.subarray(200_000, 200_000 + 64 * 1024))).toBe(0);
        if (s.openChunk) {
          const r = await s.openChunk(sha(data));
          try {
            const parts = [];
            for (let at = 0; at < data.length; at += 70_000) parts.push(Buffer.from(await r.read(at, 70_000)));
            expect(Buffer.compare(Buffer.concat(parts), data)).toBe(0);
          } finally {
            await r.close();
          }
          await expect(s.openChunk('0'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
        }
        await expect(s.getRange('0'.repeat(64), 0, 10)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }));

    it('treats storing a chunk twice as a no-op', () =>
      withStore(async (s) => {
        const data = randomBytes(5000);
        await s.put(sha(data), data);
        await s.put(sha(data), data);
        const all = [];
        for await (const c of s.list()) all.push(c);
        expect(all.filter((c) => c.hash === sha(data))).toHaveLength(1);
      }));

    it('stores the empty chunk', () =>
      withStore(async (s) => {
        const empty = new Uint8Array(0);
        await s.put(sha(empty), empty);
        expect((await s.get(sha(empty))).byteLength).toBe(0);
      }));

    it('answers NOT_FOUND for a missing chunk and ignores deleting one', () =>
      withStore(async (s) => {
        const h = sha(randomBytes(8));
        await expect(s.get(h)).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await s.delete(h);
        expect(await s.has(h)).toBe(false);
      }));

    it('lists every stored chunk with its size, and forgets deleted ones', () =>
      withStore(async (s) => {
        const chunks = [randomBytes(10), randomBytes(20), randomBytes(30)];
        for (const c of chunks) await s.put(sha(c), c);
        await s.delete(sha(chunks[1]));
        const listed = new Map<string, number>();
        for await (const c of s.list()) listed.set(c.hash, c.size);
        expect(listed).toEqual(new Map([[sha(chunks[0]), 10], [sha(chunks[2]), 30]]));
      }));

    it('stores chunks of every size around disk blocks and the chunk size byte for byte', () =>
      withStore(async (s) => {
        const MiB = 1024 * 1024;
        for (const size of [1, 511, 512, 513, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1]) {
          const data = randomBytes(size);
          await s.put(sha(data), data);
          const back = await s.get(sha(data));
          expect(back.byteLength, `size ${size}`).toBe(size);
          expect(Buffer.compare(Buffer.from(back), data), `size ${size}`).toBe(0);
        }
      }));

    it('stores a chunk handed over as a view of shared memory (as the relay hands them)', () =>
      withStore(async (s) => {
        const data = randomBytes(300_001);
        const shared = new Uint8Array(new SharedArrayBuffer(data.length + 16), 16, data.length);
        shared.set(data);
        await s.put(sha(data), shared);
        expect(Buffer.compare(Buffer.from(await s.get(sha(data))), data)).toBe(0);
      }));

    it('stores many different chunks written at once', () =>
      withStore(async (s) => {
        const chunks = Array.from({ length: 24 }, (_, i) => randomBytes(256 * 1024 + i));
        await Promise.all(chunks.map((c) => s.put(sha(c), c)));
        for (const c of chunks) expect(Buffer.compare(Buffer.from(await s.get(sha(c))), c)).toBe(0);
      }));

    it('handles concurrent puts of the same chunk', () =>
      withStore(async (s) => {
        const data = randomBytes(1 << 20);
        await Promise.all(Array.from({ length: 8 }, () => s.put(sha(data), data)));
        expect(Buffer.compare(Buffer.from(await s.get(sha(data))), data)).toBe(0);
      }));
  });
}
