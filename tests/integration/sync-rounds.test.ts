/**
 * What a sync round looks at: after the first round (everything), a round looks only at
 * the paths the watcher named, the paths the relay's change log names since the last
 * round, and what an earlier round left unsettled — and still gets every kind of change
 * right. The engine runs in this process (real relay, real folders, real state files) so
 * each round's report can be read.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncEngine } from '../../relay/sync/engine.js';
import { NodeLocalTree, SqliteSyncState } from '../../relay/sync/node-local.js';
import { ALICE, signIn, standardRelay, startRelayProcess } from '../helpers/relay.js';
import { fileSha256 } from '../helpers/files.js';
import type { FerryClient } from '../../relay/client/index.js';

let env: Awaited<ReturnType<typeof standardRelay>>;
const clients: FerryClient[] = [];
const states: SqliteSyncState[] = [];

beforeAll(async () => {
  env = await standardRelay();
});
afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of states) s.close();
  await env?.close();
});

/** Writes a file with a modification time in the past (settled). */
function put(file: string, data: Uint8Array | string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  const t = new Date(Date.now() - 5000);
  utimesSync(file, t, t);
}

async function device(name: string, remote: string) {
  const dir = path.join(env.tmp, `rounds-${name}-${remote}`);
  mkdirSync(dir, { recursive: true });
  const client = await signIn(env.relay, ALICE.name, ALICE.password, { reconnectTimeoutMs: 30_000 });
  clients.push(client);
  const state = new SqliteSyncState(path.join(env.tmp, `rounds-${name}-${remote}.db`));
  states.push(state);
  const home = (await client.request('spaces', {})).spaces.find((s) => s.kind === 'home')!.id;
  await client.request('mkdir', { path: remote });
  const engine = new SyncEngine({ client, spaceId: home, remote, local: new NodeLocalTree(dir), state, device: name });
  return { dir, engine, client, state };
}

describe('the state file', () => {
  it('is brought forward from the first layout (chunk lists inside each row) without losing a row', async () => {
    const file = path.join(env.tmp, 'old-state.db');
    const old = new Database(file);
    old.exec('CREATE TABLE base (path TEXT PRIMARY KEY, entry TEXT NOT NULL); CREATE TABLE vals (name TEXT PRIMARY KEY, value TEXT NOT NULL)');
    const chunk = { offset: 0, length: 3, sha256: 'a'.repeat(64) };
    old.prepare('INSERT INTO base VALUES (?, ?)').run('Docs/x.txt', JSON.stringify({ path: 'Docs/x.txt', kind: 'file', contentHash: 'c'.repeat(64), size: 3, mtime: 7, chunks: [chunk] }));
    old.prepare('INSERT INTO base VALUES (?, ?)').run('Docs', JSON.stringify({ path: 'Docs', kind: 'folder' }));
    old.prepare('INSERT INTO vals VALUES (?, ?)').run('paused', 'why');
    old.close();
    const state = new SqliteSyncState(file);
    states.push(state);
    expect([...(await state.loadUnder(['Docs'])).values()]).toEqual([
      { path: 'Docs', kind: 'folder' },
      { path: 'Docs/x.txt', kind: 'file', contentHash: 'c'.repeat(64), size: 3, mtime: 7 },
    ]);
    expect(await state.findChunk('a'.repeat(64))).toEqual({ path: 'Docs/x.txt', offset: 0 });
    expect(await state.chunksOf('Docs/x.txt')).toEqual([chunk]);
    expect(await state.caseTwin('docs/X.TXT')).toBe('Docs/x.txt');
    expect(await state.totals()).toEqual({ entries: 2, files: 1, bytes: 3 });
    expect(await state.value('paused')).toBe('why');
  });
});

