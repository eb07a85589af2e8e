import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile } from '../../relay/client/index.js';
import { ALICE, BOB, signIn, standardRelay, sharedFolder } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

describe('many clients at once', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  beforeAll(async () => {
    env = await standardRelay();
  });
  afterAll(() => env?.close());

  it('20 clients of two users uploading into one shared folder at once all finish with correct hashes', async () => {
    const space = await sharedFolder(env.relay, 'many', { alice: 'edit', bob: 'edit' });
    const clients = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? signIn(env.relay, ALICE.name, ALICE.password) : signIn(env.relay, BOB.name, BOB.password))),
    );
    try {
      const files = clients.map((_, i) => randomData(CHUNK_SIZE + 1000 * i + 17));
      const results = await Promise.all(clients.map((c, i) => uploadFile(c, bufferSource(files[i]), { space, path: `many/file-${i}.bin`, window: 4 })));
      results.forEach((r, i) => {
        expect(r.path).toBe(`many/file-${i}.bin`);
        expect(r.sha256).toBe(sha256(files[i]));
      });
      const list = await clients[0].request('list', { space, folder: 'many' });
      expect(list.entries).toHaveLength(20);
      for (const e of list.entries) {
        const i = Number(/file-(\d+)/.exec(e.name)![1]);
        expect(e.sha256).toBe(sha256(files[i]));
      }
      const sink = memorySink();
      await downloadFile(clients[3], sink, { space, path: 'many/file-17.bin' });
      expect(Buffer.compare(sink.bytes(), files[17])).toBe(0);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
