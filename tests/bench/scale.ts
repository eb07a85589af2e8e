/**
 * Scale-out benchmarks (part of `npm run bench`; alone with `BENCH_ONLY=scale`), on real
 * engines started here (PostgreSQL 15, Ceph RGW with four OSDs and 3 replicas):
 *   - `ferry put` of the bench file to a relay on PostgreSQL + Ceph RGW vs a bare
 *     @aws-sdk/client-s3 client putting the same 4 MiB objects into the same RGW with the
 *     same parallelism (target ≥ 0.9), and vs Ferry on SQLite + files;
 *   - a share-link download from that bucket with curl vs bare GetObject streams of the
 *     same objects, in order, with the same read-ahead (target ≥ 0.9);
 *   - 50 clients over two relays on one PostgreSQL database: every upload verified, `list`
 *     and chunk-acknowledgement p50/p99, and PostgreSQL statements per uploaded chunk
 *     (counted by pg_stat_statements).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { openSync, readSync, closeSync, statSync, rmSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { S3Client, PutObjectCommand, GetObjectCommand, CreateBucketCommand } from '@aws-sdk/client-s3';
import { FERRY_BIN, addUsers, signIn, startRelayProcess, type RelayProcess } from '../helpers/relay.js';
import { CEPH, startCeph } from '../helpers/ceph.js';
import { POSTGRES, startPostgres } from '../helpers/postgres.js';
import { PostgresMetaStore } from '../../relay/store/postgres-meta-store.js';
import { Accounts } from '../../relay/auth/accounts.js';
import { uploadFile } from '../../relay/client/index.js';
import { TimedClient } from './timed-client.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';

const MiB = 1024 ** 2;
/** Chunks in flight: the CLI's upload window, used for the bare client too. */
const PARALLEL = 8;

export function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err, seconds: (performance.now() - started) / 1000 }));
  });
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** The file in CHUNK_SIZE pieces, read as the bare client sends them. */
function pieces(file: string): { count: number; read: (i: number) => Buffer } {
  const size = statSync(file).size;
  return {
    count: Math.ceil(size / CHUNK_SIZE),
    read: (i) => {
      const fd = openSync(file, 'r');
      try {
        const length = Math.min(CHUNK_SIZE, size - i * CHUNK_SIZE);
        const buf = Buffer.allocUnsafe(length);
        readSync(fd, buf, 0, length, i * CHUNK_SIZE);
        return buf;
      } finally {
        closeSync(fd);
      }
    },
  };
}

async function inParallel(count: number, parallel: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await fn(next++);
  }));
}

