/**
 * The conformance suite every MetaStore backend must pass.
 */
import { describe, expect, it } from 'vitest';
import { DOWNLOAD_UNITS, type CommitInput, type MetaStore, type UploadRecord } from '../../relay/store/meta-store.js';
import type { ChunkRef } from '../../relay/protocol/index.js';

const h = (c: string) => c.repeat(64).slice(0, 64);
const chunk = (c: string, offset = 0, length = 10): ChunkRef => ({ offset, length, sha256: h(c) });
const DAY = 86_400_000;

export function metaStoreContract(name: string, make: () => { store: MetaStore; dispose: () => void }) {
  describe(`MetaStore contract: ${name}`, () => {
    const withStore = (fn: (s: MetaStore, user: number) => void | Promise<void>) => async () => {
      const { store, dispose } = make();
      try {
        const u = store.createUser({ name: 'alice', role: 'user', passwordHash: 'x', now: 1 });
        await fn(store, u.id);
      } finally {
        dispose();
      }
    };
    const commit = (s: MetaStore, userId: number, path: string, content: string, extra: Partial<CommitInput> = {}) =>
      s.commitVersion({
        userId,
        path,
        conflict: 'version',
        size: 10,
        mtime: 5,
        contentHash: h(content),
        sha256: h(content.toUpperCase()),
        sha256Verified: true,
        chunks: [chunk(content)],
        keepReplaced: true,
        now: 1000,
        ...extra,
      });

    it('creates users with unique names (case-insensitive) and counts admins', withStore((s) => {
      expect(() => s.createUser({ name: 'ALICE', role: 'user', passwordHash: 'y', now: 2 })).toThrow(expect.objectContaining({ code: 'USER_EXISTS' }));
      expect(s.countAdmins()).toBe(0);
      s.createUser({ name: 'root', role: 'admin', passwordHash: 'y', now: 2 });
      expect(s.countAdmins()).toBe(1);
      expect(s.getUserByName('Alice')?.name).toBe('alice');
      expect(s.listUsers().map((u) => u.name)).toEqual(['alice', 'root']);
    }));

    it('keeps sessions until deleted or expired', withStore((s, u) => {
      s.createSession('t1', u, 0, 100);
      s.createSession('t2', u, 0, 10);
      expect(s.getSession('t1')).toEqual({ userId: u, expiresAt: 100 });
      expect(s.deleteExpiredSessions(50)).toBe(1);
      expect(s.getSession('t2')).toBeUndefined();
      s.deleteSession('t1');
      expect(s.getSession('t1')).toBeUndefined();
    }));

    it('consumes a setup token once and only before it expires', withStore((s) => {
      s.createSetupToken('a', 100);
      s.createSetupToken('b', 10);
      expect(s.consumeSetupToken('b', 50)).toBe(false);
      expect(s.consumeSetupToken('a', 50)).toBe(true);
      expect(s.consumeSetupToken('a', 50)).toBe(false);
    }));

    const upload = (u: number, id: string, extra: Partial<UploadRecord> = {}): UploadRecord => ({
      id,
      userId: u,
      leg: 'leg1',
      path: 'a.bin',
      size: 20,
      mtime: 1,
      conflict: 'version',
      contentHash: h('c'),
      chunks: [chunk('a'), chunk('b', 10)],
      createdAt: 1,
      updatedAt: 1,
      ...extra,
    });

    it('keeps upload sessions, their chunk lists and held chunks, for the leg that holds them', withStore((s, u) => {
      const rec = upload(u, 'up1');
      s.createUpload(rec);
      expect(s.getUpload('up1')).toMatchObject({ id: 'up1', leg: 'leg1', chunks: rec.chunks, contentHash: h('c') });
      expect(s.openUploads(u)).toEqual([{ id: 'up1', size: 20, updatedAt: 1 }]);
      s.markChunksHeld('up1', 'leg1', [{ index: 1, hash: h('b') }], 50);
      expect([...s.heldChunks('up1')]).toEqual([1]);
      expect(s.staleUploads(40)).toEqual([]);
      expect(s.staleUploads(60).map((r) => r.id)).toEqual(['up1']);
      expect(s.isChunkReferenced(h('b'))).toBe(true);
      // The list grows and its tail changes: held chunks from the change on are forgotten.
      s.markChunksHeld('up1', 'leg1', [{ index: 0, hash: h('a') }], 51);
      s.setUploadChunks('up1', 'leg1', 1, [chunk('z', 10)], '', 1);
      expect(s.getUpload('up1')?.chunks).toEqual([chunk('a'), chunk('z', 10)]);
      expect([...s.heldChunks('up1')]).toEqual([0]);
      s.setUploadChunks('up1', 'leg1', 2, [chunk('y', 20)], h('full'));
      expect(s.getUpload('up1')).toMatchObject({ contentHash: h('full'), chunks: [chunk('a'), chunk('z', 10), chunk('y', 20)] });
      s.deleteUpload('up1');
      expect(s.heldChunks('up1').size).toBe(0);
      expect(() => s.markChunksHeld('up1', 'leg1', [{ index: 0, hash: h('a') }], 60)).toThrow(expect.objectContaining({ code: 'UNKNOWN_UPLOAD' }));
      expect(s.isChunkReferenced(h('b'))).toBe(false);
      expect(s.openUploads(u)).toEqual([]);
    }));

    it('gives a session to the leg that claims it; the earlier leg can no longer change it', withStore((s, u) => {
      s.createUpload(upload(u, 'up'));
      expect(s.claimUpload('up', 'leg2', 5)?.leg).toBe('leg2');
      expect(() => s.markChunksHeld('up', 'leg1', [{ index: 0, hash: h('a') }], 6)).toThrow(expect.objectContaining({ code: 'UPLOAD_CHANGED' }));
      expect(() => s.setUploadChunks('up', 'leg1', 1, [chunk('q', 10)], h('q'))).toThrow(expect.objectContaining({ code: 'UPLOAD_CHANGED' }));
      expect(() => commit(s, u, 'a.bin', 'c', { upload: { id: 'up', leg: 'leg1' } })).toThrow(expect.objectContaining({ code: 'UPLOAD_CHANGED' }));
      s.markChunksHeld('up', 'leg2', [{ index: 0, hash: h('a') }], 6);
      expect(s.claimUpload('gone', 'leg3', 7)).toBeUndefined();
    }));

    it('commits an upload once: a second commit of it finds it gone, and changes nothing', withStore((s, u) => {
      s.createUpload(upload(u, 'up', { path: 'once.bin' }));
      const input = { upload: { id: 'up', leg: 'leg1' } };
      expect(commit(s, u, 'once.bin', 'c', input).version).toBe(1);
      expect(() => commit(s, u, 'once.bin', 'c', input)).toThrow(expect.objectContaining({ code: 'UNKNOWN_UPLOAD' }));
      expect(() => commit(s, u, 'once.bin', 'c', { ...input, conflict: 'rename' })).toThrow(expect.objectContaining({ code: 'UNKNOWN_UPLOAD' }));
      expect(s.listFolder('').map((e) => e.name)).toEqual(['once.bin']);
      expect(s.listVersions('once.bin')).toHaveLength(1);
    }));

    it('refuses to commit a session whose content hash is not the one committed', withStore((s, u) => {
      s.createUpload(upload(u, 'up', { path: 'x.bin', contentHash: h('other') }));
      expect(() => commit(s, u, 'x.bin', 'c', { upload: { id: 'up', leg: 'leg1' } })).toThrow(expect.objectContaining({ code: 'UPLOAD_CHANGED' }));
      expect(s.getUpload('up')).toBeDefined();
      expect(s.getVersion('x.bin')).toBeUndefined();
    }));

    it('refuses a commit or restore past the quota, counting every version the user made', withStore((s, u) => {
      commit(s, u, 'q1', 'a', { quotaBytes: 25 });
      commit(s, u, 'q2', 'b', { quotaBytes: 25 });
      expect(s.userBytes(u)).toBe(20);
      expect(() => commit(s, u, 'q3', 'c', { quotaBytes: 25 })).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED', detail: { usedBytes: 20, quotaBytes: 25, neededBytes: 10 } }));
      expect(() => s.restoreVersion('q1', 1, u, 10, 25)).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED' }));
      expect(s.listVersions('q1')).toHaveLength(1);
      expect(commit(s, u, 'q3', 'c', { quotaBytes: 30 }).version).toBe(1);
    }));

    it('lists folders whose names are outside the Basic Multilingual Plane, and names from U+10FFFF at the root', withStore((s, u) => {
      commit(s, u, 'p/😀/sub/f.txt', 'a');
      commit(s, u, 'p/😀/g.txt', 'b');
      commit(s, u, '\u{10FFFF}top/h.txt', 'c');
      commit(s, u, 'plain.txt', 'd');
      expect(s.listFolder('p').map((e) => [e.kind, e.name, e.path])).toEqual([['folder', '😀', 'p/😀']]);
      expect(s.listFolder('p/😀').map((e) => [e.kind, e.name, e.path])).toEqual([['folder', 'sub', 'p/😀/sub'], ['file', 'g.txt', 'p/😀/g.txt']]);
      expect(s.listFolder('').map((e) => e.name)).toEqual(['p', '\u{10FFFF}top', 'plain.txt']);
      expect(s.isFolder('\u{10FFFF}top')).toBe(true);
    }));

    it('keeps case-only twins apart: two files', withStore((s, u) => {
      commit(s, u, 'Case.txt', 'a');
      commit(s, u, 'case.txt', 'b');
      expect(s.listFolder('').map((e) => e.name)).toEqual(['Case.txt', 'case.txt']);
      expect(s.getVersion('case.txt')?.contentHash).toBe(h('b'));
    }));

    it('counts link downloads by units served: reserved up front, refunded when not sent, refused when used up', withStore((s, u) => {
      s.createLink({ id: 'l1', ownerId: u, path: 'f', createdAt: 1, maxDownloads: 2 });
      expect(s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: true, taken: DOWNLOAD_UNITS });
      expect(s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: true, taken: DOWNLOAD_UNITS });
      expect(s.reserveDownload('l1', 1)).toEqual({ allowed: false, taken: 0 });
      s.refundDownload('l1', DOWNLOAD_UNITS / 2);
      expect(s.getLink('l1')).toMatchObject({ downloads: 1, servedUnits: 1.5 * DOWNLOAD_UNITS });
      // The last response may take what is left and send more.
      expect(s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: true, taken: DOWNLOAD_UNITS / 2 });
      expect(s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: false, taken: 0 });
      s.createLink({ id: 'l2', ownerId: u, path: 'f', createdAt: 1 });
      for (let i = 0; i < 5; i++) s.reserveDownload('l2', DOWNLOAD_UNITS);
      expect(s.getLink('l2')?.downloads).toBe(5);
    }));

    it('remembers devices by token hash', withStore((s, u) => {
      s.createDevice('d1', u, 1);
      expect(s.getDevice('d1')).toEqual({ userId: u });
      expect(s.getDevice('d2')).toBeUndefined();
    }));

    it("answers userChunks from the user's own versions and uploads only", withStore((s, u) => {
      const other = s.createUser({ name: 'bob', role: 'user', passwordHash: 'x', now: 1 }).id;
      commit(s, other, 'bob.bin', 'b');
      commit(s, u, 'mine.bin', 'm');
      expect(s.userChunks(u, [h('b'), h('m')])).toEqual(new Set([h('m')]));
      expect(s.userChunks(other, [h('b'), h('m')])).toEqual(new Set([h('b')]));
    }));

    it('commits versions: numbers grow, the newest is current, history lists all', withStore((s, u) => {
      expect(commit(s, u, 'f.txt', 'a')).toEqual({ path: 'f.txt', version: 1, removed: 0, unchanged: false });
      expect(commit(s, u, 'f.txt', 'b')).toEqual({ path: 'f.txt', version: 2, removed: 0, unchanged: false });
      // The current content again: no version; an earlier content again: a version.
      expect(commit(s, u, 'f.txt', 'b')).toEqual({ path: 'f.txt', version: 2, removed: 0, unchanged: true });
      expect(commit(s, u, 'f.txt', 'b', { conflict: 'rename' })).toEqual({ path: 'f.txt', version: 2, removed: 0, unchanged: true });
      expect(commit(s, u, 'f.txt', 'a').version).toBe(3);
      s.deleteVersions('f.txt', 3);
      expect(s.getVersion('f.txt')?.contentHash).toBe(h('b'));
      expect(s.getVersion('f.txt', 1)?.chunks).toEqual([chunk('a')]);
      expect(s.listVersions('f.txt').map((v) => [v.version, v.current, v.uploader])).toEqual([[2, true, 'alice'], [1, false, 'alice']]);
    }));

    it('renames on conflict when asked: name_v2.ext, name_v3.ext', withStore((s, u) => {
      commit(s, u, 'd/r.tar.gz', 'a');
      expect(commit(s, u, 'd/r.tar.gz', 'b', { conflict: 'rename' }).path).toBe('d/r_v2.tar.gz');
      expect(commit(s, u, 'd/r.tar.gz', 'c', { conflict: 'rename' }).path).toBe('d/r_v3.tar.gz');
      expect(commit(s, u, 'fresh', 'c', { conflict: 'rename' }).path).toBe('fresh');
    }));

    it('overwrite keeps replaced versions unless told not to', withStore((s, u) => {
      commit(s, u, 'o.txt', 'a');
      commit(s, u, 'o.txt', 'b', { conflict: 'overwrite' });
      expect(s.listVersions('o.txt')).toHaveLength(2);
      expect(commit(s, u, 'o.txt', 'c', { conflict: 'overwrite', keepReplaced: false }).removed).toBe(2);
      expect(s.listVersions('o.txt').map((v) => v.version)).toEqual([3]);
    }));

    it('lists a folder: subfolders first, then files with their current version and count', withStore((s, u) => {
      commit(s, u, 'top/a.txt', 'a');
      commit(s, u, 'top/a.txt', 'b');
      commit(s, u, 'top/sub/deep/x.txt', 'x');
      commit(s, u, 'top/sub2/y.txt', 'y');
      commit(s, u, 'topper.txt', 't');
      const entries = s.listFolder('top');
      expect(entries.map((e) => [e.kind, e.name])).toEqual([['folder', 'sub'], ['folder', 'sub2'], ['file', 'a.txt']]);
      const file = entries[2];
      expect(file.kind === 'file' && [file.versions, file.current.version]).toEqual([2, 2]);
      expect(s.listFolder('').map((e) => e.name)).toEqual(['top', 'topper.txt']);
      expect(s.isFolder('top/sub')).toBe(true);
      expect(s.isFolder('top/a.txt')).toBe(false);
    }));

    it('refuses paths that clash with files or folders, atomically', withStore((s, u) => {
      commit(s, u, 'a/b', 'x');
      s.createUpload({ id: 'up', userId: u, leg: 'l', path: 'a/b/c', size: 10, mtime: 1, conflict: 'version', contentHash: h('y'), chunks: [chunk('y')], createdAt: 1, updatedAt: 1 });
      expect(() => commit(s, u, 'a/b/c', 'y', { upload: { id: 'up', leg: 'l' } })).toThrow(expect.objectContaining({ code: 'PATH_CONFLICT' }));
      expect(() => commit(s, u, 'a', 'y')).toThrow(expect.objectContaining({ code: 'IS_FOLDER' }));
      // The failed commit changed nothing: the upload is still open, no file appeared.
      expect(s.getUpload('up')).toBeDefined();
      expect(s.listFolder('a').map((e) => e.name)).toEqual(['b']);
    }));

    it('restores a version as a new current version', withStore((s, u) => {
      commit(s, u, 'r.txt', 'a');
      commit(s, u, 'r.txt', 'b');
      expect(s.restoreVersion('r.txt', 1, u, 2000)).toEqual({ version: 3 });
      expect(s.getVersion('r.txt')?.contentHash).toBe(h('a'));
      expect(() => s.restoreVersion('r.txt', 9, u, 2000)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    }));

    it('deletes one version (the next newest becomes current) or the whole file', withStore((s, u) => {
      commit(s, u, 'x.txt', 'a');
      commit(s, u, 'x.txt', 'b');
      expect(s.deleteVersions('x.txt', 2)).toBe(1);
      expect(s.getVersion('x.txt')?.version).toBe(1);
      commit(s, u, 'x.txt', 'c');
      expect(s.getVersion('x.txt')?.version).toBe(3);
      expect(s.deleteVersions('x.txt')).toBe(2);
      expect(s.getVersion('x.txt')).toBeUndefined();
      expect(() => s.deleteVersions('x.txt')).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
      expect(s.referencedChunks().has(h('a'))).toBe(false);
    }));

    it('applies retention: keep the last N, drop versions older than D days, never the current one', withStore((s, u) => {
      for (const [i, c] of ['a', 'b', 'c', 'd'].entries()) commit(s, u, 'k.txt', c, { now: i * DAY });
      expect(s.applyRetention({ keepVersions: 3, keepDays: 0 }, 4 * DAY)).toBe(1);
      expect(s.listVersions('k.txt').map((v) => v.version)).toEqual([4, 3, 2]);
      // Versions 2 and 3 were made on days 1 and 2; on day 3.6, keeping 1.5 days drops both.
      expect(s.applyRetention({ keepVersions: 0, keepDays: 1.5 }, 3.6 * DAY)).toBe(2);
      expect(s.listVersions('k.txt').map((v) => v.version)).toEqual([4]);
      // The current version stays however old it is.
      expect(s.applyRetention({ keepVersions: 1, keepDays: 1 }, 100 * DAY)).toBe(0);
      expect(s.applyRetention({ keepVersions: 0, keepDays: 0 }, 100 * DAY)).toBe(0);
    }));

    it('knows the SHA-256 of stored content (only where it was computed from the bytes) and which chunks are referenced', withStore((s, u) => {
      commit(s, u, 'z.txt', 'q');
      expect(s.sha256ForContent(h('q'))).toBe(h('Q'));
      commit(s, u, 'unverified.txt', 'w', { sha256Verified: false });
      expect(s.sha256ForContent(h('w'))).toBeUndefined();
      const v = s.getVersion('unverified.txt')!;
      expect(v.sha256Verified).toBe(false);
      s.markSha256Verified(v.id);
      expect(s.sha256ForContent(h('w'))).toBe(h('W'));
      s.deleteVersions('unverified.txt');
      expect(s.sha256ForContent(h('w'))).toBeUndefined();
      expect(s.referencedChunks()).toEqual(new Set([h('q')]));
      expect(s.logicalBytes()).toBe(10);
    }));
  });
}
