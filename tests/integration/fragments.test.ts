import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, contentHash } from '../../relay/protocol/index.js';
import { downloadFile, type FerryClient } from '../../relay/client/index.js';
import { ALICE, signIn, standardRelay } from '../helpers/relay.js';
import { rawClient, type RawClient } from '../helpers/raw.js';
import { memorySink, randomData, sha256 } from '../helpers/files.js';

let nextId = 1;
const req = (type: string, body: object = {}) => ({ type, id: nextId++, ...body });

/** Offsets every `step` bytes below `end`, starting at `from`. */
const every = (step: number, end: number, from = step) => Array.from({ length: Math.max(0, Math.ceil((end - from) / step)) }, (_, i) => from + i * step);

describe('chunk frames that arrive as fragmented messages (as browsers send them)', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let raw: RawClient;
  let client: FerryClient;
  beforeAll(async () => {
    env = await standardRelay();
    raw = await rawClient(env.relay.wsUrl);
    expect(await raw.request(req('login', { user: ALICE.name, password: ALICE.password }))).toMatchObject({ type: 'reply' });
    client = await signIn(env.relay, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    raw?.close();
    client?.close();
    await env?.close();
  });

  it('stores chunks sent in fragments, however they are cut, byte-identical', async () => {
    const chunks = [randomData(CHUNK_SIZE), randomData(CHUNK_SIZE), randomData(1000), randomData(70_000)];
    const whole = Buffer.concat(chunks);
    let offset = 0;
    const list = chunks.map((c) => ({ offset: (offset += c.length) - c.length, length: c.length, sha256: sha256(c) }));
    const begin = await raw.request(req('upload.begin', { path: 'fragments/file.bin', size: whole.length, mtime: 0, chunks: list }));
    expect(begin).toMatchObject({ type: 'reply', body: { need: [0, 1, 2, 3] } });
    const { handle, upload } = begin.body;
    const frame = (n: number) => 9 + chunks[n].length;
    // Chromium's cut: fragments of about 128 KiB; a cut inside the header; many tiny fragments; one fragment.
    const cuts = [every(131_000, frame(0)), [4, ...every(1 << 20, frame(1))], every(7, frame(2), 3), []];
    for (const [i, c] of chunks.entries()) {
      expect(await raw.chunkInFragments(handle, i, c, cuts[i])).toMatchObject({ type: 'chunk.ack', handle, index: i });
    }
    const commit = await raw.request(req('upload.commit', { upload, contentHash: contentHash(list) }));
    expect(commit).toMatchObject({ type: 'reply', body: { path: 'fragments/file.bin', size: whole.length, sha256: sha256(whole) } });
    const sink = memorySink();
    await downloadFile(client, sink, { path: 'fragments/file.bin' });
    expect(Buffer.compare(sink.bytes(), whole)).toBe(0);
  });

  it('refuses a fragmented chunk of the wrong length or with the wrong bytes, and takes it sent again', async () => {
    const data = randomData(300_000);
    const list = [{ offset: 0, length: data.length, sha256: sha256(data) }];
    const begin = await raw.request(req('upload.begin', { path: 'fragments/refused.bin', size: data.length, mtime: 0, chunks: list }));
    const { handle, upload } = begin.body;
    expect(await raw.chunkInFragments(handle, 0, data.subarray(1), every(131_000, data.length))).toMatchObject({ type: 'chunk.refused', code: 'CHUNK_LENGTH_MISMATCH' });
    const wrong = Buffer.from(data);
    wrong[200_000] ^= 1;
    expect(await raw.chunkInFragments(handle, 0, wrong, every(131_000, data.length))).toMatchObject({ type: 'chunk.refused', code: 'CHUNK_HASH_MISMATCH' });
    expect(await raw.chunkInFragments(handle, 0, data, every(131_000, data.length))).toMatchObject({ type: 'chunk.ack', index: 0 });
    expect(await raw.request(req('upload.commit', { upload, contentHash: contentHash(list) }))).toMatchObject({ type: 'reply', body: { sha256: sha256(data) } });
  });
});
