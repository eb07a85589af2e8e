/**
 * kill -9 of the relay at random moments of uploads and commits, round after round;
 * afterwards every listed version downloads byte-identical and verifies, and every
 * client was told the SHA-256 of its own bytes.
 */
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ALICE, addUsers, signIn, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

const ROUNDS = Number(process.env.FERRY_CRASH_ROUNDS ?? 20);
const MiB = 1024 * 1024;

describe('relay killed at random points of uploads and commits', () => {
  const tmp = tempDir();
  let relay: RelayProcess | undefined;
  const clients: FerryClient[] = [];
  afterAll(async () => {
    for (const c of clients) c.close();
    await relay?.stop();
    tmp.remove();
  });

  it(`loses nothing over ${ROUNDS} rounds`, async () => {
    const dataDir = path.join(tmp.dir, 'data');
    await addUsers(dataDir, [ALICE]);
    relay = await startRelayProcess({ dataDir });
    const port = relay.port;
    for (let i = 0; i < 3; i++) clients.push(await signIn(relay, ALICE.name, ALICE.password, { reconnectTimeoutMs: 60_000 }));
    /** What was uploaded to each path: a version must be one of these. */
    const uploaded = new Map<string, Set<string>>();
    let kills = 0;
    let reconnects = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const files = clients.map((_, i) => {
        // Two of the three share a path, so commits race for its versions too.
        const file = `crash/r${round}-${i === 2 ? 0 : i}.bin`;
        const data = randomData(Math.floor((0.2 + Math.random() * 10) * MiB));
        if (!uploaded.has(file)) uploaded.set(file, new Set());
        uploaded.get(file)!.add(sha256(data));
        return { file, data };
      });
      // Small chunks read a little slowly: each upload is a few hundred chunk acks and
      // commits long, so the kill lands anywhere in them. The kill waits for a random share
      // of all the bytes to be acknowledged (not a random time: how long an upload takes
      // depends on the machine, and kills after the last commit test nothing).
      const total = files.reduce((n, f) => n + f.data.length, 0);
      const acked = files.map(() => 0);
      const killAt = (0.02 + Math.random() * 0.96) * total;
      let reached!: () => void;
      const atKillPoint = new Promise<void>((r) => (reached = r));
      const uploads = Promise.all(
        files.map((f, i) => {
          const source = bufferSource(f.data);
          const slow = { ...source, read: async (o: number, l: number) => (await new Promise((r) => setTimeout(r, 2)), source.read(o, l)) };
          return uploadFile(clients[i], slow, {
            path: f.file,
            window: 4,
            chunkSize: 128 * 1024,
            onProgress: (p) => {
              acked[i] = Math.max(acked[i], p.done);
              if (acked.reduce((a, b) => a + b, 0) >= killAt) reached();
            },
          });
        }),
      );
      const crash = (async () => {
        // Past the kill point, or all done (then the kill lands after the commits).
        await Promise.race([atKillPoint, uploads.catch(() => {})]);
        await relay!.kill();
        kills++;
        relay = await startRelayProcess({ dataDir, port });
      })();
      const results = await uploads;
      await crash;
      results.forEach((r, i) => expect(r.sha256, `round ${round} client ${i}`).toBe(sha256(files[i].data)));
      reconnects += results.reduce((n, r) => n + r.stats.reconnects, 0);
    }
    expect(kills).toBe(ROUNDS);
    // Most kills landed while uploads were running.
    expect(reconnects).toBeGreaterThanOrEqual(ROUNDS);

    const checker = clients[0];
    // The last kill may have come after the uploads ended: wait for the reconnect.
    await checker.ready();
    let versions = 0;
    for (const [file, contents] of uploaded) {
      const history = await checker.request('history', { path: file });
      // Every upload is there. (A commit whose answer a kill cut off is committed again; that
      // adds no version unless the other upload to the path became current in between.)
      expect(new Set(history.versions.map((v) => v.sha256))).toEqual(contents);
      for (const v of history.versions) {
        expect(await checker.request('verify', { path: file, version: v.version }), `${file} v${v.version}`).toMatchObject({ ok: true, sha256Ok: true });
        const sink = memorySink();
        await downloadFile(checker, sink, { path: file, version: v.version });
        expect(sha256(sink.bytes())).toBe(v.sha256);
        versions++;
      }
    }
    expect(versions).toBeGreaterThanOrEqual(3 * ROUNDS);
  }, 600_000);
});