export async function benchScale(opts: { file: string; work: string; runs: number }): Promise<string[]> {
  if (!POSTGRES || !CEPH) return [`(scale-out benchmarks skipped: ${!POSTGRES ? 'PostgreSQL' : 'Ceph'} is not installed)`];
  const { file, work, runs } = opts;
  const size = statSync(file).size;
  const mibs = (s: number) => size / MiB / s;
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  const best = (xs: number[]) => Math.min(...xs);
  const user = { name: 'bench', password: 'bench-password', role: 'admin' as const };
  const cephDir = path.join(work, 'ceph');
  mkdirSync(cephDir, { recursive: true });
  console.error('starting Ceph and PostgreSQL');
  const ceph = await startCeph(cephDir);
  const pgServer = await startPostgres({ durable: true, settings: ['shared_preload_libraries=pg_stat_statements', 'pg_stat_statements.track=all'] });
  const relays: RelayProcess[] = [];
  const lines: string[] = [];
  try {
    const s3env = { AWS_ACCESS_KEY_ID: ceph.accessKeyId, AWS_SECRET_ACCESS_KEY: ceph.secretAccessKey };
    const s3 = new S3Client({
      endpoint: ceph.endpoint, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'bare' })).catch(() => {});
    const chunks = pieces(file);

    /** Signs the CLI in to `relay` with its own session file, then times `ferry put` of the file. */
    const timedPut = async (relay: RelayProcess, config: string): Promise<number> => {
      const cli = { FERRY_CONFIG: config, FERRY_PASSWORD: user.password };
      const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], cli);
      if (login.code !== 0) throw new Error(login.err);
      const put = await run(process.execPath, [FERRY_BIN, 'put', file, '--to', 'bench'], cli);
      if (put.code !== 0) throw new Error(put.err);
      return put.seconds;
    };

    // Upload: Ferry on PostgreSQL + RGW, the bare client, Ferry on SQLite + files; a fresh bucket / data folder each run.
    const ferryS3: number[] = [];
    const bare: number[] = [];
    const ferryFiles: number[] = [];
    let lastBucket = '';
    let lastMeta = '';
    for (let i = 0; i < runs; i++) {
      console.error(`scale run ${i + 1}/${runs}: bare PutObject`);
      const startedBare = performance.now();
      await inParallel(chunks.count, PARALLEL, async (c) => {
        const body = chunks.read(c);
        await s3.send(new PutObjectCommand({ Bucket: 'bare', Key: `run${i}/${c}`, Body: body, ContentLength: body.length }));
      });
      bare.push((performance.now() - startedBare) / 1000);

      console.error(`scale run ${i + 1}/${runs}: ferry put to PostgreSQL + Ceph RGW`);
      const metaUrl = await pgServer.createDatabase();
      const store = await PostgresMetaStore.open(metaUrl);
      await new Accounts(store, 86_400_000).addUser(user.name, user.role, user.password);
      await store.close();
      lastBucket = `ferry-bench-${i}`;
      lastMeta = metaUrl;
      const relay = await startRelayProcess({ dataDir: path.join(work, `s3-relay-${i}`), args: ['--meta', metaUrl, '--chunks', `s3://${lastBucket}`, '--s3-endpoint', ceph.endpoint, '--tls', 'off'], env: s3env });
      try {
        ferryS3.push(await timedPut(relay, path.join(work, `cli-s3-${i}.json`)));
      } finally {
        await relay.stop();
      }

      console.error(`scale run ${i + 1}/${runs}: ferry put to SQLite + files`);
      const dataDir = path.join(work, `files-relay-${i}`);
      await addUsers(dataDir, [user]);
      const local = await startRelayProcess({ dataDir, args: ['--tls', 'off'] });
      try {
        ferryFiles.push(await timedPut(local, path.join(work, `cli-files-${i}.json`)));
      } finally {
        await local.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
    lines.push(
      `| upload ${size / MiB} MiB with ferry put to a relay on PostgreSQL + Ceph RGW vs a bare @aws-sdk/client-s3 client putting the same 4 MiB objects, ${PARALLEL} at once (best of ${runs}; runs ${list(bare)} / ${list(ferryS3)} s) | ${mibs(best(bare)).toFixed(1)} MiB/s | ${mibs(best(ferryS3)).toFixed(1)} MiB/s | ${(best(bare) / best(ferryS3)).toFixed(2)} | ≥ 0.9 |`,
      `| the same upload to Ferry on SQLite + files vs Ferry on PostgreSQL + Ceph RGW (runs ${list(ferryFiles)} s) | ${mibs(best(ferryFiles)).toFixed(1)} MiB/s | ${mibs(best(ferryS3)).toFixed(1)} MiB/s | ${(best(ferryFiles) / best(ferryS3)).toFixed(2)} | — |`,
    );

    // Share link from the last bucket vs bare GetObject of the same objects in order, PARALLEL ahead.
    const relay = await startRelayProcess({ dataDir: path.join(work, 's3-link'), args: ['--meta', lastMeta, '--chunks', `s3://${lastBucket}`, '--s3-endpoint', ceph.endpoint, '--tls', 'off'], env: s3env });
    relays.push(relay);
    const cli = { FERRY_CONFIG: path.join(work, 'cli-link.json'), FERRY_PASSWORD: user.password };
    const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], cli);
    if (login.code !== 0) throw new Error(login.err);
    const made = await run(process.execPath, [FERRY_BIN, 'link', `bench/${path.basename(file)}`], cli);
    if (made.code !== 0) throw new Error(made.err);
    const linkUrl = `${relay.httpUrl}${new URL(made.out.trim()).pathname}/file`;
    const link: number[] = [];
    const get: number[] = [];
    for (let i = 0; i < runs; i++) {
      console.error(`scale run ${i + 1}/${runs}: bare GetObject stream, then the share link`);
      const started = performance.now();
      const hash = createHash('sha256');
      // Objects fetched up to PARALLEL ahead, their bytes consumed in order (a stream to the reader).
      const fetches = new Map<number, Promise<Uint8Array>>();
      const fetchOne = (c: number) => s3.send(new GetObjectCommand({ Bucket: 'bare', Key: `run0/${c}` })).then((r) => r.Body!.transformToByteArray());
      for (let c = 0; c < chunks.count; c++) {
        for (let a = c; a < Math.min(chunks.count, c + PARALLEL); a++) if (!fetches.has(a)) fetches.set(a, fetchOne(a));
        hash.update(await fetches.get(c)!);
        fetches.delete(c);
      }
      get.push((performance.now() - started) / 1000);
      const curl = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', linkUrl]);
      if (curl.code !== 0 || Number(curl.out) !== size) throw new Error(`link download failed: ${curl.err} ${curl.out}`);
      link.push(curl.seconds);
    }
    lines.push(`| share-link download of ${size / MiB} MiB from Ceph RGW with curl vs bare GetObject of the same objects in order, ${PARALLEL} ahead (best of ${runs}; runs ${list(get)} / ${list(link)} s) | ${mibs(best(get)).toFixed(1)} MiB/s | ${mibs(best(link)).toFixed(1)} MiB/s | ${(best(get) / best(link)).toFixed(2)} | ≥ 0.9 |`);
    await relay.stop();

    lines.push(...(await fiftyClients(pgServer, work, user)));
    s3.destroy();
  } finally {
    for (const r of relays) await r.stop();
    await pgServer.stop();
    await ceph.stop();
  }
  return lines;
}

