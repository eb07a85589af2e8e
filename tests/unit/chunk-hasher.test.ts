import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkHasher } from '../../relay/chunk-hasher.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('ChunkHasher', () => {
  const hasher = new ChunkHasher(2);
  afterAll(() => hasher.close());

  it('hashes chunks and returns their bytes intact, whether they own their buffer or share it', async () => {
    const own = new Uint8Array(randomBytes(256 * 1024)); // a buffer of its own: moved, not copied
    const expectedOwn = sha(own);
    const shared = Buffer.from(randomBytes(100)); // from the shared pool: copied
    const framed = Buffer.concat([Buffer.alloc(9), randomBytes(128 * 1024)]).subarray(9); // an offset view
    for (const data of [own, shared, framed]) {
      const before = Buffer.from(data);
      const r = await hasher.chunk('k-' + data.length, 0, data, sha(before));
      expect(r.sha256).toBe(sha(before));
      expect(Buffer.compare(Buffer.from(r.data), before)).toBe(0);
    }
    expect(expectedOwn).toMatch(/^[0-9a-f]{64}$/);
  });

  it('computes the whole-file SHA-256 from chunks fed in order', async () => {
    const parts = [randomBytes(70_000), randomBytes(80_000), randomBytes(90_000)];
    for (const [i, p] of parts.entries()) await hasher.chunk('whole', i, new Uint8Array(p), sha(p));
    expect(await hasher.wholeDigest('whole', 3)).toBe(sha(Buffer.concat(parts)));
  });

  it('gives no whole-file digest when a chunk was skipped, mismatched or out of order', async () => {
    const parts = [randomBytes(1000), randomBytes(1000)];
    await hasher.chunk('gap', 1, parts[1], sha(parts[1]));
    expect(await hasher.wholeDigest('gap', 2)).toBeUndefined();
    await hasher.chunk('bad', 0, parts[0], sha(parts[1]));
    await hasher.chunk('bad', 1, parts[1], sha(parts[1]));
    expect(await hasher.wholeDigest('bad', 2)).toBeUndefined();
  });
});
