/**
 * The chunk store contract on real S3 engines, started by the test from Debian's
 * packages: Ceph RGW (four OSDs, 3 replicas) and Swift with s3api (four object servers,
 * 3 replicas). Then the DFS plan on each, through two relays sharing one PostgreSQL
 * database: with one storage node down every file downloads byte-identical and uploads
 * go on; with two down every file still downloads; with both back everything verifies.
 * And `ferry migrate` from SQLite + files to PostgreSQL + S3 and back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ChunkStore } from '../../relay/store/s3-chunk-store.js';
import { CEPH, startCeph, type CephCluster } from '../helpers/ceph.js';
import { SWIFT, startSwift, type SwiftCluster } from '../helpers/swift.js';
import path from 'node:path';
import { ADMIN, ALICE, BOB, addUsers, signIn, standardRelay, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { POSTGRES, startPostgres } from '../helpers/postgres.js';
import { ferry } from '../helpers/cli.js';
import { PostgresMetaStore } from '../../relay/store/postgres-meta-store.js';
import { Accounts } from '../../relay/auth/accounts.js';
import type { FerryClient } from '../../relay/client/index.js';
import { bufferSource, memorySink, randomData } from '../helpers/files.js';
import { downloadFile, uploadFile } from '../../relay/client/index.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { chunkStoreContract } from './chunk-store.contract.js';

if (!CEPH) console.log('Ceph chunk store tests skipped: Ceph is not installed (apt-get install ceph ceph-mon ceph-osd ceph-mgr radosgw)');
if (!POSTGRES) console.log('DFS plan and migrate tests on S3 skipped: PostgreSQL is not installed (apt-get install postgresql-15)');
if (!SWIFT) console.log('Swift chunk store tests skipped: Swift is not installed (apt-get install swift swift-proxy swift-account swift-container swift-object memcached)');

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let next = 0;

interface Engine {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const storeOn = (engine: Engine, prefix = `t${process.pid}-${next++}/`, bucket = 'ferry-chunks') =>
  new S3ChunkStore({ bucket, prefix, endpoint: engine.endpoint, credentials: { accessKeyId: engine.accessKeyId, secretAccessKey: engine.secretAccessKey }, requestTimeoutMs: 20_000 });

/** What every engine must do beyond the contract. */
function engineBehaviour(engine: () => Engine) {
  it('makes its bucket when it is missing, also with two stores at once', async () => {
    const bucket = `ferry-new-${process.pid}-${next++}`;
    const [a, b] = [storeOn(engine(), '', bucket), storeOn(engine(), '', bucket)];
    try {
      await Promise.all([a.open(), b.open()]);
      const data = randomBytes(1000);
      await a.put(sha(data), data);
      expect(Buffer.compare(Buffer.from(await b.get(sha(data))), data)).toBe(0);
    } finally {
      a.close();
      b.close();
    }
  });

  it('reads a chunk piece by piece over one stream, and a piece out of order', async () => {
    const s = storeOn(engine());
    try {
      const data = randomBytes(4 * 1024 * 1024 + 17);
      await s.put(sha(data), data);
      const r = await s.openChunk(sha(data));
      const into = Buffer.alloc(256 * 1024);
      const parts: Buffer[] = [];
      for (let at = 0; at < data.length; at += into.length) parts.push(Buffer.from(await r.read(at, into.length, into)));
      expect(Buffer.compare(Buffer.concat(parts), data)).toBe(0);
      expect(Buffer.compare(Buffer.from(await r.read(1000, 10)), data.subarray(1000, 1010))).toBe(0);
      expect((await r.read(data.length, 10)).byteLength).toBe(0);
      await r.close();
    } finally {
      s.close();
    }
  });

  it('refuses bytes that are not what their hash says: the engine checks the signed payload hash', async () => {
    const s = storeOn(engine());
    try {
      const meant = randomBytes(100_000);
      const sent = Buffer.from(meant);
      sent[5000] ^= 1;
      // Content-MD5 is computed from the bytes sent, so only the signed SHA-256 can catch this.
      await expect(s.put(sha(meant), sent)).rejects.toMatchObject({ code: 'S3_FAILED' });
      expect(await s.has(sha(meant))).toBe(false);
    } finally {
      s.close();
    }
  });

  it('a wrong key is a storage failure, not a missing chunk', async () => {
    const s = new S3ChunkStore({ bucket: 'ferry-chunks', endpoint: engine().endpoint, credentials: { accessKeyId: engine().accessKeyId, secretAccessKey: 'wrong' } });
    try {
      await expect(s.has(sha(randomBytes(4)))).rejects.toMatchObject({ code: 'S3_FAILED' });
    } finally {
      s.close();
    }
  });
}

interface Nodes {
  /** Stops storage node `i` as a crash would. */
  down(i: number): Promise<void>;
  up(i: number): Promise<void>;
  /** Before the second node goes down (Ceph: let pools serve from one copy). */
  beforeSecond?(): void;
  /** Once both are back. */
  afterBack?(): void;
}

