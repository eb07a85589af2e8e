/**
 * The chunk store contract on real S3 engines, started by the test from Debian's
 * packages: Ceph RGW (four OSDs, 3 replicas) and Swift with s3api (four object servers,
 * 3 replicas). Then what the DFS plan asks of storage: with one node down every chunk
 * reads back and new chunks store; with two down every chunk still reads back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ChunkStore } from '../../relay/store/s3-chunk-store.js';
import { CEPH, startCeph, type CephCluster } from '../helpers/ceph.js';
import { SWIFT, startSwift, type SwiftCluster } from '../helpers/swift.js';
import { ADMIN, signIn, standardRelay, tempDir } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData } from '../helpers/files.js';
import { downloadFile, uploadFile } from '../../relay/client/index.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { chunkStoreContract } from './chunk-store.contract.js';

if (!CEPH) console.log('Ceph chunk store tests skipped: Ceph is not installed (apt-get install ceph ceph-mon ceph-osd ceph-mgr radosgw)');
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

  it('a wrong key is a storage failure, not a missing chunk', async () => {
    const s = new S3ChunkStore({ bucket: 'ferry-chunks', endpoint: engine().endpoint, credentials: { accessKeyId: engine().accessKeyId, secretAccessKey: 'wrong' } });
    try {
      await expect(s.has(sha(randomBytes(4)))).rejects.toMatchObject({ code: 'S3_FAILED' });
    } finally {
      s.close();
    }
  });
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

  it('one OSD of four down: every chunk reads back and new ones store; two down (min_size 1): every chunk still reads back', async () => {
    const s = storeOn(ceph);
    const chunks = Array.from({ length: 32 }, (_, i) => randomBytes(256 * 1024 + i));
    try {
      await Promise.all(chunks.map((c) => s.put(sha(c), c)));
      await ceph.killOsd(0);
      for (const c of chunks) expect(Buffer.compare(Buffer.from(await s.get(sha(c))), c)).toBe(0);
      const more = Array.from({ length: 8 }, () => randomBytes(100_000));
      for (const c of more) await s.put(sha(c), c);
      // With two of four down, objects left with a single live copy are served only when
      // a pool may run on one copy (see docs/scaling.md); otherwise Ceph makes them wait.
      ceph.setMinSize(1);
      await ceph.killOsd(1);
      for (const c of [...chunks, ...more]) expect(Buffer.compare(Buffer.from(await s.get(sha(c))), c)).toBe(0);
      await ceph.startOsd(0);
      await ceph.startOsd(1);
      ceph.setMinSize(2);
      for (const c of [...chunks, ...more]) expect(await s.has(sha(c))).toBe(true);
    } finally {
      s.close();
    }
  }, 300_000);
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

  it('one object server of four down, then two: every chunk reads back, and new ones store', async () => {
    const s = storeOn(swift);
    const chunks = Array.from({ length: 32 }, (_, i) => randomBytes(256 * 1024 + i));
    try {
      await Promise.all(chunks.map((c) => s.put(sha(c), c)));
      await swift.killNode(0);
      for (const c of chunks) expect(Buffer.compare(Buffer.from(await s.get(sha(c))), c)).toBe(0);
      const more = Array.from({ length: 8 }, () => randomBytes(100_000));
      for (const c of more) await s.put(sha(c), c);
      await swift.killNode(1);
      for (const c of [...chunks, ...more]) expect(Buffer.compare(Buffer.from(await s.get(sha(c))), c)).toBe(0);
      await swift.startNode(0);
      await swift.startNode(1);
      for (const c of [...chunks, ...more]) expect(await s.has(sha(c))).toBe(true);
    } finally {
      s.close();
    }
  }, 300_000);
});
