import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ADMIN, ALICE, BOB, signIn, standardRelay } from '../helpers/relay.js';
import { bufferSource, randomData } from '../helpers/files.js';

async function countChunkFiles(dataDir: string): Promise<number> {
  let n = 0;
  const root = path.join(dataDir, 'chunks');
  for (const a of await readdir(root)) {
    if (a === '.tmp') continue;
    for (const b of await readdir(path.join(root, a))) n += (await readdir(path.join(root, a, b))).length;
  }
  return n;
}

describe('dedup and garbage collection', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let alice: FerryClient;
  let bob: FerryClient;
  beforeAll(async () => {
    env = await standardRelay(['--gc-grace-seconds', '0']);
    alice = await signIn(env.relay, ALICE.name, ALICE.password);
    bob = await signIn(env.relay, BOB.name, BOB.password);
  });
  afterAll(async () => {
    alice?.close();
    bob?.close();
    await env?.close();
  });

  it('does not send again chunks this user already stored, under any path', async () => {
    const data = randomData(5 * CHUNK_SIZE);
    const first = await uploadFile(alice, bufferSource(data), { path: 'dedup/a.bin' });
    expect(first.stats.sentChunks).toBe(5);
    const again = await uploadFile(alice, bufferSource(data), { path: 'dedup/copy-of-a.bin' });
    expect(again.stats.sentChunks).toBe(0);
    expect(again.stats.heldChunks).toBe(5);
    // A file sharing its first 3 chunks sends only the 2 that differ.
    const edited = Buffer.concat([data.subarray(0, 3 * CHUNK_SIZE), randomData(2 * CHUNK_SIZE)]);
    const third = await uploadFile(alice, bufferSource(edited), { path: 'dedup/edited.bin' });
    expect(third.stats.sentChunks).toBe(2);
  });

  it("never tells one user that another user holds the content: bob sends every chunk of alice's file", async () => {
    const data = randomData(3 * CHUNK_SIZE);
    await uploadFile(alice, bufferSource(data), { path: 'private/alice.bin' });
    const mine = await uploadFile(bob, bufferSource(data), { path: 'private/bob.bin' });
    expect(mine.stats.heldChunks).toBe(0);
    expect(mine.stats.sentChunks).toBe(3);
    // On disk the content is stored once.
    const before = await countChunkFiles(env.relay.dataDir);
    const again = await uploadFile(bob, bufferSource(data), { path: 'private/bob2.bin' });
    expect(again.stats.sentChunks).toBe(0);
    expect(await countChunkFiles(env.relay.dataDir)).toBe(before);
  });

  it('keeps the chunks of a trashed file, and collects them once the trash is emptied', async () => {
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    try {
      const before = await countChunkFiles(env.relay.dataDir);
      await uploadFile(alice, bufferSource(randomData(4 * CHUNK_SIZE)), { path: 'gc/tmp.bin' });
      expect(await countChunkFiles(env.relay.dataDir)).toBe(before + 4);
      const { trashed } = await alice.request('trash', { path: 'gc/tmp.bin' });
      await new Promise((r) => setTimeout(r, 1500));
      expect(await countChunkFiles(env.relay.dataDir)).toBe(before + 4);
      // An admin empties alice's trash (by its space id) without seeing her files.
      const home = (await alice.request('spaces', {})).spaces.find((s) => s.kind === 'home')!.id;
      await expect(admin.request('list', { space: home })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await admin.request('trash.purge', { space: home, item: trashed.item })).toMatchObject({ items: 1, files: 1 });
      // Collection is scheduled a moment after a delete.
      const deadline = Date.now() + 10_000;
      while ((await countChunkFiles(env.relay.dataDir)) !== before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await countChunkFiles(env.relay.dataDir)).toBe(before);
    } finally {
      admin.close();
    }
  });
});