/** 50 clients, half on each of two relays sharing one database and one chunk folder. */
async function fiftyClients(pgServer: Awaited<ReturnType<typeof startPostgres>>, work: string, user: { name: string; password: string; role: 'admin' }): Promise<string[]> {
  const CLIENTS = 50;
  const FILE_CHUNKS = 4;
  const FILES_EACH = 2;
  console.error(`${CLIENTS} clients over two relays`);
  const metaUrl = await pgServer.createDatabase();
  const store = await PostgresMetaStore.open(metaUrl);
  await new Accounts(store, 86_400_000).addUser(user.name, user.role, user.password);
  await store.close();
  const chunksDir = path.join(work, 'fifty-chunks');
  mkdirSync(chunksDir, { recursive: true });
  const args = ['--meta', metaUrl, '--chunks', chunksDir, '--tls', 'off'];
  const relays = [await startRelayProcess({ dataDir: path.join(work, 'fifty-a'), args }), await startRelayProcess({ dataDir: path.join(work, 'fifty-b'), args })];
  const admin = new pg.Client({ connectionString: metaUrl });
  await admin.connect();
  const clients: TimedClient[] = [];
  try {
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    for (let i = 0; i < CLIENTS; i++) {
      const c = new TimedClient({ url: relays[i % 2].wsUrl, createSocket: nodeSocketFactory, reconnectTimeoutMs: 60_000 });
      await c.connect();
      await c.login(user.name, user.password);
      clients.push(c);
    }
    const datas = clients.map(() => Array.from({ length: FILES_EACH }, () => randomBytes(FILE_CHUNKS * CHUNK_SIZE - 1000)));
    const statements = async () => Number((await admin.query("SELECT coalesce(sum(calls), 0) AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT ILIKE '%pg_stat_statements%'")).rows[0].n);
    await admin.query('SELECT pg_stat_statements_reset()');
    const listMs: number[] = [];
    let verified = 0;
    const started = performance.now();
    await Promise.all(clients.map(async (c, i) => {
      for (let f = 0; f < FILES_EACH; f++) {
        const data = datas[i][f];
        const p = `fifty/c${i}-f${f}.bin`;
        const up = await uploadFile(c, { size: data.length, mtime: 1_700_000_000_000, read: async (o, l) => data.subarray(o, o + l) }, { path: p });
        if (up.sha256 !== createHash('sha256').update(data).digest('hex')) throw new Error(`upload ${p} does not verify`);
        const t = performance.now();
        await c.request('list', { folder: 'fifty' });
        listMs.push(performance.now() - t);
        if ((await c.request('verify', { path: p })).ok) verified++;
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    const total = await statements();
    const chunks = CLIENTS * FILES_EACH * FILE_CHUNKS;
    // The same count for list and verify calls alone, to take them out of the per-chunk figure.
    await admin.query('SELECT pg_stat_statements_reset()');
    for (const c of clients.slice(0, 10)) {
      await c.request('list', { folder: 'fifty' });
      await c.request('verify', { path: `fifty/c${clients.indexOf(c)}-f0.bin` });
    }
    const perListVerify = (await statements()) / 10;
    // What one more chunk costs: a 32-chunk file against a 4-chunk one, from one client.
    const one = async (n: number, name: string) => {
      const data = randomBytes(n * CHUNK_SIZE);
      await admin.query('SELECT pg_stat_statements_reset()');
      await uploadFile(clients[0], { size: data.length, mtime: 1_700_000_000_000, read: async (o, l) => data.subarray(o, o + l) }, { path: name });
      return statements();
    };
    const small = await one(4, 'fifty/slope-4.bin');
    const large = await one(32, 'fifty/slope-32.bin');
    const slope = (large - small) / 28;
    const uploadStatements = total - perListVerify * CLIENTS * FILES_EACH;
    const acks = clients.flatMap((c) => c.ackMs);
    const bytes = chunks * CHUNK_SIZE;
    return [
      `| ${CLIENTS} clients over two relays on one PostgreSQL database (chunks in one folder), ${FILES_EACH} files of ${FILE_CHUNKS} chunks each, all at once: ${verified} of ${CLIENTS * FILES_EACH} uploads verified, ${(bytes / MiB / seconds).toFixed(0)} MiB/s together | list p50 ${percentile(listMs, 50).toFixed(0)} ms, p99 ${percentile(listMs, 99).toFixed(0)} ms | chunk ack p50 ${percentile(acks, 50).toFixed(0)} ms, p99 ${percentile(acks, 99).toFixed(0)} ms | PostgreSQL statements per uploaded chunk: ${(uploadStatements / chunks).toFixed(1)} (${uploadStatements.toFixed(0)} for ${chunks} chunks; a list + verify costs ${perListVerify.toFixed(1)}); one more chunk in a file adds ${slope.toFixed(1)} (a 4-chunk upload ${small}, a 32-chunk one ${large}) | — |`,
    ];
  } finally {
    for (const c of clients) c.close();
    await admin.end();
    for (const r of relays) await r.stop();
  }
}