describe('rounds after the first', () => {
  it('look only where the watcher or the change log says something changed, and get every change right', async () => {
    const a = await device('laptop', 'scoped');
    const b = await device('desk', 'scoped');
    for (let i = 0; i < 300; i++) put(path.join(a.dir, 'many', `f${i}.txt`), `file ${i}`);
    for (let i = 0; i < 5; i++) put(path.join(a.dir, 'folder', `g${i}.txt`), `folder file ${i}`);
    const first = await a.engine.runOnce();
    expect(first).toMatchObject({ full: true, uploaded: 305 });
    expect((await b.engine.runOnce()).full).toBe(true);

    // Nothing heard: nothing compared.
    expect(await a.engine.runOnce()).toMatchObject({ full: false, compared: 0 });

    // An edit here: the watcher names the file; one path is compared and sent.
    put(path.join(a.dir, 'many', 'f7.txt'), 'edited');
    a.engine.touched('many/f7.txt');
    expect(await a.engine.runOnce()).toMatchObject({ full: false, compared: 1, uploaded: 1 });
    // The other device hears of it from the change log alone.
    expect(await b.engine.runOnce()).toMatchObject({ full: false, compared: 1, downloaded: 1 });
    expect(readFileSync(path.join(b.dir, 'many', 'f7.txt'), 'utf8')).toBe('edited');

    // A folder renamed here: sent as moves, nothing uploaded again; the other device
    // renames its files instead of fetching them.
    renameSync(path.join(a.dir, 'folder'), path.join(a.dir, 'renamed'));
    a.engine.touched('folder');
    a.engine.touched('renamed');
    const moved = await a.engine.runOnce();
    expect(moved).toMatchObject({ full: false, moved: 5, uploaded: 0, sentBytes: 0 });
    const there = await b.engine.runOnce();
    expect(there).toMatchObject({ full: false, moved: 5, fetchedBytes: 0 });
    expect(there.compared).toBeLessThanOrEqual(12);
    expect(existsSync(path.join(b.dir, 'folder'))).toBe(false);
    expect(readFileSync(path.join(b.dir, 'renamed', 'g3.txt'), 'utf8')).toBe('folder file 3');

    // Changes made through the relay (another client): a file, a new folder with a file,
    // a delete, a move of a folder.
    await b.client.request('move', { path: 'scoped/renamed', to: 'scoped/again' });
    await b.client.request('trash', { path: 'scoped/many/f1.txt' });
    await b.client.request('mkdir', { path: 'scoped/new/deeper' });
    const fromRelay = await a.engine.runOnce();
    expect(fromRelay.full).toBe(false);
    expect(fromRelay.compared).toBeLessThan(20);
    expect(existsSync(path.join(a.dir, 'again', 'g0.txt'))).toBe(true);
    expect(existsSync(path.join(a.dir, 'renamed'))).toBe(false);
    expect(existsSync(path.join(a.dir, 'many', 'f1.txt'))).toBe(false);
    expect(statSync(path.join(a.dir, 'new', 'deeper')).isDirectory()).toBe(true);

    // A new folder here with files in it, named only by its top (as a watcher reports it).
    for (let i = 0; i < 3; i++) put(path.join(a.dir, 'fresh', 'sub', `h${i}.txt`), `fresh ${i}`);
    a.engine.touched('fresh');
    expect(await a.engine.runOnce()).toMatchObject({ full: false, uploaded: 3 });
    await b.engine.runOnce();

    // Both devices end up alike, and a full round finds nothing left to do.
    a.engine.requestFull();
    b.engine.requestFull();
    expect(await a.engine.runOnce()).toMatchObject({ full: true, uploaded: 0, downloaded: 0, deleted: 0, moved: 0 });
    expect(await b.engine.runOnce()).toMatchObject({ full: true, uploaded: 0, downloaded: 0, deleted: 0, moved: 0 });
    for (const p of ['many/f7.txt', 'again/g4.txt', 'fresh/sub/h2.txt', 'many/f299.txt']) expect(fileSha256(path.join(b.dir, p))).toBe(fileSha256(path.join(a.dir, p)));
    expect(existsSync(path.join(b.dir, 'many', 'f1.txt'))).toBe(false);
  }, 120_000);

  it('a file renamed and changed is the same file: moved, then its new content is its next version', async () => {
    const a = await device('laptop', 'identity');
    const b = await device('desk', 'identity');
    const body = randomBytes(9 * 1024 * 1024);
    put(path.join(a.dir, 'draft.txt'), body);
    await a.engine.runOnce();
    await b.engine.runOnce();
    // An editor's "save as": the same file (inode) under a new name, with an edit.
    renameSync(path.join(a.dir, 'draft.txt'), path.join(a.dir, 'final.txt'));
    put(path.join(a.dir, 'final.txt'), Buffer.concat([body, Buffer.from('the end')]));
    a.engine.touched('draft.txt');
    a.engine.touched('final.txt');
    expect(await a.engine.runOnce()).toMatchObject({ moved: 1, uploaded: 1, deleted: 0 });
    const history = (await a.client.request('history', { path: 'identity/final.txt' })).versions;
    expect(history.map((v) => v.version)).toEqual([2, 1]);
    expect((await a.client.request('trash.list', {})).items.some((t) => t.path === 'identity/draft.txt')).toBe(false);
    const there = await b.engine.runOnce();
    expect(existsSync(path.join(b.dir, 'draft.txt'))).toBe(false);
    expect(fileSha256(path.join(b.dir, 'final.txt'))).toBe(fileSha256(path.join(a.dir, 'final.txt')));
    // B renames its copy and fetches only what changed.
    expect(there.fetchedBytes).toBeLessThan(body.length);
  });

  it('a folder whose name the relay refuses is reported and left here; the round goes on', async () => {
    const a = await device('laptop', 'badnames');
    mkdirSync(path.join(a.dir, 'bad\u0001name'));
    put(path.join(a.dir, 'bad\u0001name', 'inside.txt'), 'kept here');
    put(path.join(a.dir, 'good.txt'), 'sent');
    const r = await a.engine.runOnce();
    expect(r.uploaded).toBe(1);
    expect(a.engine.status.skipped.map((s) => s.path)).toContain('bad\u0001name');
    expect(readFileSync(path.join(a.dir, 'bad\u0001name', 'inside.txt'), 'utf8')).toBe('kept here');
    expect((await a.client.request('tree', { folder: 'badnames' })).entries.map((e) => e.path)).toEqual(['badnames/good.txt']);
  });

  it('a file still being written is looked at again by the next round, without a watcher event', async () => {
    const a = await device('laptop', 'settle');
    await a.engine.runOnce();
    writeFileSync(path.join(a.dir, 'young.txt'), 'just written');
    a.engine.touched('young.txt');
    expect(await a.engine.runOnce()).toMatchObject({ unsettled: 1, uploaded: 0 });
    await new Promise((r) => setTimeout(r, 100));
    expect(await a.engine.runOnce()).toMatchObject({ full: false, unsettled: 0, uploaded: 1 });
  });

  it('the executable bit goes both ways, alone or with the content', async () => {
    const a = await device('laptop', 'modes');
    const b = await device('desk', 'modes');
    put(path.join(a.dir, 'run.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(path.join(a.dir, 'run.sh'), 0o755);
    put(path.join(a.dir, 'plain.txt'), 'text');
    await a.engine.runOnce();
    await b.engine.runOnce();
    expect(statSync(path.join(b.dir, 'run.sh')).mode & 0o111).toBe(0o111);
    expect(statSync(path.join(b.dir, 'plain.txt')).mode & 0o111).toBe(0);
    const versions = (await a.client.request('history', { path: 'modes/run.sh' })).versions;
    expect(versions[0]).toMatchObject({ executable: true });

    // Only the bit changes (chmod keeps the modification time): a new version, no bytes sent.
    chmodSync(path.join(b.dir, 'plain.txt'), 0o744);
    b.engine.touched('plain.txt');
    expect(await b.engine.runOnce()).toMatchObject({ uploaded: 1, sentBytes: 0 });
    expect(await a.engine.runOnce()).toMatchObject({ downloaded: 0, fetchedBytes: 0 });
    expect(statSync(path.join(a.dir, 'plain.txt')).mode & 0o111).toBe(0o111);
    chmodSync(path.join(a.dir, 'run.sh'), 0o644);
    a.engine.touched('run.sh');
    await a.engine.runOnce();
    await b.engine.runOnce();
    expect(statSync(path.join(b.dir, 'run.sh')).mode & 0o111).toBe(0);
    expect((await a.client.request('history', { path: 'modes/plain.txt' })).versions.map((v) => !!v.executable)).toEqual([true, false]);
  });

  it('catches up from the change log after the relay restarted, and looks at everything when the log cannot say', async () => {
    const a = await device('laptop', 'restart');
    const b = await device('desk', 'restart');
    put(path.join(a.dir, 'one.txt'), 'one');
    await a.engine.runOnce();
    await b.engine.runOnce();
    await env.relay.stop();
    env.relay = await startRelayProcess({ dataDir: env.relay.dataDir, port: env.relay.port });
    await a.client.ready();
    await b.client.ready();
    put(path.join(a.dir, 'two.txt'), randomBytes(1000));
    a.engine.touched('two.txt');
    expect(await a.engine.runOnce()).toMatchObject({ full: false, uploaded: 1 });
    expect(await b.engine.runOnce()).toMatchObject({ full: false, compared: 1, downloaded: 1 });

    // A position from another change log (a relay whose database was replaced): everything.
    await b.state.setValue('changes', JSON.stringify({ epoch: 1, position: 1 }));
    rmSync(path.join(a.dir, 'one.txt'));
    a.engine.touched('one.txt');
    await a.engine.runOnce();
    expect(await b.engine.runOnce()).toMatchObject({ full: true, deleted: 1 });
  });
});
