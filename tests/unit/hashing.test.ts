import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentHash, planChunks, CHUNK_SIZE } from '../../relay/protocol/index.js';
import { chunkFeed, hashFile, nobleHasher, webCryptoHasher } from '../../relay/client/index.js';
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

describe('chunkFeed', () => {
  const size = 5 * CHUNK_SIZE + 7;
  const hashOf = (offset: number) => `h${offset}`;

  it('starts from chunks hashed earlier and hashes only the rest', async () => {
    const asked: number[] = [];
    const hashChunk = async (offset: number) => {
      asked.push(offset);
      return hashOf(offset);
    };
    const plan = await chunkFeed(size, hashChunk).done;
    asked.length = 0;
    const feed = chunkFeed(size, hashChunk, { known: plan.slice(0, 3) });
    expect(feed.chunks).toHaveLength(3);
    expect(await feed.done).toEqual(plan);
    expect(asked.sort((a, b) => a - b)).toEqual([3 * CHUNK_SIZE, 4 * CHUNK_SIZE, 5 * CHUNK_SIZE]);
  });

  it('ignores earlier chunks that do not fit the file', async () => {
    const asked: number[] = [];
    const known = [{ offset: 0, length: 10, sha256: 'x' }];
    const chunks = await chunkFeed(size, async (offset) => (asked.push(offset), hashOf(offset)), { known }).done;
    expect(asked).toHaveLength(6);
    expect(chunks[0]).toEqual({ offset: 0, length: CHUNK_SIZE, sha256: hashOf(0) });
  });
});
