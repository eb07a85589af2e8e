import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile, type FerryClient } from '../../relay/client/index.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { ALICE, BOB, signIn, standardRelay } from '../helpers/relay.js';
import { ChunkBudget } from '../../relay/chunk-budget.js';

describe('the relay-wide budget of chunk bytes in flight', () => {
  it('pauses takers past the cap and resumes them all once half of it is free', () => {
    const b = new ChunkBudget(100);
    let resumed = 0;
    b.take(60);
    b.whenRoom(() => resumed++); // above half: waits
    expect(resumed).toBe(0);
    b.take(50);
    expect(b.full).toBe(true);
    const second = () => resumed++;
    b.whenRoom(second);
    b.whenRoom(second); // once each, however often asked
    b.give(50);
    expect(resumed).toBe(0); // 60 of 100: not yet half free
    b.give(10);
    expect(resumed).toBe(2);
    expect(b.bytes).toBe(50);
    b.whenRoom(() => resumed++); // half free already: at once
    expect(resumed).toBe(3);
  });

  describe('with a cap of two chunks and eight uploads at once', () => {
    let env: Awaited<ReturnType<typeof standardRelay>>;
    const clients: FerryClient[] = [];
    beforeAll(async () => {
      env = await standardRelay([], { FERRY_LIMITS: JSON.stringify({ MAX_CHUNK_BYTES_IN_FLIGHT: 2 * CHUNK_SIZE }) });
      for (let i = 0; i < 8; i++) clients.push(await signIn(env.relay, i % 2 ? BOB.name : ALICE.name, i % 2 ? BOB.password : ALICE.password));
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await env?.close();
    });

    it('stores every one intact: connections wait their turn, none is starved or dropped', async () => {
      const datas = clients.map(() => randomBytes(5 * CHUNK_SIZE + 123));
      const results = await Promise.all(
        clients.map((c, i) => uploadFile(c, { size: datas[i].length, mtime: 1_700_000_000_000, read: async (o, l) => datas[i].subarray(o, o + l) }, { path: `budget/${i}.bin` })),
      );
      for (const [i, r] of results.entries()) {
        expect(r.sha256).toBe(createHash('sha256').update(datas[i]).digest('hex'));
        expect(r.stats.reconnects).toBe(0);
        expect((await clients[i].request('verify', { path: r.path })).ok).toBe(true);
      }
      // Meanwhile the relay answered other requests.
      const t = performance.now();
      await clients[0].request('list', { folder: 'budget' });
      expect(performance.now() - t).toBeLessThan(2000);
    });
  });
});