/**
 * The DFS plan, through two relays on one PostgreSQL database and one bucket: files
 * uploaded through both; one storage node down → every file downloads byte-identical
 * through either relay and uploads go on; a second down → every file still downloads;
 * both back → every file verifies (each chunk read and hashed again) and uploads go on.
 */
async function dfsPlan(engine: Engine, nodes: Nodes, dir: string): Promise<void> {
  const pg = await startPostgres();
  const relays: RelayProcess[] = [];
  const clients: FerryClient[] = [];
  try {
    const url = await pg.createDatabase();
    const meta = await PostgresMetaStore.open(url);
    await new Accounts(meta, 86_400_000).addUser(ALICE.name, ALICE.role, ALICE.password);
    await meta.close();
    const bucket = `ferry-dfs-${process.pid}-${next++}`;
    const args = ['--meta', url, '--chunks', `s3://${bucket}`, '--s3-endpoint', engine.endpoint];
    const env = { AWS_ACCESS_KEY_ID: engine.accessKeyId, AWS_SECRET_ACCESS_KEY: engine.secretAccessKey };
    for (const name of ['a', 'b']) relays.push(await startRelayProcess({ dataDir: path.join(dir, `dfs-${bucket}-${name}`), args, env }));
    const on = await Promise.all(relays.map((r) => signIn(r, ALICE.name, ALICE.password, { reconnectTimeoutMs: 60_000 })));
    clients.push(...on);
    const files = new Map<string, Buffer>();
    const upload = async (count: number, tag: string) => {
      for (let i = 0; i < count; i++) {
        const data = randomData(i % 3 === 0 ? 2 * CHUNK_SIZE + 1000 * i : 300_000 + i);
        const name = `dfs/${tag}-${i}.bin`;
        const up = await uploadFile(on[i % 2], bufferSource(data), { path: name });
        expect(up.sha256).toBe(sha(data));
        files.set(name, data);
      }
    };
    const everyFileDownloads = async () => {
      for (const [name, data] of files) {
        for (const client of on) {
          const sink = memorySink();
          await downloadFile(client, sink, { path: name });
          expect(sha(sink.bytes()), `${name} through relay ${on.indexOf(client)}`).toBe(sha(data));
        }
      }
    };
    await upload(6, 'before');
    await nodes.down(0);
    await everyFileDownloads();
    await upload(4, 'one-down');
    nodes.beforeSecond?.();
    await nodes.down(1);
    await everyFileDownloads();
    await nodes.up(0);
    await nodes.up(1);
    nodes.afterBack?.();
    await upload(2, 'back');
    for (const [i, name] of [...files.keys()].entries()) expect(await on[i % 2].request('verify', { path: name }), name).toMatchObject({ ok: true });
    await everyFileDownloads();
  } finally {
    for (const c of clients) c.close();
    for (const r of relays) await r.stop();
    await pg.stop();
  }
}

/**
 * `ferry migrate` from SQLite + files to PostgreSQL + a bucket, a relay serving the copy,
 * then back to SQLite + files.
 */
async function migrateThroughS3(engine: Engine, dir: string): Promise<void> {
  const pg = await startPostgres();
  const relays: RelayProcess[] = [];
  try {
    const src = path.join(dir, 'migrate-src');
    await addUsers(src, [ADMIN, ALICE, BOB]);
    const files = new Map([
      ['docs/big.bin', randomData(3 * CHUNK_SIZE + 17)],
      ['docs/small.txt', randomData(1234)],
    ]);
    const first = await startRelayProcess({ dataDir: src });
    const alice = await signIn(first, ALICE.name, ALICE.password);
    for (const [name, data] of files) await uploadFile(alice, bufferSource(data), { path: name });
    alice.close();
    await first.stop();

    const url = await pg.createDatabase();
    const bucket = `ferry-migrated-${process.pid}-${next++}`;
    const env = { AWS_ACCESS_KEY_ID: engine.accessKeyId, AWS_SECRET_ACCESS_KEY: engine.secretAccessKey };
    const to = await ferry(['migrate', '--data', src, '--to-meta', url, '--to-chunks', `s3://${bucket}/c`, '--to-s3-endpoint', engine.endpoint], { env });
    expect(to.code, to.stderr).toBe(0);
    expect(to.stdout).toMatch(/chunks: 5 verified, 5 copied, 0 already there/);
    const back = path.join(dir, 'migrate-back');
    const fromS3 = ['--meta', url, '--chunks', `s3://${bucket}/c`, '--s3-endpoint', engine.endpoint];
    for (const [name, args] of [['pg', fromS3], ['back', []]] as const) {
      if (name === 'back') {
        const r = await ferry(['migrate', ...fromS3, '--data', path.join(dir, 'unused'), '--to-data', back], { env });
        expect(r.code, r.stderr).toBe(0);
      }
      const relay = await startRelayProcess({ dataDir: name === 'back' ? back : path.join(dir, 'migrate-pg'), args: [...args], env });
      relays.push(relay);
      const client = await signIn(relay, ALICE.name, ALICE.password);
      try {
        for (const [file, data] of files) {
          const sink = memorySink();
          await downloadFile(client, sink, { path: file });
          expect(sha(sink.bytes())).toBe(sha(data));
        }
      } finally {
        client.close();
        await relay.stop();
      }
    }
  } finally {
    for (const r of relays) await r.stop();
    await pg.stop();
  }
}

