import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ALICE, standardRelay } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

describe('upload and download round trip through a real relay', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let client: FerryClient;

  beforeAll(async () => {
    env = await standardRelay();
    const { signIn } = await import('../helpers/relay.js');
    client = await signIn(env.relay, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    client?.close();
    await env?.close();
  });

  const sizes: [string, number][] = [
    ['0 B', 0],
    ['1 B', 1],
    ['chunk - 1', CHUNK_SIZE - 1],
    ['chunk', CHUNK_SIZE],
    ['chunk + 1', CHUNK_SIZE + 1],
    ['100 MiB', 100 * 1024 * 1024],
  ];

  for (const [label, size] of sizes) {
    it(`returns ${label} byte-identical with matching hashes`, async () => {
      const data = randomData(size);
      const path = `roundtrip/${label.replace(/\s/g, '')}.bin`;
      const up = await uploadFile(client, bufferSource(data), { path });
      expect(up.path).toBe(path);
      expect(up.version).toBe(1);
      expect(up.size).toBe(size);
      expect(up.sha256).toBe(sha256(data));
      expect(up.stats.sentBytes).toBe(size);

      const sink = memorySink();
      const { meta } = await downloadFile(client, sink, { path });
      expect(meta.sha256).toBe(sha256(data));
      expect(meta.contentHash).toBe(up.contentHash);
      expect(Buffer.compare(sink.bytes(), data)).toBe(0);

      const check = await client.request('verify', { path });
      expect(check).toMatchObject({ ok: true, badChunks: [], sha256Ok: true, sha256: sha256(data) });
    });
  }

  it('lists the uploaded files with size, uploader, version count and hashes', async () => {
    const list = await client.request('list', { folder: 'roundtrip' });
    const one = list.entries.find((e) => e.name === '1B.bin');
    expect(one).toMatchObject({ kind: 'file', size: 1, uploader: 'alice', versions: 1, version: 1 });
    expect(one?.contentHash).toMatch(/^[0-9a-f]{64}$/);
    const root = await client.request('list', { folder: '' });
    expect(root.entries).toContainEqual({ kind: 'folder', name: 'roundtrip', path: 'roundtrip' });
  });
});
