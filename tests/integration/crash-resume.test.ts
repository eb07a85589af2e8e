import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile, FerryClient, ReadOnceSource, type ChunkEvent } from '../../relay/client/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { ALICE, addUsers, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

/** A client that also tells the test which chunks were acknowledged. */
class ObservedClient extends FerryClient {
  acked = new Set<number>();
  override onChunkEvents(handle: number, listener: (ev: ChunkEvent) => void) {
    return super.onChunkEvents(handle, (ev) => {
      if (ev.type === 'chunk.ack') this.acked.add(ev.index);
      listener(ev);
    });
  }
}

describe('relay crash mid-upload', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('resumes after kill -9 and restart: bytes identical, acknowledged chunks not sent again', async () => {
    const tmp = tempDir();
    cleanup.push(tmp.remove);
    const dataDir = path.join(tmp.dir, 'data');
    await addUsers(dataDir, [ALICE]);
    let relay: RelayProcess = await startRelayProcess({ dataDir });
    cleanup.push(() => relay.stop());
    const port = relay.port;

    const data = randomData(40 * CHUNK_SIZE + 12345);
    const source = bufferSource(data);
    const client = new ObservedClient({ url: relay.wsUrl, createSocket: nodeSocketFactory });
    cleanup.push(() => client.close());
    await client.connect();
    await client.login(ALICE.name, ALICE.password);

    // Slow the reads down so the kill lands in the middle of the upload.
    const slowSource = { ...source, read: async (o: number, l: number) => { await new Promise((r) => setTimeout(r, 15)); return source.read(o, l); } };
    let killedAt: Set<number> | undefined;
    let readsBeforeKill = 0;
    let restarted: Promise<void> | undefined;

    const upload = uploadFile(client, slowSource, {
      path: 'crash/big.bin',
      window: 4,
      onProgress: (p) => {
        if (!killedAt && p.phase === 'uploading' && p.done >= 12 * CHUNK_SIZE) {
          killedAt = new Set(client.acked);
          readsBeforeKill = source.reads.length;
          restarted = (async () => {
            await relay.kill();
            relay = await startRelayProcess({ dataDir, port });
          })();
        }
      },
    });
    const result = await upload;
    await restarted;

    expect(killedAt!.size).toBeGreaterThanOrEqual(12);
    expect(result.stats.reconnects).toBeGreaterThanOrEqual(1);
    expect(result.sha256).toBe(sha256(data));
    // Not one chunk acknowledged before the crash was read for sending again.
    const resentOffsets = new Set(source.reads.slice(readsBeforeKill).map((o) => o / CHUNK_SIZE));
    for (const index of killedAt!) expect(resentOffsets.has(index)).toBe(false);
    // Everything sent adds up to at most the file plus the unacknowledged window.
    expect(result.stats.sentChunks).toBeLessThanOrEqual(41 + 4);

    const sink = memorySink();
    await downloadFile(client, sink, { path: 'crash/big.bin' });
    expect(Buffer.compare(sink.bytes(), data)).toBe(0);
  });
});

describe('a relay that stops answering', () => {
  // Both ways a file is read: hashed in full first, or each chunk read once and hashed a
  // bounded distance ahead of sending (the web app's way, where a stalled leg must not
  // leave the chunk lister waiting for hashing that waits for sending).
  it.each(['hashed first', 'read once'])('is noticed by the watchdog; the upload resumes when the relay answers again (%s)', async (reading) => {
    const tmp = tempDir();
    const dataDir = path.join(tmp.dir, 'data');
    await addUsers(dataDir, [ALICE]);
    const relay = await startRelayProcess({ dataDir });
    const states: string[] = [];
    const client = new FerryClient({ url: relay.wsUrl, createSocket: nodeSocketFactory, livenessMs: 1000, onState: (s) => states.push(s) });
    try {
      await client.connect();
      await client.login(ALICE.name, ALICE.password);
      const data = randomData(30 * CHUNK_SIZE);
      const pause = () => new Promise((r) => setTimeout(r, 10));
      const source = bufferSource(data);
      const slow = { ...source, read: async (o: number, l: number) => { await pause(); return source.read(o, l); } };
      const once = new ReadOnceSource(
        data.length,
        Date.now(),
        async (o, frame) => {
          await pause();
          const got = data.subarray(o, o + frame.byteLength);
          frame.set(got);
          return frame.subarray(0, got.length);
        },
        async (d) => ({ sha256: sha256(d), data: d }),
      );
      let frozen = false;
      const upload = uploadFile(client, reading === 'read once' ? once : slow, {
        path: 'frozen.bin',
        feed: reading === 'read once' ? once.feed() : undefined,
        // A small window leaves listed chunks waiting to be sent when the relay stops answering.
        window: 2,
        onProgress: (p) => {
          if (!frozen && p.phase === 'uploading' && p.done >= 5 * CHUNK_SIZE) {
            frozen = true;
            relay.child.kill('SIGSTOP');
            // Thaw once the client has given up on the frozen socket.
            const thaw = setInterval(() => {
              if (states.includes('reconnecting')) {
                clearInterval(thaw);
                relay.child.kill('SIGCONT');
              }
            }, 50);
          }
        },
      });
      const r = await upload;
      expect(states).toContain('reconnecting');
      expect(r.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(r.sha256).toBe(sha256(data));
    } finally {
      client.close();
      relay.child.kill('SIGCONT');
      await relay.stop();
      tmp.remove();
    }
  });
});
