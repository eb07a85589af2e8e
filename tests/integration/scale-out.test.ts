/**
 * Two relay processes on one PostgreSQL database and one chunk folder: any relay
 * serves any request. Uploads go on at the other relay when one is killed, sessions
 * and link budgets are shared, changes made through one are heard at the other.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, FRAME_HEADER_BYTES, MAX_CHUNK_BYTES } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile, FerryClient, type ChunkEvent, type WebSocketLike } from '../../relay/client/index.js';
import type { LibraryEvent } from '../../relay/protocol/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { Accounts } from '../../relay/auth/accounts.js';
import { PostgresMetaStore } from '../../relay/store/postgres-meta-store.js';
import { FsChunkStore } from '../../relay/store/fs-chunk-store.js';
import { ADMIN, ALICE, BOB, relayLog, signIn, waitFor, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { POSTGRES, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { NGINX, httpsGet, loopbackLookup, startNginx } from '../helpers/proxies.js';
import { RelayCa } from '../../relay/tls/certificates.js';
import WebSocket from 'ws';
import { rawClient } from '../helpers/raw.js';
import { ferry } from '../helpers/cli.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

if (!POSTGRES) console.log('Scale-out tests skipped: PostgreSQL is not installed (apt-get install postgresql-15)');

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

describe.skipIf(!POSTGRES)('two relays on one PostgreSQL database', () => {
  let pg: PostgresServer;
  let url: string;
  let tmp: ReturnType<typeof tempDir>;
  let chunksDir: string;
  const relays: RelayProcess[] = [];
  const start = async (name: string) => {
    const relay = await startRelayProcess({ dataDir: path.join(tmp.dir, name), args: ['--meta', url, '--chunks', chunksDir] });
    relays.push(relay);
    return relay;
  };
  let a: RelayProcess;
  let b: RelayProcess;

  beforeAll(async () => {
    pg = await startPostgres();
    url = await pg.createDatabase();
    tmp = tempDir();
    chunksDir = path.join(tmp.dir, 'shared-chunks');
    mkdirSync(chunksDir);
    const meta = await PostgresMetaStore.open(url);
    const accounts = new Accounts(meta, 86_400_000);
    for (const u of [ADMIN, ALICE, BOB]) await accounts.addUser(u.name, u.role, u.password);
    await meta.close();
    [a, b] = await Promise.all([start('a'), start('b')]);
  }, 60_000);

  afterAll(async () => {
    for (const r of relays) await r.stop();
    await pg?.stop();
    tmp?.remove();
  });

  it('serves through one relay what was uploaded through the other, and tells the other relay\'s clients', async () => {
    const alice = await signIn(a, ALICE.name, ALICE.password);
    const bob = await signIn(b, BOB.name, BOB.password);
    const aliceOnB = await signIn(b, ALICE.name, ALICE.password);
    const heard: LibraryEvent[] = [];
    aliceOnB.onLibraryEvent((e) => heard.push(e));
    const bobHeard: LibraryEvent[] = [];
    bob.onLibraryEvent((e) => bobHeard.push(e));
    try {
      const data = randomData(3 * CHUNK_SIZE + 777);
      const up = await uploadFile(alice, bufferSource(data), { path: 'both/one.bin' });
      await expect.poll(() => heard.map((e) => `${e.kind} ${e.path}`)).toEqual(['file.added both/one.bin']);
      // Another user's private change is not told to bob, on either relay.
      expect(bobHeard).toEqual([]);
      const listed = await aliceOnB.request('list', { folder: 'both' });
      expect(listed.entries.map((e) => e.name)).toEqual(['one.bin']);
      const sink = memorySink();
      await downloadFile(aliceOnB, sink, { path: 'both/one.bin' });
      expect(sha256(sink.bytes())).toBe(sha256(data));
      expect((await aliceOnB.request('verify', { path: 'both/one.bin' })).ok).toBe(true);
      // A client away for a while catches up from the change log, at either relay.
      const since = heard[0].seq - 1;
      const caughtUp = await alice.request('changes', { since, epoch: heard[0].epoch });
      expect(caughtUp.events.map((e) => [e.kind, e.path, e.version])).toEqual([['file.added', 'both/one.bin', up.version]]);
      expect(caughtUp).toMatchObject({ more: false, reset: false, position: heard[0].seq });
      expect((await bob.request('changes', { since })).events).toEqual([]);
    } finally {
      alice.close();
      bob.close();
      aliceOnB.close();
    }
  });

  it('takes a session made at one relay at the other, and a sign-out at one ends it at both', async () => {
    const alice = await signIn(a, ALICE.name, ALICE.password);
    const token = alice.token!;
    const elsewhere = new FerryClient({ url: b.wsUrl, createSocket: nodeSocketFactory, token, reconnect: false });
    try {
      await elsewhere.connect();
      expect((await elsewhere.request('list', { folder: '' })).entries).toBeDefined();
      await alice.request('logout', {});
      // Relay b closes the session's connection when relay a tells it; the token is refused there too.
      await expect.poll(() => elsewhere.state, { timeout: 3_000 }).toBe('closed');
      const again = new FerryClient({ url: b.wsUrl, createSocket: nodeSocketFactory, token, reconnect: false });
      await expect(again.connect()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
      again.close();
    } finally {
      alice.close();
      elsewhere.close();
    }
  });

  it("tells the other relay's connections at once: spaces changed, a sign-out, a disabled user", async () => {
    const admin = await signIn(a, ADMIN.name, ADMIN.password);
    const clients: FerryClient[] = [admin];
    try {
      await admin.request('user.add', { name: 'carol', role: 'user', password: 'carol-password' });
      const carolOnA = await signIn(a, 'carol', 'carol-password');
      clients.push(carolOnA);
      const onB = () => {
        const c = new FerryClient({ url: b.wsUrl, createSocket: nodeSocketFactory, token: carolOnA.token, reconnect: false });
        clients.push(c);
        return c;
      };
      // Added to a folder at relay a: her connection at relay b hears it without asking.
      const first = onB();
      await first.connect();
      let told = 0;
      first.onSpacesChanged(() => told++);
      await admin.request('folder.create', { name: 'told-across', members: [{ user: 'carol', access: 'view' }] });
      await expect.poll(() => told, { timeout: 3_000 }).toBeGreaterThan(0);
      // Signing out at relay a closes the same session's connection at relay b, with no request from it.
      await carolOnA.request('logout', {});
      await expect.poll(() => first.state, { timeout: 3_000 }).toBe('closed');
      // Disabled at relay a: every connection of hers at relay b closes.
      const again = await signIn(b, 'carol', 'carol-password');
      clients.push(again);
      await admin.request('user.update', { name: 'carol', disabled: true });
      await expect.poll(() => again.state, { timeout: 3_000 }).not.toBe('open');
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('throttles a guesser who spreads wrong passwords over both relays at one limit', async () => {
    let id = 1;
    const login = (password: string) => ({ type: 'login', id: id++, user: BOB.name, password });
    const [onA, onB] = await Promise.all([a, b].map((r) => rawClient(r.wsUrl, {}, { localAddress: '127.0.0.7' })));
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? onB : onA).request(login(`wrong-${i}`))));
      const count = (code: string) => answers.filter((x) => x.code === code).length;
      expect(count('LOGIN_FAILED')).toBe(5);
      expect(count('LOGIN_THROTTLED')).toBe(35);
      // The right password from that address waits too, at either relay.
      for (const raw of [onA, onB]) expect(await raw.request(login(BOB.password))).toMatchObject({ code: 'LOGIN_THROTTLED' });
    } finally {
      onA.close();
      onB.close();
    }
    // Bob from elsewhere signs in.
    (await signIn(a, BOB.name, BOB.password)).close();
  });

  it("shows an admin at one relay the live log of both, each line with the relay it came from", async () => {
    const admin = await signIn(b, ADMIN.name, ADMIN.password);
    try {
      const live: Record<string, unknown>[] = [];
      admin.onLogLine((l) => live.push(l));
      const { lines: recent } = await admin.request('log.subscribe', {});
      // What relay a logged before the admin subscribed is there too.
      expect(recent.some((l) => String(l.relay).endsWith(`:${a.port}`))).toBe(true);
      // Sign-ins from addresses nothing else uses, so each line is known for sure (a line
      // logged just before the subscription may still arrive live).
      const signInFrom = async (relay: RelayProcess, from: string, who: { name: string; password: string }) => {
        const raw = await rawClient(relay.wsUrl, {}, { localAddress: from });
        expect(await raw.request({ type: 'login', id: 1, user: who.name, password: who.password })).toMatchObject({ type: 'reply' });
        raw.close();
      };
      const loginFrom = (from: string) => live.filter((l) => l.event === 'login' && l.addr === from);
      await signInFrom(a, '127.0.0.21', ALICE);
      const fromA = await waitFor(() => loginFrom('127.0.0.21')[0]);
      expect(String(fromA.relay)).toMatch(new RegExp(`:${a.port}$`));
      // b's own lines come live as well, tagged as b's, and none of them twice.
      await signInFrom(b, '127.0.0.22', BOB);
      const fromB = await waitFor(() => loginFrom('127.0.0.22')[0]);
      expect(String(fromB.relay)).toMatch(new RegExp(`:${b.port}$`));
      await new Promise((r) => setTimeout(r, 500));
      expect(loginFrom('127.0.0.21')).toHaveLength(1);
      expect(loginFrom('127.0.0.22')).toHaveLength(1);
    } finally {
      admin.close();
    }
  });

  it('counts a share link download budget once over both relays', async () => {
    const alice = await signIn(a, ALICE.name, ALICE.password);
    try {
      const data = randomData(100_000);
      await uploadFile(alice, bufferSource(data), { path: 'both/linked.bin' });
      const link = await alice.request('link.create', { path: 'both/linked.bin', maxDownloads: 3 });
      const statuses: number[] = [];
      // Eight downloads at once, alternating between the relays: three get the file.
      await Promise.all(
        Array.from({ length: 8 }, async (_, i) => {
          const res = await fetch(`${(i % 2 ? b : a).httpUrl}${link.url}/file`);
          const body = Buffer.from(await res.arrayBuffer());
          statuses.push(res.status);
          if (res.status === 200) expect(sha256(body)).toBe(sha256(data));
        }),
      );
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s !== 200).every((s) => s === 410)).toBe(true);
      expect((await alice.request('link.list', {})).links.find((l) => l.id === link.id)?.downloads).toBe(3);
    } finally {
      alice.close();
    }
  });

  it('keeps every version when clients on both relays commit to one path at once', async () => {
    const onA = await signIn(a, ALICE.name, ALICE.password);
    const onB = await signIn(b, ALICE.name, ALICE.password);
    try {
      const datas = Array.from({ length: 12 }, (_, i) => randomData(1000 + i));
      const results = await Promise.all(datas.map((d, i) => uploadFile(i % 2 ? onB : onA, bufferSource(d), { path: 'both/race.txt' })));
      expect(results.map((r) => r.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      const history = await onB.request('history', { path: 'both/race.txt' });
      expect(history.versions).toHaveLength(12);
      // Each version holds the bytes of the upload that was told its number.
      for (const [i, r] of results.entries()) {
        const sink = memorySink();
        await downloadFile(onA, sink, { path: 'both/race.txt', version: r.version });
        expect(sha256(sink.bytes())).toBe(sha256(datas[i]));
      }
    } finally {
      onA.close();
      onB.close();
    }
  });

  it('collects garbage at one relay while the other uploads the very chunks it is considering: nothing lost, one collector at a time', async () => {
    // Chunks stored long ago that nothing references any more: half of them come back in
    // uploads while the collector at relay a runs again and again.
    const store = new FsChunkStore(chunksDir);
    const old = new Date(Date.now() - 2 * 3_600_000);
    const orphans = async (n: number) => {
      const datas = Array.from({ length: n }, () => randomData(4096));
      for (const d of datas) {
        await store.put(sha256(d), d);
        const h = sha256(d);
        utimesSync(path.join(chunksDir, h.slice(0, 2), h.slice(2, 4), h), old, old);
      }
      return datas;
    };
    const wanted = await orphans(150);
    const junk = await orphans(150);
    const admin = await signIn(a, ADMIN.name, ADMIN.password);
    const alice = await signIn(b, ALICE.name, ALICE.password);
    try {
      let uploading = true;
      let sweeps = 0;
      let collected = 0;
      const collector = (async () => {
        while (uploading) {
          collected += (await admin.request('sweep', {})).collectedChunks;
          sweeps++;
        }
      })();
      const lanes = 4;
      await Promise.all(
        Array.from({ length: lanes }, async (_, lane) => {
          for (let i = lane; i < wanted.length; i += lanes) await uploadFile(alice, bufferSource(wanted[i]), { path: `gc/${i}.bin` });
        }),
      );
      uploading = false;
      await collector;
      expect(sweeps).toBeGreaterThan(1);
      // Relay b's own first sweep (10 s after it started) may hold the one collector's lease
      // during the race, and miss junk written while it listed: a collector runs again.
      for (let i = 0; i < 100; i++) {
        const r = await admin.request('sweep', {});
        collected += r.collectedChunks;
        if (!r.collectorBusy) break;
        await new Promise((done) => setTimeout(done, 200));
      }
      // Chunks relay b's collector took count too (from its log).
      collected += relayLog(b.dataDir).filter((l) => l.event === 'sweep').reduce((n, l) => n + Number(l.collectedChunks ?? 0), 0);
      // Every uploaded file reads back whole, through the collecting relay too.
      for (const [i, d] of wanted.entries()) {
        const sink = memorySink();
        await downloadFile(alice, sink, { path: `gc/${i}.bin` });
        expect(sha256(sink.bytes()), `gc/${i}.bin`).toBe(sha256(d));
        expect(existsSync(path.join(chunksDir, sha256(d).slice(0, 2), sha256(d).slice(2, 4), sha256(d)))).toBe(true);
      }
      // The junk is gone, and no wanted chunk was counted as collected and kept.
      for (const d of junk) expect(await store.has(sha256(d))).toBe(false);
      expect(collected).toBeGreaterThanOrEqual(junk.length);
      const lost = [...relayLog(b.dataDir)].filter((l) => l.event === 'upload.chunks-lost').length;
      console.log(`GC race: ${sweeps} sweeps, ${collected} chunks collected, ${lost} uploads sent a chunk again after losing the race`);

      // An acknowledged chunk that is gone by the commit (the collector won the race, or
      // a disk lost it) is asked for again: the upload still ends byte-identical.
      const data = randomData(6 * CHUNK_SIZE);
      const source = bufferSource(data);
      let removedOne = false;
      const result = await uploadFile(alice, { ...source, read: async (o: number, l: number) => {
        if (!removedOne && o >= 5 * CHUNK_SIZE) {
          removedOne = true;
          const h = sha256(data.subarray(0, CHUNK_SIZE));
          await waitFor(() => existsSync(path.join(chunksDir, h.slice(0, 2), h.slice(2, 4), h)) || undefined);
          rmSync(path.join(chunksDir, h.slice(0, 2), h.slice(2, 4), h));
        }
        return source.read(o, l);
      } }, { path: 'gc/lost-chunk.bin', window: 1 });
      expect(removedOne).toBe(true);
      const sink = memorySink();
      await downloadFile(alice, sink, { path: 'gc/lost-chunk.bin', version: result.version });
      expect(sha256(sink.bytes())).toBe(sha256(data));
      expect(relayLog(b.dataDir).filter((l) => l.event === 'upload.chunks-lost')).toHaveLength(lost + 1);

      // Both relays sweeping at once: one collector runs at a time; no chunk is counted twice.
      // (A collector of the relays' own may run meanwhile — relay b's first sweep, 10 s after
      // it started — and take some without answering here: so "at most", and sweeping again
      // until all are gone.)
      const more = await orphans(100);
      const bAdmin = await signIn(b, ADMIN.name, ADMIN.password);
      try {
        let counted = 0;
        for (let round = 0; round < 50; round++) {
          const results = await Promise.all([admin.request('sweep', {}), bAdmin.request('sweep', {})]);
          counted += results.reduce((n, r) => n + r.collectedChunks, 0);
          let left = 0;
          for (const d of more) if (await store.has(sha256(d))) left++;
          if (left === 0) break;
          await new Promise((done) => setTimeout(done, 200));
        }
        expect(counted).toBeGreaterThan(0);
        expect(counted).toBeLessThanOrEqual(more.length);
        for (const d of more) expect(await store.has(sha256(d))).toBe(false);
      } finally {
        bAdmin.close();
      }
    } finally {
      admin.close();
      alice.close();
    }
  }, 120_000);

  it('goes on at the other relay when the one an upload uses is killed: bytes identical, acknowledged chunks not sent again', async () => {
    const victim = await start('victim');
    const client = new ObservedClient({ url: victim.wsUrl, alternates: [b.wsUrl], createSocket: nodeSocketFactory });
    try {
      await client.connect();
      await client.login(ALICE.name, ALICE.password);
      const data = randomData(40 * CHUNK_SIZE + 4321);
      const source = bufferSource(data);
      // Slowed down so the kill lands in the middle.
      const slow = { ...source, read: async (o: number, l: number) => (await new Promise((r) => setTimeout(r, 15)), source.read(o, l)) };
      let ackedAtKill: Set<number> | undefined;
      let readsAtKill = 0;
      let killed: Promise<void> | undefined;
      const result = await uploadFile(client, slow, {
        path: 'both/failover.bin',
        window: 4,
        onProgress: (p) => {
          if (!ackedAtKill && p.phase === 'uploading' && p.done >= 12 * CHUNK_SIZE) {
            ackedAtKill = new Set(client.acked);
            readsAtKill = source.reads.length;
            killed = victim.kill();
          }
        },
      });
      await killed;
      expect(client.address).toBe(b.wsUrl);
      expect(result.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(result.sha256).toBe(sha256(data));
      const resent = new Set(source.reads.slice(readsAtKill).map((o) => o / CHUNK_SIZE));
      for (const i of ackedAtKill!) expect(resent.has(i)).toBe(false);
      expect(result.stats.sentChunks).toBeLessThanOrEqual(41 + 4);
      const sink = memorySink();
      await downloadFile(client, sink, { path: 'both/failover.bin' });
      expect(Buffer.compare(sink.bytes(), data)).toBe(0);
    } finally {
      client.close();
    }
  }, 60_000);

  it('the CLI given several relays (ferry login --also) goes on at the next one when the first is down', async () => {
    const args = ['--meta', url, '--chunks', chunksDir];
    const first = await startRelayProcess({ dataDir: path.join(tmp.dir, 'also1'), args });
    const second = await startRelayProcess({ dataDir: path.join(tmp.dir, 'also2'), args });
    relays.push(first, second);
    const env = { FERRY_CONFIG: path.join(tmp.dir, 'also-cli.json'), FERRY_PASSWORD: ALICE.password };
    const login = await ferry(['login', first.httpUrl, '--user', ALICE.name, '--also', second.httpUrl], { env });
    expect(login.code, login.stderr).toBe(0);
    const file = path.join(tmp.dir, 'also.bin');
    const data = randomData(2 * CHUNK_SIZE + 5);
    writeFileSync(file, data);
    expect((await ferry(['put', file, '--to', 'also'], { env })).code).toBe(0);
    await first.kill();
    // The first address refuses connections now: every command goes on at the second.
    const ls = await ferry(['ls', 'also'], { env });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('also.bin');
    const out = path.join(tmp.dir, 'also-back.bin');
    const get = await ferry(['get', 'also/also.bin', '-o', out], { env });
    expect(get.code, get.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(data));
    expect(relayLog(second.dataDir).filter((l) => l.event === 'login' || l.event === 'connect').length).toBeGreaterThan(0);
    const bad = await ferry(['login', second.httpUrl, '--user', ALICE.name, '--also', 'not a url'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--also takes the URL/);
  }, 60_000);

  it.skipIf(!NGINX)('behind nginx without sticky sessions: a 1 GiB upload, its download and a share link with Range go on through the other relay after kill -9', async () => {
    const NAME = 'ferry.lan';
    const args = ['--meta', url, '--chunks', chunksDir, '--tls', 'off', '--hosts', NAME, '--trust-proxy', 'on'];
    const one = await startRelayProcess({ dataDir: path.join(tmp.dir, 'lb1'), args });
    const two = await startRelayProcess({ dataDir: path.join(tmp.dir, 'lb2'), args });
    relays.push(one, two);
    const ca = await RelayCa.open(path.join(tmp.dir, 'lb-ca'), 'test');
    const issued = await ca.issue([NAME], Date.now());
    writeFileSync(path.join(tmp.dir, 'lb.crt'), issued.cert);
    writeFileSync(path.join(tmp.dir, 'lb.key'), issued.key);
    const proxy = await startNginx({ dir: tmp.dir, upstreamPort: one.port, upstreamPorts: [one.port, two.port], serverName: NAME, cert: path.join(tmp.dir, 'lb.crt'), key: path.join(tmp.dir, 'lb.key') });
    const base = `https://${NAME}:${proxy.port}`;
    const client = new ObservedClient({
      url: `wss://${NAME}:${proxy.port}/ws`,
      reconnectTimeoutMs: 60_000,
      createSocket: (u, protocol) =>
        new WebSocket(u, protocol, { ca: ca.certPem, lookup: loopbackLookup, maxPayload: MAX_CHUNK_BYTES + FRAME_HEADER_BYTES, perMessageDeflate: false }) as unknown as WebSocketLike,
    });
    /** Which relay the client's connection is on now (the last to log a connection: nothing else connects meanwhile). */
    const serving = () => {
      const at = (r: RelayProcess) => relayLog(r.dataDir).filter((l) => l.event === 'connect').map((l) => Date.parse(String(l.time))).pop() ?? 0;
      return at(one) >= at(two) ? one : two;
    };
    const get = (pathname: string, headers: Record<string, string> = {}) => httpsGet(`${base}${pathname}`, ca.certPem, headers);
    try {
      await client.connect();
      await client.login(ALICE.name, ALICE.password);
      const CHUNKS = 256; // 1 GiB and a bit
      const data = randomData(CHUNKS * CHUNK_SIZE + 999);
      const source = bufferSource(data);
      const slow = { ...source, read: async (o: number, l: number) => (await new Promise((r) => setTimeout(r, 10)), source.read(o, l)) };
      let killed: Promise<void> | undefined;
      let victim: RelayProcess | undefined;
      let ackedAtKill: Set<number> | undefined;
      let readsAtKill = 0;
      const result = await uploadFile(client, slow, {
        path: 'lb/big.bin',
        window: 4,
        onProgress: (p) => {
          if (!killed && p.phase === 'uploading' && p.done >= 80 * CHUNK_SIZE) {
            ackedAtKill = new Set(client.acked);
            readsAtKill = source.reads.length;
            victim = serving();
            killed = victim.kill();
          }
        },
      });
      await killed;
      expect(result.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(result.sha256).toBe(sha256(data));
      // At most the chunks in flight were sent again.
      const resent = new Set(source.reads.slice(readsAtKill).map((o) => o / CHUNK_SIZE));
      for (const i of ackedAtKill!) expect(resent.has(i)).toBe(false);
      expect(result.stats.sentChunks).toBeLessThanOrEqual(CHUNKS + 1 + 4);
      const survivor = victim === one ? two : one;
      expect(serving()).toBe(survivor);

      // The killed relay comes back on its port; a download is cut by killing the relay serving it.
      const back = await startRelayProcess({ dataDir: victim!.dataDir, port: victim!.port, args });
      relays.push(back);
      const sink = memorySink();
      let cut: Promise<void> | undefined;
      let cutVictim: RelayProcess | undefined;
      await downloadFile(client, { ...sink, write: async (offset: number, bytes: Uint8Array) => {
        if (!cut && offset >= 100 * CHUNK_SIZE) {
          cutVictim = serving() === survivor ? survivor : back;
          cut = cutVictim.kill();
          await cut;
        }
        return sink.write(offset, bytes);
      } }, { path: 'lb/big.bin' });
      expect(cut).toBeDefined();
      expect(Buffer.compare(sink.bytes(), data)).toBe(0);

      // A share link: the first half from one relay, the rest (Range) after that relay is gone.
      const live = cutVictim === survivor ? back : survivor;
      const link = await client.request('link.create', { path: 'lb/big.bin' });
      const half = (CHUNKS / 2) * CHUNK_SIZE;
      // nginx may answer 502 for a moment while it sets aside the relay killed just now
      // (max_fails=1): a downloader tries again, and so does this one.
      expect(live.child.exitCode).toBeNull();
      const first = await waitFor(async () => {
        const r = await get(`${link.url}/file`, { Range: `bytes=0-${half - 1}` });
        return r.status === 502 ? undefined : r;
      }, 20_000);
      expect(first.status).toBe(206);
      expect(live.child.exitCode).toBeNull();
      const third = await startRelayProcess({ dataDir: cutVictim!.dataDir, port: cutVictim!.port, args });
      relays.push(third);
      await live.kill();
      // As a downloader resuming with Range does: try again while nginx finds the relay that is up
      // (it sets aside a relay that failed for a few seconds).
      const rest = await waitFor(async () => {
        const r = await get(`${link.url}/file`, { Range: `bytes=${half}-` });
        return r.status === 502 ? undefined : r;
      }, 20_000);
      expect(rest.status).toBe(206);
      expect(first.body.length + rest.body.length).toBe(data.length);
      expect(Buffer.compare(first.body, data.subarray(0, half))).toBe(0);
      expect(Buffer.compare(rest.body, data.subarray(half))).toBe(0);
    } finally {
      client.close();
      await proxy.stop();
    }
  }, 400_000);
});
