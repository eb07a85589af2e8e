import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE, contentHash } from '../../relay/protocol/index.js';
import { chunkFeed, downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ALICE, aliceOnRelay } from '../helpers/relay.js';
import { rawClient } from '../helpers/raw.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let nextId = 1;
const req = (type: string, body: object = {}) => ({ type, id: nextId++, ...body });

describe('streaming uploads (sending starts before hashing ends)', () => {
  const f = aliceOnRelay();

  it('sends the first chunks while later ones are still being hashed, and commits the right file', async () => {
    const data = randomData(12 * CHUNK_SIZE + 3);
    const events: string[] = [];
    // A deliberately slow hasher: 30 ms per chunk.
    const feed = chunkFeed(data.length, async (offset, length) => {
      await new Promise((r) => setTimeout(r, 30));
      events.push(`hashed ${offset / CHUNK_SIZE}`);
      return sha(data.subarray(offset, offset + length));
    }, { concurrency: 1 });
    const source = bufferSource(data);
    const observed = { ...source, read: async (o: number, l: number) => (events.push(`sent ${o / CHUNK_SIZE}`), source.read(o, l)) };
    const r = await uploadFile(f.alice, observed, { path: 'stream/slow.bin', feed });
    expect(r.sha256).toBe(sha256(data));
    expect(r.chunks).toHaveLength(13);
    expect(events.indexOf('sent 0')).toBeLessThan(events.indexOf('hashed 12'));
    const sink = memorySink();
    await downloadFile(f.alice, sink, { path: 'stream/slow.bin' });
    expect(Buffer.compare(sink.bytes(), data)).toBe(0);
  });

  it('refuses chunks not listed yet, extends out of order, and commits of incomplete lists', async () => {
    const raw = await rawClient(f.env.relay.wsUrl);
    try {
      await raw.request(req('login', { user: ALICE.name, password: ALICE.password }));
      const a = Buffer.from('first part');
      const b = Buffer.from('second');
      const size = a.length + b.length;
      const begin = await raw.request(req('upload.begin', { path: 'stream/raw.txt', size, mtime: 0, partial: true, chunks: [{ offset: 0, length: a.length, sha256: sha(a) }] }));
      expect(begin.body.need).toEqual([0]);
      const { handle, upload } = begin.body;
      expect(await raw.chunk(handle, 1, b)).toMatchObject({ type: 'chunk.refused', code: 'CHUNK_OUT_OF_RANGE' });
      expect(await raw.chunk(handle, 0, a)).toMatchObject({ type: 'chunk.ack', index: 0 });
      const first = { offset: 0, length: a.length, sha256: sha(a) };
      const second = { offset: a.length, length: b.length, sha256: sha(b) };
      const whole = contentHash([first, second]);
      expect(await raw.request(req('upload.commit', { upload, contentHash: whole }))).toMatchObject({ code: 'BAD_CHUNK_LIST' });
      expect(await raw.request(req('upload.extend', { handle, from: 5, chunks: [second] }))).toMatchObject({ code: 'BAD_CHUNK_LIST' });
      expect(await raw.request(req('upload.extend', { handle, from: 1, chunks: [{ ...second, offset: 3 }] }))).toMatchObject({ code: 'BAD_CHUNK_LIST' });
      expect(await raw.request(req('upload.extend', { handle, from: 1, chunks: [{ ...second, length: 99 }] }))).toMatchObject({ code: 'SIZE_MISMATCH' });
      expect(await raw.request(req('upload.extend', { handle, from: 1, chunks: [second] }))).toMatchObject({ type: 'reply', body: { need: [1] } });
      expect(await raw.chunk(handle, 1, b)).toMatchObject({ type: 'chunk.ack', index: 1 });
      expect(await raw.request(req('upload.commit', { upload, contentHash: whole }))).toMatchObject({ type: 'reply', body: { sha256: sha(Buffer.concat([a, b])) } });
    } finally {
      raw.close();
    }
  });

  it('resumes a partial upload whose tail changed (resume: its session id): keeps the agreeing chunks, drops the rest', async () => {
    const c0 = randomData(100);
    const c1 = randomData(100);
    const c1b = randomData(100);
    const ref = (d: Buffer, i: number) => ({ offset: i * 100, length: 100, sha256: sha(d) });
    const first = await rawClient(f.env.relay.wsUrl);
    await first.request(req('login', { user: ALICE.name, password: ALICE.password }));
    const b1 = await first.request(req('upload.begin', { path: 'stream/edit.bin', size: 300, mtime: 0, partial: true, chunks: [ref(c0, 0), ref(c1, 1)] }));
    expect(await first.chunk(b1.body.handle, 0, c0)).toMatchObject({ type: 'chunk.ack' });
    expect(await first.chunk(b1.body.handle, 1, c1)).toMatchObject({ type: 'chunk.ack' });
    first.close();

    const again = await rawClient(f.env.relay.wsUrl);
    try {
      await again.request(req('login', { user: ALICE.name, password: ALICE.password }));
      const b2 = await again.request(req('upload.begin', { path: 'stream/edit.bin', size: 300, mtime: 0, partial: true, chunks: [ref(c0, 0)], resume: b1.body.upload }));
      expect(b2.body.upload).toBe(b1.body.upload);
      expect(b2.body.need).toEqual([]);
      const c2 = randomData(100);
      const ext = await again.request(req('upload.extend', { handle: b2.body.handle, from: 1, chunks: [ref(c1b, 1), ref(c2, 2)] }));
      expect(ext.body.need).toEqual([1, 2]);
      expect(await again.chunk(b2.body.handle, 1, c1b)).toMatchObject({ type: 'chunk.ack' });
      expect(await again.chunk(b2.body.handle, 2, c2)).toMatchObject({ type: 'chunk.ack' });
      const done = await again.request(req('upload.commit', { upload: b2.body.upload, contentHash: contentHash([ref(c0, 0), ref(c1b, 1), ref(c2, 2)]) }));
      expect(done.body.sha256).toBe(sha(Buffer.concat([c0, c1b, c2])));
    } finally {
      again.close();
    }
  });
});