describe.runIf(CEPH)('Ceph RGW', () => {
  const tmp = tempDir('ferry-ceph-');
  let ceph: CephCluster;
  beforeAll(async () => {
    ceph = await startCeph(tmp.dir);
  }, 240_000);
  afterAll(async () => {
    await ceph?.stop();
    tmp.remove();
  });

  chunkStoreContract('S3ChunkStore on Ceph RGW', async () => {
    const store = storeOn(ceph);
    return { store, dispose: () => store.close() };
  });
  engineBehaviour(() => ceph);

  it('a relay with --chunks s3://: upload, download, a share link with Range, and the collector deleting objects', async () => {
    const bucket = `ferry-relay-${next++}`;
    const env = await standardRelay(['--chunks', `s3://${bucket}/chunks`, '--s3-endpoint', ceph.endpoint, '--gc-grace-seconds', '0'], { AWS_ACCESS_KEY_ID: ceph.accessKeyId, AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey });
    const alice = await signIn(env.relay, ADMIN.name, ADMIN.password);
    const objects = async () => {
      const s = storeOn(ceph, 'chunks/', bucket);
      const all: string[] = [];
      for await (const c of s.list()) all.push(c.hash);
      s.close();
      return all;
    };
    try {
      const data = randomData(3 * CHUNK_SIZE + 12345);
      const up = await uploadFile(alice, bufferSource(data), { path: 'on-ceph.bin' });
      expect(up.sha256).toBe(sha(data));
      expect((await objects()).length).toBe(4);
      const sink = memorySink();
      await downloadFile(alice, sink, { path: 'on-ceph.bin' });
      expect(sha(sink.bytes())).toBe(sha(data));
      const link = await alice.request('link.create', { path: 'on-ceph.bin' });
      const at = new URL(link.url, env.relay.httpUrl);
      const part = await fetch(`${env.relay.httpUrl}${at.pathname}/file`, { headers: { Range: `bytes=${CHUNK_SIZE - 10}-${CHUNK_SIZE + 9}` } });
      expect(part.status).toBe(206);
      expect(Buffer.compare(Buffer.from(await part.arrayBuffer()), data.subarray(CHUNK_SIZE - 10, CHUNK_SIZE + 10))).toBe(0);
      const whole = await fetch(`${env.relay.httpUrl}${at.pathname}/file`);
      expect(sha(new Uint8Array(await whole.arrayBuffer()))).toBe(sha(data));
      // Deleted for good, the file's objects go with the next collection.
      await alice.request('delete', { path: 'on-ceph.bin' });
      await expect.poll(objects, { timeout: 20_000 }).toEqual([]);
    } finally {
      alice.close();
      await env.close();
    }
  }, 120_000);

  it('a relay whose bucket cannot be reached says so at start', async () => {
    await expect(standardRelay(['--chunks', 's3://ferry-unreachable', '--s3-endpoint', 'http://127.0.0.1:9'], { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' })).rejects.toThrow(/ferry-unreachable cannot be reached/);
  }, 60_000);

  it.runIf(POSTGRES)('the DFS plan through two relays: one OSD of four down, then two (pools at min_size 1, see docs/scaling.md), then both back', async () => {
    await dfsPlan(ceph, {
      down: (i) => ceph.killOsd(i),
      up: (i) => ceph.startOsd(i),
      // With two of four down, objects left with a single live copy are served only when
      // a pool may run on one copy; otherwise Ceph makes them wait.
      beforeSecond: () => ceph.setMinSize(1),
      afterBack: () => ceph.setMinSize(2),
    }, tmp.dir);
  }, 400_000);
});

describe.runIf(SWIFT)('Swift with s3api', () => {
  const tmp = tempDir('ferry-swift-');
  let swift: SwiftCluster;
  beforeAll(async () => {
    swift = await startSwift(tmp.dir);
  }, 240_000);
  afterAll(async () => {
    await swift?.stop();
    tmp.remove();
  });

  chunkStoreContract('S3ChunkStore on Swift', async () => {
    const store = storeOn(swift);
    return { store, dispose: () => store.close() };
  });
  engineBehaviour(() => swift);

  it.runIf(POSTGRES)('the DFS plan through two relays: one object server of four down, then two, then both back', async () => {
    await dfsPlan(swift, { down: (i) => swift.killNode(i), up: (i) => swift.startNode(i) }, tmp.dir);
  }, 300_000);

  it.runIf(POSTGRES)('ferry migrate: SQLite + files to PostgreSQL + S3, served from there, and back', async () => {
    await migrateThroughS3(swift, tmp.dir);
  }, 120_000);
});
