/**
 * `ferry migrate`: a deployment on SQLite + files copied to PostgreSQL + a chunk folder and
 * back, with every kind of record it holds (versions, shared folders, the trash, share
 * links with their download counts, sessions, an unfinished upload, change-log positions),
 * killed half-way and resumed, and refusing a target that is not empty or a source whose
 * chunks are damaged. The S3 direction runs against Swift in the S3 chunk store suite.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile, FerryClient } from '../../relay/client/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { ADMIN, ALICE, BOB, FERRY_BIN, addUsers, sharedFolder, signIn, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { POSTGRES, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { ferry } from '../helpers/cli.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

if (!POSTGRES) console.log('ferry migrate tests skipped: PostgreSQL is not installed (apt-get install postgresql-15)');

/** Every chunk file under a chunk folder. */
function chunkFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^[0-9a-f]{64}$/.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

describe.skipIf(!POSTGRES)('ferry migrate', () => {
  let pg: PostgresServer;
  let tmp: ReturnType<typeof tempDir>;
  let srcDir: string;
  let pgUrl: string;
  let pgChunks: string;
  const relays: RelayProcess[] = [];
  const big = randomData(12 * CHUNK_SIZE + 4321);
  const notes = [randomData(1000), randomData(2000), randomData(3000)];
  const plan = randomData(2 * CHUNK_SIZE);
  const half = randomData(6 * CHUNK_SIZE);
  let token: string;
  let halfSession: string;
  let linkUrl: string;
  let position: { epoch: number; position: number };

  /** What a person sees of the library, through a relay on the copied stores. */
  async function checkLibrary(relay: RelayProcess) {
    // The session made before the copy still signs alice in.
    const alice = new FerryClient({ url: relay.wsUrl, createSocket: nodeSocketFactory, token, reconnect: false });
    await alice.connect();
    const bob = await signIn(relay, BOB.name, BOB.password);
    try {
      const sink = memorySink();
      await downloadFile(alice, sink, { path: 'docs/big.bin' });
      expect(sha256(sink.bytes())).toBe(sha256(big));
      const history = await alice.request('history', { path: 'docs/notes.txt' });
      expect(history.versions.map((v) => v.version).sort()).toEqual([1, 2, 3]);
      for (const v of [1, 2, 3]) {
        const s = memorySink();
        await downloadFile(alice, s, { path: 'docs/notes.txt', version: v });
        expect(sha256(s.bytes())).toBe(sha256(notes[v - 1]));
      }
      const spaces = (await bob.request('spaces', {})).spaces;
      const team = spaces.find((s) => s.name === 'team')!;
      expect(team.access).toBe('view');
      const s = memorySink();
      await downloadFile(bob, s, { space: team.id, path: 'plan.bin' });
      expect(sha256(s.bytes())).toBe(sha256(plan));
      const home = (await alice.request('spaces', {})).spaces.find((x) => x.kind === 'home')!;
      expect((await alice.request('trash.list', { space: home.id })).items.map((i) => i.path)).toEqual(['docs/old.bin']);
      // Where alice's app was in the change log is still a place to go on from.
      const changes = await alice.request('changes', { since: position.position, epoch: position.epoch });
      expect(changes.reset).toBe(false);
      expect(changes.epoch).toBe(position.epoch);
      return { alice, bob, close: () => (alice.close(), bob.close()) };
    } catch (err) {
      alice.close();
      bob.close();
      throw err;
    }
  }

  beforeAll(async () => {
    pg = await startPostgres();
    tmp = tempDir('ferry-migrate-');
    srcDir = path.join(tmp.dir, 'src');
    pgChunks = path.join(tmp.dir, 'pg-chunks');
    mkdirSync(pgChunks);
    pgUrl = await pg.createDatabase();
    await addUsers(srcDir, [ADMIN, ALICE, BOB]);
    const relay = await startRelayProcess({ dataDir: srcDir });
    const alice = await signIn(relay, ALICE.name, ALICE.password);
    try {
      token = alice.token!;
      await uploadFile(alice, bufferSource(big), { path: 'docs/big.bin' });
      for (const n of notes) await uploadFile(alice, bufferSource(n), { path: 'docs/notes.txt', conflict: 'version' });
      const team = await sharedFolder(relay, 'team', { alice: 'edit', bob: 'view' });
      await uploadFile(alice, bufferSource(plan), { space: team, path: 'plan.bin' });
      await uploadFile(alice, bufferSource(randomData(5000)), { path: 'docs/old.bin' });
      const home = (await alice.request('spaces', {})).spaces.find((x) => x.kind === 'home')!;
      await alice.request('trash', { space: home.id, path: 'docs/old.bin' });
      const link = await alice.request('link.create', { path: 'docs/big.bin', maxDownloads: 3 });
      linkUrl = link.url;
      expect((await fetch(`${relay.httpUrl}${link.url}/file`).then(async (r) => ({ status: r.status, body: sha256(Buffer.from(await r.arrayBuffer())) })))).toEqual({ status: 200, body: sha256(big) });
      position = await alice.request('changes', {});
      // An upload stopped after two chunks: its session and held chunks are copied too.
      const stop = new AbortController();
      await uploadFile(alice, bufferSource(half), {
        path: 'docs/half.bin',
        window: 1,
        signal: stop.signal,
        onSession: (id) => (halfSession = id),
        onProgress: (p) => p.done >= 2 * CHUNK_SIZE && stop.abort(),
      }).catch(() => {});
      expect(halfSession).toBeDefined();
    } finally {
      alice.close();
      await relay.stop();
    }
  }, 120_000);

  afterAll(async () => {
    for (const r of relays) await r.stop();
    await pg?.stop();
    tmp?.remove();
  });

  it('says what it needs and refuses to copy a store onto itself', async () => {
    const none = await ferry(['migrate', '--data', srcDir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/usage: ferry migrate/);
    const noFolder = await ferry(['migrate', '--data', srcDir, '--to-meta', 'sqlite']);
    expect(noFolder.code).toBe(2);
    expect(noFolder.stderr).toMatch(/--to-data DIR is needed/);
    const same = await ferry(['migrate', '--data', srcDir, '--to-meta', pgUrl, '--to-chunks', path.join(srcDir, 'chunks')]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/share chunks in/);
  });

  it('copies SQLite + files into PostgreSQL + a chunk folder, finishing after a kill -9 half-way, and a relay there serves all of it', async () => {
    const args = [FERRY_BIN, 'migrate', '--data', srcDir, '--to-meta', pgUrl, '--to-chunks', pgChunks, '--parallel', '1'];
    // Killed once it reports a tenth of the chunks copied.
    const first = await new Promise<{ out: string; signal: NodeJS.Signals | null }>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const onData = (d: Buffer) => {
        out += d;
        const m = /chunks (\d+)\/(\d+)/.exec(out.split('\n').slice(-3).join('\n'));
        if (m && Number(m[1]) > 0 && child.exitCode === null) child.kill('SIGKILL');
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.on('close', (_code, signal) => resolve({ out, signal }));
    });
    expect(first.signal, first.out).toBe('SIGKILL');
    expect(first.out).not.toMatch(/^Done/m);
    const copiedBefore = chunkFiles(pgChunks).length;
    expect(copiedBefore).toBeGreaterThan(0);

    // A relay does not start on the half-copied database.
    await expect(startRelayProcess({ dataDir: path.join(tmp.dir, 'early'), args: ['--meta', pgUrl, '--chunks', pgChunks] })).rejects.toThrow(/unfinished copy of SQLite .*ferry migrate/s);

    const second = await ferry(args.slice(1));
    expect(second.code, second.stderr).toBe(0);
    const done = /chunks: (\d+) verified, (\d+) copied, (\d+) already there/.exec(second.stdout)!;
    expect(done, second.stdout).not.toBeNull();
    expect(Number(done[3])).toBeGreaterThanOrEqual(copiedBefore);
    expect(Number(done[2]) + Number(done[3])).toBe(Number(done[1]));
    // 13 chunks of big.bin, 3 of notes, 2 of plan, 1 of old.bin, the 2 held by the unfinished upload.
    expect(Number(done[1])).toBe(13 + 3 + 2 + 1 + 2);
    expect(second.stdout).toMatch(/^version_chunks: \d+ rows$/m);
    expect(second.stdout).toMatch(/^Done: /m);

    const relay = await startRelayProcess({ dataDir: path.join(tmp.dir, 'on-pg'), args: ['--meta', pgUrl, '--chunks', pgChunks] });
    relays.push(relay);
    const { alice, close } = await checkLibrary(relay);
    try {
      // The link's budget goes on from what was used: 2 more downloads, then it is spent.
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await fetch(`${relay.httpUrl}${linkUrl}/file`).then(async (r) => (await r.arrayBuffer(), r.status))));
      expect(statuses).toEqual([200, 200, 410]);
      // The unfinished upload resumes: its first two chunks are not sent again.
      const resumed = await uploadFile(alice, bufferSource(half), { path: 'docs/half.bin', resume: halfSession });
      expect(resumed.sha256).toBe(sha256(half));
      expect(resumed.stats.sentChunks).toBeLessThanOrEqual(4);
      // New rows get new ids (the copied ids did not reset PostgreSQL's sequences to 1).
      const fresh = await uploadFile(alice, bufferSource(randomData(777)), { path: 'docs/new.bin' });
      expect(fresh.version).toBe(1);
      const admin = await signIn(relay, ADMIN.name, ADMIN.password);
      try {
        await admin.request('folder.create', { name: 'after', members: [] });
        expect((await admin.request('folder.list', {})).folders.map((f) => f.name)).toEqual(expect.arrayContaining(['after', 'team']));
      } finally {
        admin.close();
      }
    } finally {
      close();
    }
  });

  it('copies it back to SQLite + files, byte-identical', async () => {
    await Promise.all(relays.splice(0).map((r) => r.stop()));
    const back = path.join(tmp.dir, 'back');
    const r = await ferry(['migrate', '--meta', pgUrl, '--chunks', pgChunks, '--data', path.join(tmp.dir, 'unused'), '--to-data', back]);
    expect(r.code, r.stderr).toBe(0);
    const relay = await startRelayProcess({ dataDir: back });
    relays.push(relay);
    const { alice, close } = await checkLibrary(relay);
    try {
      const s = memorySink();
      await downloadFile(alice, s, { path: 'docs/half.bin' });
      expect(sha256(s.bytes())).toBe(sha256(half));
      // The link was spent before this copy: it stays spent.
      expect((await fetch(`${relay.httpUrl}${linkUrl}/file`)).status).toBe(410);
    } finally {
      close();
      await Promise.all(relays.splice(0).map((x) => x.stop()));
    }
  });

  it('refuses a target that already holds a library, and a source with a damaged chunk', async () => {
    const full = await ferry(['migrate', '--data', srcDir, '--to-meta', pgUrl, '--to-chunks', path.join(tmp.dir, 'other-chunks')]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/^ferry: TARGET_NOT_EMPTY: .*already holds a library/m);

    const back = path.join(tmp.dir, 'back');
    const victim = chunkFiles(path.join(back, 'chunks')).sort((a, b) => statSync(a).size - statSync(b).size)[0];
    writeFileSync(victim, Buffer.from('not what it was'));
    const url = await pg.createDatabase();
    const damaged = await ferry(['migrate', '--data', back, '--to-meta', url, '--to-chunks', path.join(tmp.dir, 'damaged-chunks')]);
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(new RegExp(`^ferry: SOURCE_DAMAGED: 1 of \\d+ chunks .* ${path.basename(victim)} \\(its bytes do not match\\)`, 'm'));
    // The target stays marked unfinished: no relay starts on it.
    await expect(startRelayProcess({ dataDir: path.join(tmp.dir, 'marked'), args: ['--meta', url, '--chunks', path.join(tmp.dir, 'damaged-chunks')] })).rejects.toThrow(/unfinished copy/);
  });
});
