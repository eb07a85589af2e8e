import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { downloadFile, uploadFile } from '../../relay/client/index.js';
import { Library } from '../../relay/library.js';
import { FsChunkStore } from '../../relay/store/fs-chunk-store.js';
import { SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { ALICE, aliceOnRelay, relayLog, signIn, startRelayProcess, tempDir, waitFor } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

describe('relay logs and integrity checks', () => {
  const f = aliceOnRelay();

  it('logs connections, logins ok and failed, and each transfer with size, duration, speed and hash', async () => {
    await signIn(f.env.relay, ALICE.name, 'wrong').catch(() => {});
    const data = randomData(2 * CHUNK_SIZE);
    await uploadFile(f.alice, bufferSource(data), { path: 'logged/file.bin' });
    const transfer = await waitFor(() => relayLog(f.env.relay.dataDir).find((l) => l.event === 'transfer' && l.path === 'logged/file.bin'));
    expect(transfer).toMatchObject({ direction: 'upload', user: 'alice', size: 2 * CHUNK_SIZE, sha256: sha256(data), version: 1 });
    expect(transfer.durationMs).toEqual(expect.any(Number));
    expect(transfer.mibPerSec).toEqual(expect.any(Number));
    expect(Date.parse(transfer.time as string)).toBeGreaterThan(Date.now() - 60_000);
    const lines = relayLog(f.env.relay.dataDir);
    expect(lines.some((l) => l.event === 'connect')).toBe(true);
    expect(lines.some((l) => l.event === 'login' && l.ok === true && l.user === 'alice')).toBe(true);
    expect(lines.some((l) => l.event === 'login' && l.ok === false && l.user === 'alice')).toBe(true);
    // Passwords never reach the log.
    expect(readFileSync(path.join(f.env.relay.dataDir, 'logs', 'current.log'), 'utf8')).not.toContain(ALICE.password);
  });

  it.runIf(statfsSync(tmpdir()).type === 0xef53 && spawnSync('fincore', ['--version']).status === 0)(
    'writes uploaded chunks to disk without passing them through the page cache (ext4)',
    async () => {
      const data = randomData(3 * CHUNK_SIZE + 12345);
      const up = await uploadFile(f.alice, bufferSource(data), { path: 'direct/file.bin' });
      expect(up.sha256).toBe(sha256(data));
      const files = up.chunks.map((c) => path.join(f.env.relay.dataDir, 'chunks', c.sha256.slice(0, 2), c.sha256.slice(2, 4), c.sha256));
      const cached = execFileSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', ...files], { encoding: 'utf8' }).trim().split('\n').map(Number);
      expect(cached).toEqual(files.map(() => 0));
      const sink = memorySink();
      await downloadFile(f.alice, sink, { path: 'direct/file.bin' });
      expect(sha256(sink.bytes())).toBe(sha256(data));
    },
  );

  it('verify names the chunks whose stored bytes were damaged', async () => {
    const data = randomData(3 * CHUNK_SIZE);
    const up = await uploadFile(f.alice, bufferSource(data), { path: 'damaged.bin' });
    const victim = up.chunks[1].sha256;
    const file = path.join(f.env.relay.dataDir, 'chunks', victim.slice(0, 2), victim.slice(2, 4), victim);
    const bytes = readFileSync(file);
    bytes[100] ^= 1;
    writeFileSync(file, bytes);
    const r = await f.alice.request('verify', { path: 'damaged.bin' });
    expect(r).toMatchObject({ ok: false, badChunks: [1], sha256Ok: false, version: 1 });
  });
});

describe('first start', () => {
  it('prints a one-time setup link that creates the admin once', async () => {
    const tmp = tempDir();
    const relay = await startRelayProcess({ dataDir: path.join(tmp.dir, 'data') });
    try {
      const link = await waitFor(() => /(http:\/\/127\.0\.0\.1:\d+\/setup\?token=[\w-]+)/.exec(relay.output())?.[1]);
      const token = new URL(link).searchParams.get('token')!;
      const page = await fetch(link);
      expect(page.status).toBe(200);
      const form = await page.text();
      expect(form).toContain('name="token"');
      expect(form).toContain('name="confirm"');
      const post = (user: string, password: string, t = token) =>
        fetch(`${relay.httpUrl}/setup`, { method: 'POST', body: new URLSearchParams({ token: t, user, password }) });
      const bad = await post('root', 'short');
      expect(bad.status).toBe(400);
      expect(await bad.text()).toContain('BAD_MESSAGE');
      const typo = await fetch(`${relay.httpUrl}/setup`, { method: 'POST', body: new URLSearchParams({ token, user: 'root', password: 'long-enough-password', confirm: 'long-enough-passwort' }) });
      expect(typo.status).toBe(400);
      expect(await typo.text()).toContain('The two passwords differ');
      const wrong = await post('root', 'long-enough-password', 'forged');
      expect(await wrong.text()).toContain('SETUP_INVALID');
      expect((await post('root', 'long-enough-password')).status).toBe(201);
      expect((await post('other', 'long-enough-password')).status).toBe(410);
      const root = await signIn(relay, 'root', 'long-enough-password');
      expect(root.user).toEqual({ name: 'root', role: 'admin' });
      root.close();
    } finally {
      await relay.stop();
      tmp.remove();
    }
  });
});

describe('sweeping', () => {
  it('expires abandoned uploads and collects their chunks', async () => {
    const tmp = tempDir();
    const meta = new SqliteMetaStore(path.join(tmp.dir, 'db'));
    const chunks = new FsChunkStore(path.join(tmp.dir, 'chunks'));
    const library = new Library(chunks, meta, { retention: { keepVersions: 0, keepDays: 0 }, history: true, uploadExpiryMs: 7 * 86_400_000, gcGraceMs: 0, trashDays: 30 }, pino({ level: 'silent' }));
    try {
      const user = await meta.createUser({ name: 'u', role: 'user', passwordHash: 'x', now: 0 });
      const data = randomData(100);
      const { upload, need } = await library.beginUpload(user, { spaceId: (await meta.homeSpace(user.id)).id, path: 'p', size: 100, mtime: 0, chunks: [{ offset: 0, length: 100, sha256: sha256(data) }], conflict: 'version', partial: false });
      expect(need).toEqual([0]);
      await library.storeChunk(upload, 0, data);
      expect(await chunks.has(sha256(data))).toBe(true);
      // Six days later it is still there; eight days later it is gone with its chunk.
      expect(await library.sweep(Date.now() + 6 * 86_400_000)).toMatchObject({ expiredUploads: 0, collectedChunks: 0 });
      expect(await library.sweep(Date.now() + 8 * 86_400_000)).toMatchObject({ expiredUploads: 1, collectedChunks: 1 });
      expect(await chunks.has(sha256(data))).toBe(false);
      expect(await meta.getUpload(upload.record.id)).toBeUndefined();
    } finally {
      await library.close();
      await meta.close();
      tmp.remove();
    }
  });

  it('deletes trashed items for good after --trash-days, and only then collects their chunks', async () => {
    const tmp = tempDir();
    const meta = new SqliteMetaStore(path.join(tmp.dir, 'db'));
    const chunks = new FsChunkStore(path.join(tmp.dir, 'chunks'));
    const library = new Library(chunks, meta, { retention: { keepVersions: 0, keepDays: 0 }, history: true, uploadExpiryMs: 7 * 86_400_000, gcGraceMs: 0, trashDays: 3 }, pino({ level: 'silent' }));
    try {
      const user = await meta.createUser({ name: 'u', role: 'user', passwordHash: 'x', now: 0 });
      const space = (await meta.homeSpace(user.id)).id;
      const data = randomData(100);
      const { upload } = await library.beginUpload(user, { spaceId: space, path: 'gone.bin', size: 100, mtime: 0, chunks: [{ offset: 0, length: 100, sha256: sha256(data) }], conflict: 'version', partial: false });
      await library.storeChunk(upload, 0, data);
      await library.commitUpload(user, upload.record.id, upload, upload.record.contentHash);
      await library.trash(user, space, 'gone.bin');
      // Two days on it can still be restored; four days on it is gone with its chunk.
      expect(await library.sweep(Date.now() + 2 * 86_400_000)).toMatchObject({ purgedTrash: 0, collectedChunks: 0 });
      expect(await meta.listTrash(space)).toHaveLength(1);
      expect(await library.sweep(Date.now() + 4 * 86_400_000)).toMatchObject({ purgedTrash: 1, collectedChunks: 1 });
      expect(await meta.listTrash(space)).toEqual([]);
      expect(await chunks.has(sha256(data))).toBe(false);
    } finally {
      await library.close();
      await meta.close();
      tmp.remove();
    }
  });
});
