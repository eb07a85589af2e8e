import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentHash, planChunks, CHUNK_SIZE } from '../../relay/protocol/index.js';
import { hashFile, nobleHasher, webCryptoHasher } from '../../relay/client/index.js';
import { bufferSource } from '../helpers/files.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('hashers', () => {
  it('WebCrypto and @noble/hashes give identical digests', async () => {
    const web = webCryptoHasher()!;
    expect(web.kind).toBe('webcrypto');
    for (const size of [0, 1, 63, 64, 65, 1000, 1 << 20]) {
      const data = randomBytes(size);
      expect(await web.sha256(data)).toBe(sha(data));
      expect(await nobleHasher.sha256(data)).toBe(sha(data));
    }
  });

  it('the chunk list and content hash are the same whichever hasher made them', async () => {
    const data = randomBytes(2 * CHUNK_SIZE + 5);
    const a = await hashFile(bufferSource(data), { hasher: webCryptoHasher() });
    const b = await hashFile(bufferSource(data), { hasher: nobleHasher });
    expect(a).toEqual(b);
    expect(contentHash(a)).toBe(contentHash(b));
  });
});

describe('content hash', () => {
  it('is SHA-256 of the concatenated binary chunk digests', async () => {
    const data = randomBytes(CHUNK_SIZE * 2 + 10);
    const chunks = await hashFile(bufferSource(data));
    const digests = Buffer.concat(planChunks(data.length).map((c) => createHash('sha256').update(data.subarray(c.offset, c.offset + c.length)).digest()));
    expect(contentHash(chunks)).toBe(sha(digests));
    expect(chunks.map((c) => [c.offset, c.length])).toEqual([[0, CHUNK_SIZE], [CHUNK_SIZE, CHUNK_SIZE], [2 * CHUNK_SIZE, 10]]);
  });

  it('of an empty file is the SHA-256 of nothing', () => {
    expect(contentHash([])).toBe(sha(new Uint8Array(0)));
    expect(planChunks(0)).toEqual([]);
  });
});
