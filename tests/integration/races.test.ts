/**
 * Uploads that race: two legs of different content to one path, the same upload
 * committed twice at once, a resume that takes a session over, and whole-file hashes
 * that must come from the bytes. Every committed version must verify, and each client
 * must have been told the SHA-256 of its own bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, contentHash } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ALICE, BOB, signIn, standardRelay } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { rawClient } from '../helpers/raw.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

let nextId = 1;
const req = (type: string, body: object = {}) => ({ type, id: nextId++, ...body });

/** Two files of one size that share their first chunk and differ after it. */
function twins(size: number): [Buffer, Buffer] {
  const a = randomData(size);
  const b = Buffer.from(a);
  randomData(size - CHUNK_SIZE).copy(b, CHUNK_SIZE);
  return [a, b];
}

describe('uploads that race', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let one: FerryClient;
  let two: FerryClient;
  beforeAll(async () => {
    env = await standardRelay();
    one = await signIn(env.relay, ALICE.name, ALICE.password);
    two = await signIn(env.relay, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    one?.close();
    two?.close();
    await env?.close();
  });

  /** Every version of `file` verifies, downloads as one of `contents`, and holds the SHA-256 of its bytes. */
  async function checkEveryVersion(file: string, contents: Buffer[]) {
    const history = await one.request('history', { path: file });
    const known = new Map(contents.map((c) => [sha256(c), c]));
    for (const v of history.versions) {
      const verified = await one.request('verify', { path: file, version: v.version });
      expect(verified, `v${v.version}`).toMatchObject({ ok: true, sha256Ok: true });
      const sink = memorySink();
      await downloadFile(one, sink, { path: file, version: v.version });
      const got = sha256(sink.bytes());
      expect(got).toBe(v.sha256);
      expect(known.has(got), `v${v.version} is one of the uploaded files`).toBe(true);
    }
    return history.versions;
  }

  it('two clients uploading different files of one size and first chunk to one path: both kept, each as its own bytes (10 rounds)', async () => {
    for (let round = 0; round < 10; round++) {
      const file = `race/round-${round}.bin`;
      const [a, b] = twins(3 * CHUNK_SIZE + 1000);
      const [ra, rb] = await Promise.all([
        uploadFile(one, bufferSource(a), { path: file, window: 2 }),
        uploadFile(two, bufferSource(b), { path: file, window: 2 }),
      ]);
      // Each client was told the SHA-256 of its own file.
      expect(ra.sha256).toBe(sha256(a));
      expect(rb.sha256).toBe(sha256(b));
      const versions = await checkEveryVersion(file, [a, b]);
      expect(versions.map((v) => v.sha256).sort()).toEqual([sha256(a), sha256(b)].sort());
    }
  });

  it('two `ferry put` runs of such files at once: both print their own SHA-256, and both versions verify (4 rounds)', async () => {
    const work = path.join(env.tmp, 'race-cli');
    mkdirSync(work, { recursive: true });
    const cliEnv = { FERRY_CONFIG: path.join(env.tmp, 'race-cli.json') };
    const login = await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: { ...cliEnv, FERRY_PASSWORD: ALICE.password } });
    expect(login.code, login.stderr).toBe(0);
    for (let round = 0; round < 4; round++) {
      const [a, b] = twins(3 * CHUNK_SIZE + 4321);
      mkdirSync(path.join(work, `a${round}`));
      mkdirSync(path.join(work, `b${round}`));
      writeFileSync(path.join(work, `a${round}`, 'same.bin'), a);
      writeFileSync(path.join(work, `b${round}`, 'same.bin'), b);
      const [pa, pb] = await Promise.all([
        ferry(['put', path.join(work, `a${round}`, 'same.bin'), '--to', `cli-race/${round}`], { env: cliEnv }),
        ferry(['put', path.join(work, `b${round}`, 'same.bin'), '--to', `cli-race/${round}`], { env: cliEnv }),
      ]);
      expect(pa.code, pa.stderr).toBe(0);
      expect(pb.code, pb.stderr).toBe(0);
      expect(pa.stdout).toContain(`sha256 ${sha256(a)}`);
      expect(pb.stdout).toContain(`sha256 ${sha256(b)}`);
      const versions = await checkEveryVersion(`cli-race/${round}/same.bin`, [a, b]);
      expect(versions.map((v) => v.sha256).sort()).toEqual([sha256(a), sha256(b)].sort());
    }
  });

  it('commits one upload once when its commit is sent twice at once: the second gets UNKNOWN_UPLOAD (version and rename)', async () => {
    for (const conflict of ['version', 'rename'] as const) {
      const raw = await rawClient(env.relay.wsUrl);
      try {
        await raw.request(req('login', { user: ALICE.name, password: ALICE.password }));
        const name = `twice-${conflict}.bin`;
        // An earlier version, so a rename would have somewhere to go.
        await uploadFile(one, bufferSource(Buffer.from('earlier')), { path: name });
        const data = randomData(5000);
        const list = [{ offset: 0, length: data.length, sha256: sha256(data) }];
        const begin = await raw.request(req('upload.begin', { path: name, size: data.length, mtime: 0, chunks: list, conflict }));
        expect(await raw.chunk(begin.body.handle, 0, data)).toMatchObject({ type: 'chunk.ack' });
        const commit = req('upload.commit', { upload: begin.body.upload, contentHash: contentHash(list) });
        const again = { ...commit, id: nextId++ };
        // Both frames leave before either is answered.
        const answers = await Promise.all([raw.request(commit), raw.request(again)]);
        const codes = answers.map((a) => (a.type === 'reply' ? 'reply' : a.code)).sort();
        expect(codes).toEqual(['UNKNOWN_UPLOAD', 'reply']);
        const listing = await one.request('list', { folder: '' });
        const named = listing.entries.filter((e) => e.name.startsWith(`twice-${conflict}`));
        expect(named.map((e) => e.name)).toEqual(conflict === 'rename' ? [`twice-${conflict}.bin`, `twice-${conflict}_v2.bin`] : [`twice-${conflict}.bin`]);
        if (conflict === 'version') expect(named[0].versions).toBe(2);
      } finally {
        raw.close();
      }
    }
  });

  it('hands a session to the leg that resumes it: the earlier leg can no longer send, extend or commit', async () => {
    const first = await rawClient(env.relay.wsUrl);
    const second = await rawClient(env.relay.wsUrl);
    try {
      await first.request(req('login', { user: ALICE.name, password: ALICE.password }));
      await second.request(req('login', { user: ALICE.name, password: ALICE.password }));
      const c0 = randomData(1000);
      const c1 = randomData(1000);
      const list = [{ offset: 0, length: 1000, sha256: sha256(c0) }, { offset: 1000, length: 1000, sha256: sha256(c1) }];
      const b1 = await first.request(req('upload.begin', { path: 'taken.bin', size: 2000, mtime: 0, chunks: [list[0]], partial: true }));
      expect(await first.chunk(b1.body.handle, 0, c0)).toMatchObject({ type: 'chunk.ack' });
      const b2 = await second.request(req('upload.begin', { path: 'taken.bin', size: 2000, mtime: 0, chunks: [list[0]], partial: true, resume: b1.body.upload }));
      expect(b2.body).toMatchObject({ upload: b1.body.upload, need: [] });
      expect(await first.request(req('upload.extend', { handle: b1.body.handle, from: 1, chunks: [list[1]] }))).toMatchObject({ code: 'UPLOAD_CHANGED' });
      expect(await first.chunk(b1.body.handle, 0, c0)).toMatchObject({ type: 'chunk.refused', code: 'UPLOAD_CHANGED' });
      expect(await first.request(req('upload.commit', { upload: b1.body.upload, contentHash: contentHash(list) }))).toMatchObject({ code: 'UPLOAD_CHANGED' });
      expect(await second.request(req('upload.extend', { handle: b2.body.handle, from: 1, chunks: [list[1]] }))).toMatchObject({ body: { need: [1] } });
      expect(await second.chunk(b2.body.handle, 1, c1)).toMatchObject({ type: 'chunk.ack' });
      // A commit naming a different chunk list than the session's is refused.
      expect(await second.request(req('upload.commit', { upload: b2.body.upload, contentHash: contentHash([list[0]]) }))).toMatchObject({ code: 'UPLOAD_CHANGED' });
      const done = await second.request(req('upload.commit', { upload: b2.body.upload, contentHash: contentHash(list) }));
      expect(done.body.sha256).toBe(sha256(Buffer.concat([c0, c1])));
    } finally {
      first.close();
      second.close();
    }
  });

  it('never copies a whole-file SHA-256 that was not computed from the bytes', async () => {
    const data = randomData(2 * CHUNK_SIZE + 10);
    const first = await uploadFile(one, bufferSource(data), { path: 'hash/source.bin' });
    expect(first.sha256).toBe(sha256(data));
    // A version recorded with a wrong, never verified SHA-256 (as an earlier release could).
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'));
    try {
      db.prepare("UPDATE versions SET sha256 = ?, sha256_verified = 0 WHERE id = (SELECT current_version_id FROM files WHERE path = 'hash/source.bin')").run('0'.repeat(64));
    } finally {
      db.close();
    }
    // Same content again, all of it already held: the relay cannot stream-hash it and must not copy the wrong hash.
    const again = await uploadFile(one, bufferSource(data), { path: 'hash/copy.bin' });
    expect(again.stats.sentChunks).toBe(0);
    expect(again.sha256).toBe(sha256(data));
    const bobs = await signIn(env.relay, BOB.name, BOB.password);
    try {
      const r = await uploadFile(bobs, bufferSource(data), { path: 'hash/bob.bin' });
      expect(r.sha256).toBe(sha256(data));
    } finally {
      bobs.close();
    }
    // `verify` finds the damaged record and does not bless it.
    expect(await one.request('verify', { path: 'hash/source.bin' })).toMatchObject({ ok: false, sha256Ok: false });
  });

  it('`ferry get` prints the SHA-256 of the bytes it wrote, and refuses when the relay records another', async () => {
    const cliEnv = { FERRY_CONFIG: path.join(env.tmp, 'get.json') };
    await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: { ...cliEnv, FERRY_PASSWORD: ALICE.password } });
    const data = randomData(CHUNK_SIZE + 77);
    await uploadFile(one, bufferSource(data), { path: 'get/fine.bin' });
    const out = path.join(env.tmp, 'fine.bin');
    const got = await ferry(['get', 'get/fine.bin', '-o', out], { env: cliEnv });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toContain(`sha256 ${sha256(data)}`);
    // The record says something else: the CLI checks what it wrote and says so.
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'));
    try {
      db.prepare("UPDATE versions SET sha256 = ? WHERE id = (SELECT current_version_id FROM files WHERE path = 'get/fine.bin')").run('1'.repeat(64));
    } finally {
      db.close();
    }
    const bad = await ferry(['get', 'get/fine.bin', '-o', path.join(env.tmp, 'bad.bin')], { env: cliEnv });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INTEGRITY_FAILED');
    expect(bad.stderr).toContain(sha256(data));
  });
});
