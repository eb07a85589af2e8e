import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile, FerryClient, type ChunkEvent } from '../../relay/client/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { ALICE, standardRelay } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

/** A client whose first send of chosen chunks has one bit flipped on the way. */
class FlakyWire extends FerryClient {
  readonly flipped = new Set<number>();
  readonly refusals: { index: number; code: string }[] = [];
  constructor(url: string, private readonly corrupt: Set<number>) {
    super({ url, createSocket: nodeSocketFactory });
  }
  override sendChunk(handle: number, index: number, data: Uint8Array): void {
    if (this.corrupt.has(index) && !this.flipped.has(index)) {
      this.flipped.add(index);
      const copy = Uint8Array.from(data);
      copy[Math.floor(copy.length / 2)] ^= 0x10;
      return super.sendChunk(handle, index, copy);
    }
    super.sendChunk(handle, index, data);
  }
  override onChunkEvents(handle: number, listener: (ev: ChunkEvent) => void) {
    return super.onChunkEvents(handle, (ev) => {
      if (ev.type === 'chunk.refused') this.refusals.push({ index: ev.index, code: ev.code });
      listener(ev);
    });
  }
}

describe('a chunk damaged in transit', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  beforeAll(async () => {
    env = await standardRelay();
  });
  afterAll(() => env?.close());

  it('is refused with CHUNK_HASH_MISMATCH, sent again, and the stored file is correct', async () => {
    const client = new FlakyWire(env.relay.wsUrl, new Set([2, 5]));
    await client.connect();
    await client.login(ALICE.name, ALICE.password);
    try {
      const data = randomData(7 * CHUNK_SIZE + 99);
      const up = await uploadFile(client, bufferSource(data), { path: 'flip.bin' });
      expect(client.refusals).toEqual(expect.arrayContaining([{ index: 2, code: 'CHUNK_HASH_MISMATCH' }, { index: 5, code: 'CHUNK_HASH_MISMATCH' }]));
      expect(up.stats.refusedChunks).toBe(2);
      expect(up.stats.sentChunks).toBe(8 + 2);
      expect(up.sha256).toBe(sha256(data));
      const sink = memorySink();
      await downloadFile(client, sink, { path: 'flip.bin' });
      expect(Buffer.compare(sink.bytes(), data)).toBe(0);
      expect((await client.request('verify', { path: 'flip.bin' })).ok).toBe(true);
    } finally {
      client.close();
    }
  });

  it('fails with CHUNK_HASH_MISMATCH when the file keeps changing under the upload', async () => {
    const client = new FlakyWire(env.relay.wsUrl, new Set());
    await client.connect();
    await client.login(ALICE.name, ALICE.password);
    try {
      const data = randomData(2 * CHUNK_SIZE);
      const source = bufferSource(data);
      // Hash the real bytes, then hand out different bytes for chunk 1 every time it is read.
      const { hashFile } = await import('../../relay/client/index.js');
      const chunks = await hashFile(source);
      const changing = { ...source, read: async (o: number, l: number) => (o === CHUNK_SIZE ? randomData(l) : source.read(o, l)) };
      await expect(uploadFile(client, changing, { path: 'changing.bin', chunks, maxChunkRetries: 2 })).rejects.toMatchObject({ code: 'CHUNK_HASH_MISMATCH' });
      const list = await client.request('list', { folder: '' });
      expect(list.entries.map((e) => e.name)).not.toContain('changing.bin');
    } finally {
      client.close();
    }
  });
});
