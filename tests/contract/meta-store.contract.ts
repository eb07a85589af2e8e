/**
 * The conformance suite every MetaStore backend must pass.
 */
import { describe, expect, it } from 'vitest';
import { DOWNLOAD_UNITS, type CommitInput, type MetaStore, type UploadRecord } from '../../relay/store/meta-store.js';
import type { ChunkRef } from '../../relay/protocol/index.js';

const h = (c: string) => c.repeat(64).slice(0, 64);
const chunk = (c: string, offset = 0, length = 10): ChunkRef => ({ offset, length, sha256: h(c) });
const DAY = 86_400_000;
/** The My files of alice, the user every test starts with. */
const home = async (s: MetaStore) => (await s.homeSpace((await s.getUserByName('alice'))!.id)).id;

/**
 * `make` opens a fresh store; `second`, when the backend has one, opens another handle
 * on the same database (what a second relay would hold), for the racing tests.
 */
export function metaStoreContract(name: string, make: () => Promise<{ store: MetaStore; dispose: () => Promise<void>; second?: () => Promise<MetaStore> }>, opts: { racing?: boolean } = {}) {
  const hasSecond = !!opts.racing;
  describe(`MetaStore contract: ${name}`, () => {
    const withStore = (fn: (s: MetaStore, user: number) => void | Promise<void>) => async () => {
      const { store, dispose } = await make();
      try {
        const u = await store.createUser({ name: 'alice', role: 'user', passwordHash: 'x', now: 1 });
        await fn(store, u.id);
      } finally {
        await dispose();
      }
    };
    const commit = async (s: MetaStore, userId: number, path: string, content: string, extra: Partial<CommitInput> = {}) =>
      await s.commitVersion({
        userId,
        spaceId: await home(s),
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

    it('compare-and-swap: a current base writes, equal content is no change, a stale base is a marked conflict that loses nothing', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'doc.txt', 'one');
      // Based on what is there: an ordinary new version.
      expect(await commit(s, u, 'doc.txt', 'two', { base: h('one'), device: 'laptop' })).toMatchObject({ path: 'doc.txt', version: 2, unchanged: false });
      expect((await commit(s, u, 'doc.txt', 'two', { base: h('one'), device: 'desk' })).unchanged).toBe(true);
      // Based on 'one' while 'two' is current: kept as version 3 (not current) and a copy.
      const lost = await commit(s, u, 'doc.txt', 'three', { base: h('one'), device: 'desk', now: new Date(2026, 11, 1, 14, 3).getTime() });
      expect(lost).toMatchObject({ conflict: 'copy', conflictVersion: 3, path: 'doc (conflict from desk 2026-12-01 14.03).txt', version: 1 });
      const versions = await s.listVersions(sp, 'doc.txt');
      expect(versions.map((v) => [v.version, v.current, v.conflict])).toEqual([[3, false, 'desk'], [2, true, undefined], [1, false, undefined]]);
      expect((await s.getVersion(sp, lost.path))!.contentHash).toBe(h('three'));
      // A new file where one appeared meanwhile (base ''): a conflict too.
      await commit(s, u, 'new.txt', 'theirs');
      expect((await commit(s, u, 'new.txt', 'mine', { base: '', device: 'laptop' })).conflict).toBe('copy');
      // Edited here, trashed elsewhere: it comes back, marked.
      await commit(s, u, 'gone.txt', 'g1');
      await s.trash(sp, 'gone.txt', u, 2000);
      const back = await commit(s, u, 'gone.txt', 'g2', { base: h('g1'), device: 'phone' });
      expect(back).toMatchObject({ conflict: 'revived', path: 'gone.txt' });
      expect((await s.getVersion(sp, 'gone.txt'))).toMatchObject({ contentHash: h('g2'), conflict: 'phone' });
      // Copies are capped; past the cap the write is in the history only.
      for (let i = 0; i < 6; i++) await commit(s, u, 'doc.txt', `late${i}`, { base: h('one'), device: 'desk', now: 5000 + i });
      const copies = (await s.listFolder(sp, '')).filter((e) => e.name.startsWith('doc (conflict from desk'));
      expect(copies).toHaveLength(5);
      expect((await s.listVersions(sp, 'doc.txt')).filter((v) => v.conflict === 'desk')).toHaveLength(7);
      expect((await s.getVersion(sp, 'doc.txt'))!.contentHash).toBe(h('two'));
    }));

    it('lists a folder tree a page at a time, in code point order, with empty folders', withStore(async (s, u) => {
      const sp = await home(s);
      for (const p of ['t/b.txt', 't/a/z.txt', 't/\u{1F600}.txt', 't/\uFFFD.txt', 'other.txt']) await commit(s, u, p, p);
      await s.makeFolder(sp, 't/empty', 1);
      const all = await s.tree(sp, 't', undefined, 100);
      expect(all.map((e) => e.path)).toEqual(['t/a', 't/a/z.txt', 't/b.txt', 't/empty', 't/\uFFFD.txt', 't/\u{1F600}.txt']);
      expect(all[1]).toMatchObject({ kind: 'file', version: 1, contentHash: h('t/a/z.txt') });
      const first = await s.tree(sp, 't', undefined, 2);
      const rest = await s.tree(sp, 't', first[1].path, 100);
      expect([...first, ...rest]).toEqual(all);
    }));

    it('says what is at given paths: files, explicit and implied folders, nothing for the rest or the trashed', withStore(async (s, u) => {
      const sp = await home(s);
      for (const p of ['t/b.txt', 't/a/z.txt', 'gone.txt']) await commit(s, u, p, p);
      await s.makeFolder(sp, 'empty', 1);
      await s.trash(sp, 'gone.txt', u, 2);
      const at = await s.entriesAt(sp, ['t/b.txt', 't/a', 't', 'empty', 'gone.txt', 'nothing', 't/a/z.txt/x']);
      expect(at).toEqual([
        { kind: 'folder', path: 'empty' },
        { kind: 'folder', path: 't' },
        { kind: 'folder', path: 't/a' },
        { kind: 'file', path: 't/b.txt', size: 10, mtime: 5, version: 1, contentHash: h('t/b.txt') },
      ]);
      expect(await s.entriesAt(sp, [])).toEqual([]);
    }));

    it('keeps the executable bit of each version; a change of it alone is a new version', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'run.sh', 'script');
      expect((await commit(s, u, 'run.sh', 'script', { executable: true, base: h('script') })).unchanged).toBe(false);
      expect((await commit(s, u, 'run.sh', 'script', { executable: true })).unchanged).toBe(true);
      expect((await s.getVersion(sp, 'run.sh'))).toMatchObject({ version: 2, executable: true });
      expect((await s.getVersion(sp, 'run.sh', 1))!.executable).toBeUndefined();
      expect((await s.tree(sp, '', undefined, 10))[0]).toMatchObject({ path: 'run.sh', executable: true });
      expect((await s.entriesAt(sp, ['run.sh']))[0]).toMatchObject({ executable: true });
      // Restoring a version brings its bit back.
      await s.restoreVersion(sp, 'run.sh', 1, u, 3000);
      expect((await s.getVersion(sp, 'run.sh'))!.executable).toBeUndefined();
    }));

    it('keeps key records: one per person, replaced only when asked', withStore(async (s, u) => {
      expect(await s.getKeyRecord(u)).toBeUndefined();
      await s.putKeyRecord(u, '{"v":1}', 1, false);
      await expect(s.putKeyRecord(u, '{"v":2}', 2, false)).rejects.toMatchObject({ code: 'E2E_KEYS_EXIST' });
      await s.putKeyRecord(u, '{"v":3}', 3, true);
      expect(await s.getKeyRecord(u)).toBe('{"v":3}');
    }));

    it('encrypted folders: only sealed versions with encrypted names inside, nothing sealed outside, no move across the boundary', withStore(async (s, u) => {
      const sp = await home(s);
      const enc = (n: string) => `e1.${n.padEnd(40, 'A')}`;
      const sealed = 'm1.1.AAAA';
      await s.makeEncryptedFolder(sp, 'vault', 'F'.repeat(22), u, 'envelope', 1, 'alice');
      expect(await s.encryptionRoot(sp, 'vault')).toEqual({ path: 'vault', id: 'F'.repeat(22) });
      expect(await s.encryptionRoot(sp, `vault/${enc('a')}`)).toEqual({ path: 'vault', id: 'F'.repeat(22) });
      expect(await s.encryptionRoot(sp, 'vaultx/a')).toBeUndefined();
      expect(await s.folderKeys('F'.repeat(22), u)).toEqual([{ epoch: 1, envelope: 'envelope' }]);
      expect([...(await s.encryptedFoldersIn(sp, '')).entries()]).toEqual([['vault', 'F'.repeat(22)]]);
      // Plain names, or no sealed facts, are refused inside; sealed facts outside.
      await expect(commit(s, u, 'vault/plain.txt', 'p', { sealed })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      await expect(commit(s, u, `vault/${enc('b')}`, 'p')).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      await expect(commit(s, u, 'plain.txt', 'p', { sealed })).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      await expect(commit(s, u, `vault/${enc('b')}`, 'p', { sealed, conflict: 'rename' })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      await expect(s.makeFolder(sp, 'vault/plain', 2)).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      await s.makeFolder(sp, `vault/${enc('d')}`, 2);
      const inside = `vault/${enc('d')}/${enc('f')}`;
      await commit(s, u, inside, 'one', { sealed });
      expect((await s.getVersion(sp, inside))!.sealed).toBe(sealed);
      expect((await s.tree(sp, 'vault', undefined, 10)).find((e) => e.path === inside)).toMatchObject({ sealed });
      // A stale base inside: kept in the history, no sibling copy (the relay cannot name one).
      await commit(s, u, inside, 'two', { sealed, base: h('one') });
      const lost = await commit(s, u, inside, 'three', { sealed, base: h('one'), device: 'desk' });
      expect(lost.conflict).toBe('history');
      expect((await s.listFolder(sp, `vault/${enc('d')}`)).map((e) => e.path)).toEqual([inside]);
      // Nesting and crossing the boundary are refused; moving inside, or the whole folder, is not.
      await expect(s.makeEncryptedFolder(sp, `vault/${enc('n')}`, 'G'.repeat(22), u, 'e', 3)).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      await expect(s.makeEncryptedFolder(sp, 'vault', 'H'.repeat(22), u, 'e', 3)).rejects.toMatchObject({ code: 'PATH_CONFLICT' });
      await expect(s.move({ spaceId: sp, path: inside }, { spaceId: sp, path: 'out.bin' })).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      await commit(s, u, 'plain.txt', 'p');
      await expect(s.move({ spaceId: sp, path: 'plain.txt' }, { spaceId: sp, path: `vault/${enc('p')}` })).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      await expect(s.move({ spaceId: sp, path: inside }, { spaceId: sp, path: `vault/${enc('d')}/plain` })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      // A file given a new name: every version's facts come sealed again with the move, or it is refused.
      await expect(s.move({ spaceId: sp, path: inside }, { spaceId: sp, path: `vault/${enc('g')}` })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      const nums = (await s.listVersions(sp, inside)).map((v) => v.version);
      await expect(s.move({ spaceId: sp, path: inside }, { spaceId: sp, path: `vault/${enc('g')}` }, undefined, nums.slice(1).map((version) => ({ version, sealed: `m1.1.again${version}` })))).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      expect((await s.getVersion(sp, inside))!.sealed).toBe(sealed);
      await s.move({ spaceId: sp, path: inside }, { spaceId: sp, path: `vault/${enc('g')}` }, undefined, nums.map((version) => ({ version, sealed: `m1.1.again${version}` })));
      const resealed = (await s.getVersion(sp, `vault/${enc('g')}`))!.sealed;
      expect((await s.listVersions(sp, `vault/${enc('g')}`)).map((v) => [v.version, v.sealed])).toEqual(nums.map((n) => [n, `m1.1.again${n}`]));
      expect(resealed).toMatch(/^m1\.1\.again\d$/);
      // Sealed again where the name stays: refused.
      await expect(s.move({ spaceId: sp, path: `vault/${enc('g')}` }, { spaceId: sp, path: `vault/${enc('d')}/${enc('g')}` }, undefined, [])).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      await s.makeEncryptedFolder(sp, 'other', 'G'.repeat(22), u, 'e', 4);
      await expect(s.move({ spaceId: sp, path: 'vault' }, { spaceId: sp, path: `other/${enc('v')}` })).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      await s.move({ spaceId: sp, path: 'vault' }, { spaceId: sp, path: 'archive/vault' });
      expect(await s.encryptionRoot(sp, `archive/vault/${enc('g')}`)).toEqual({ path: 'archive/vault', id: 'F'.repeat(22) });
      expect((await s.getVersion(sp, `archive/vault/${enc('g')}`))!.sealed).toBe(resealed);
      // What was trashed inside goes back only into its encrypted folder.
      const item = await s.trash(sp, `archive/vault/${enc('g')}`, u, 5);
      await s.trash(sp, 'archive/vault', u, 6);
      await expect(s.untrash(item.id)).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
    }));

    it('keeps a hidden space of encrypted link copies per person: owner only, sealed only, copies dropped when no live link hands them out', withStore(async (s, u) => {
      const bob = await s.createUser({ name: 'bob', role: 'user', passwordHash: 'x', now: 1 });
      const ls = await s.linkSpace(u);
      expect(await s.linkSpace(u)).toBe(ls); // made once
      expect(await s.linkSpace(bob.id)).not.toBe(ls);
      expect((await s.spacesOf(u)).map((x) => x.kind)).toEqual(['home']);
      expect(await s.accessOf(u, ls)).toBe('edit');
      expect(await s.accessOf(bob.id, ls)).toBeUndefined();
      const sealed = `m1.1.${'A'.repeat(40)}`;
      await expect(commit(s, u, 'copyA', 'a', { spaceId: ls })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      const t0 = 10 * DAY;
      await commit(s, u, 'copyA', 'a', { spaceId: ls, sealed, now: t0 });
      await commit(s, u, 'copyB', 'b', { spaceId: ls, sealed, now: t0 });
      await commit(s, u, 'copyC', 'c', { spaceId: ls, sealed, now: t0 });
      const id = async (p: string) => (await s.getVersion(ls, p))!.fileId;
      await s.createLink({ id: 'la', ownerId: u, fileId: await id('copyA'), createdAt: t0, e2e: { key: 'wrapped' } });
      await s.createLink({ id: 'lb', ownerId: u, fileId: await id('copyB'), createdAt: t0, expiresAt: t0 + DAY, e2e: { key: 'wrapped' } });
      expect(await s.getLink('la')).toMatchObject({ e2e: { key: 'wrapped', sealed } });
      // Just after: every copy is live or waiting for its link.
      expect(await s.deadLinkCopies(t0 + 1)).toEqual([]);
      // copyC was never linked: after the grace it goes. copyB expires with its link.
      expect((await s.deadLinkCopies(t0 + 2 * 3_600_000)).map((c) => c.path)).toEqual(['copyC']);
      expect((await s.deadLinkCopies(t0 + 2 * DAY)).map((c) => c.path).sort()).toEqual(['copyB', 'copyC']);
      await s.revokeLink('la', t0 + 5);
      expect((await s.deadLinkCopies(t0 + 6)).map((c) => c.path)).toEqual(['copyA']);
      // A second live link to the same copy keeps it.
      await s.createLink({ id: 'la2', ownerId: u, fileId: await id('copyA'), createdAt: t0, e2e: { key: 'wrapped' } });
      expect(await s.deadLinkCopies(t0 + 6)).toEqual([]);
      // Deleting the copy takes its links along; deleting the person, the whole space.
      await s.deleteVersions(ls, 'copyA');
      expect(await s.getLink('la2')).toBeUndefined();
      await s.deleteUser(u);
      expect(await s.accessOf(u, ls)).toBeUndefined();
      expect(await s.getVersion(ls, 'copyB')).toBeUndefined();
    }));

    it('creates users with unique names (case-insensitive) and counts admins', withStore(async (s) => {
      await expect(s.createUser({ name: 'ALICE', role: 'user', passwordHash: 'y', now: 2 })).rejects.toMatchObject({ code: 'USER_EXISTS' });
      expect(await s.countAdmins()).toBe(0);
      await s.createUser({ name: 'root', role: 'admin', passwordHash: 'y', now: 2 });
      expect(await s.countAdmins()).toBe(1);
      expect((await s.getUserByName('Alice'))?.name).toBe('alice');
      expect((await s.listUsers()).map((u) => u.name)).toEqual(['alice', 'root']);
    }));

    it('keeps sessions until deleted or expired', withStore(async (s, u) => {
      await s.createSession('t1', u, 0, 100);
      await s.createSession('t2', u, 0, 10);
      expect(await s.getSession('t1')).toMatchObject({ userId: u, expiresAt: 100, user: { id: u, disabled: false } });
      expect(await s.deleteExpiredSessions(50)).toBe(1);
      expect(await s.getSession('t2')).toBeUndefined();
      await s.deleteSession('t1');
      expect(await s.getSession('t1')).toBeUndefined();
    }));

    it('consumes a setup token once and only before it expires', withStore(async (s) => {
      await s.createSetupToken('a', 100);
      await s.createSetupToken('b', 10);
      expect(await s.consumeSetupToken('b', 50)).toBe(false);
      expect(await s.consumeSetupToken('a', 50)).toBe(true);
      expect(await s.consumeSetupToken('a', 50)).toBe(false);
    }));


    it('keeps upload sessions, their chunk lists and held chunks, for the leg that holds them', withStore(async (s, u) => {
      const rec = upload(u, 'up1');
      await s.createUpload({ ...rec, spaceId: await home(s) });
      expect(await s.getUpload('up1')).toMatchObject({ id: 'up1', leg: 'leg1', chunks: rec.chunks, contentHash: h('c') });
      expect(await s.openUploads(u)).toEqual([{ id: 'up1', size: 20, updatedAt: 1 }]);
      await s.markChunksHeld('up1', 'leg1', [{ index: 1, hash: h('b') }], 50);
      expect([...(await s.heldChunks('up1'))]).toEqual([1]);
      expect(await s.staleUploads(40)).toEqual([]);
      expect((await s.staleUploads(60)).map((r) => r.id)).toEqual(['up1']);
      expect(await s.isChunkReferenced(h('b'))).toBe(true);
      // The list grows and its tail changes: held chunks from the change on are forgotten.
      await s.markChunksHeld('up1', 'leg1', [{ index: 0, hash: h('a') }], 51);
      await s.setUploadChunks('up1', 'leg1', 1, [chunk('z', 10)], '', 1);
      expect((await s.getUpload('up1'))?.chunks).toEqual([chunk('a'), chunk('z', 10)]);
      expect([...(await s.heldChunks('up1'))]).toEqual([0]);
      await s.setUploadChunks('up1', 'leg1', 2, [chunk('y', 20)], h('full'));
      expect(await s.getUpload('up1')).toMatchObject({ contentHash: h('full'), chunks: [chunk('a'), chunk('z', 10), chunk('y', 20)] });
      await s.deleteUpload('up1');
      expect((await s.heldChunks('up1')).size).toBe(0);
      await expect(s.markChunksHeld('up1', 'leg1', [{ index: 0, hash: h('a') }], 60)).rejects.toMatchObject({ code: 'UNKNOWN_UPLOAD' });
      expect(await s.isChunkReferenced(h('b'))).toBe(false);
      expect(await s.openUploads(u)).toEqual([]);
    }));

    it('collects a chunk only when nothing references it, and forgets held chunks found missing', withStore(async (s, u) => {
      await s.createUpload({ ...upload(u, 'up1'), spaceId: await home(s) });
      await s.markChunksHeld('up1', 'leg1', [{ index: 0, hash: h('a') }, { index: 1, hash: h('b') }], 50);
      const removed: string[] = [];
      const remove = (x: string) => async () => void removed.push(x);
      expect(await s.collectChunk(h('a'), remove('a'))).toBe(false);
      expect(await s.collectChunk(h('q'), remove('q'))).toBe(true);
      await s.forgetHeldChunks('up1', [1]);
      expect([...(await s.heldChunks('up1'))]).toEqual([0]);
      expect(await s.collectChunk(h('b'), remove('b'))).toBe(true);
      expect(removed).toEqual(['q', 'b']);
      // A failing delete leaves the decision undone.
      await expect(s.collectChunk(h('r'), async () => { throw new Error('disk'); })).rejects.toThrow('disk');
    }));

    it('keeps the log lines relays share in order, the newest on request, and forgets old ones', withStore(async (s) => {
      await s.appendLogLines('r1', [{ at: 100, line: '{"n":1}' }, { at: 200, line: '{"n":2}' }]);
      await s.appendLogLines('r2', [{ at: 300, line: '{"n":3}' }]);
      const all = await s.logLines(0, 10);
      expect(all.map((l) => [l.relay, l.line])).toEqual([['r1', '{"n":1}'], ['r1', '{"n":2}'], ['r2', '{"n":3}']]);
      expect((await s.logLines(undefined, 2)).map((l) => l.line)).toEqual(['{"n":2}', '{"n":3}']);
      expect((await s.logLines(all[0].seq, 1)).map((l) => l.line)).toEqual(['{"n":2}']);
      expect(await s.pruneLogLines(250)).toBe(2);
      expect((await s.logLines(0, 10)).map((l) => l.line)).toEqual(['{"n":3}']);
    }));

    it('gives a lease to one holder at a time until it ends or is given back', withStore(async (s) => {
      expect(await s.takeLease('gc', 'r1', 1000, 0)).toBe(true);
      expect(await s.takeLease('gc', 'r2', 1000, 500)).toBe(false);
      expect(await s.takeLease('gc', 'r1', 1000, 900)).toBe(true); // renewed until 1900
      expect(await s.takeLease('gc', 'r2', 1000, 1500)).toBe(false);
      expect(await s.takeLease('gc', 'r2', 1000, 2000)).toBe(true); // r1's ran out
      await s.dropLease('gc', 'r1'); // not theirs any more: nothing happens
      expect(await s.takeLease('gc', 'r1', 1000, 2100)).toBe(false);
      await s.dropLease('gc', 'r2');
      expect(await s.takeLease('gc', 'r1', 1000, 2200)).toBe(true);
      expect(await s.takeLease('other', 'r2', 1000, 2200)).toBe(true);
    }));

    it('gives a session to the leg that claims it; the earlier leg can no longer change it', withStore(async (s, u) => {
      await s.createUpload(upload(u, 'up', { spaceId: await home(s) }));
      expect((await s.claimUpload('up', 'leg2', 5))?.leg).toBe('leg2');
      await expect(s.markChunksHeld('up', 'leg1', [{ index: 0, hash: h('a') }], 6)).rejects.toMatchObject({ code: 'UPLOAD_CHANGED' });
      await expect(s.setUploadChunks('up', 'leg1', 1, [chunk('q', 10)], h('q'))).rejects.toMatchObject({ code: 'UPLOAD_CHANGED' });
      await expect(commit(s, u, 'a.bin', 'c', { upload: { id: 'up', leg: 'leg1' } })).rejects.toMatchObject({ code: 'UPLOAD_CHANGED' });
      await s.markChunksHeld('up', 'leg2', [{ index: 0, hash: h('a') }], 6);
      expect(await s.claimUpload('gone', 'leg3', 7)).toBeUndefined();
    }));

    it('commits an upload once: a second commit of it finds it gone, and changes nothing', withStore(async (s, u) => {
      await s.createUpload(upload(u, 'up', { spaceId: await home(s), path: 'once.bin' }));
      const input = { upload: { id: 'up', leg: 'leg1' } };
      expect((await commit(s, u, 'once.bin', 'c', input)).version).toBe(1);
      await expect(commit(s, u, 'once.bin', 'c', input)).rejects.toMatchObject({ code: 'UNKNOWN_UPLOAD' });
      await expect(commit(s, u, 'once.bin', 'c', { ...input, conflict: 'rename' })).rejects.toMatchObject({ code: 'UNKNOWN_UPLOAD' });
      expect((await s.listFolder(await home(s), '')).map((e) => e.name)).toEqual(['once.bin']);
      expect(await s.listVersions(await home(s), 'once.bin')).toHaveLength(1);
    }));

    it('refuses to commit a session whose content hash is not the one committed', withStore(async (s, u) => {
      await s.createUpload(upload(u, 'up', { spaceId: await home(s), path: 'x.bin', contentHash: h('other') }));
      await expect(commit(s, u, 'x.bin', 'c', { upload: { id: 'up', leg: 'leg1' } })).rejects.toMatchObject({ code: 'UPLOAD_CHANGED' });
      expect(await s.getUpload('up')).toBeDefined();
      expect(await s.getVersion(await home(s), 'x.bin')).toBeUndefined();
    }));

    it('refuses a commit or restore past the quota, counting every version the user made', withStore(async (s, u) => {
      await commit(s, u, 'q1', 'a', { quotaBytes: 25 });
      await commit(s, u, 'q2', 'b', { quotaBytes: 25 });
      expect(await s.userBytes(u)).toBe(20);
      await expect(commit(s, u, 'q3', 'c', { quotaBytes: 25 })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED', detail: { usedBytes: 20, quotaBytes: 25, neededBytes: 10 } });
      await expect(s.restoreVersion(await home(s), 'q1', 1, u, 10, 25)).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
      expect(await s.listVersions(await home(s), 'q1')).toHaveLength(1);
      expect((await commit(s, u, 'q3', 'c', { quotaBytes: 30 })).version).toBe(1);
    }));

    it('lists folders whose names are outside the Basic Multilingual Plane, and names from U+10FFFF at the root', withStore(async (s, u) => {
      await commit(s, u, 'p/😀/sub/f.txt', 'a');
      await commit(s, u, 'p/😀/g.txt', 'b');
      await commit(s, u, '\u{10FFFF}top/h.txt', 'c');
      await commit(s, u, 'plain.txt', 'd');
      expect((await s.listFolder(await home(s), 'p')).map((e) => [e.kind, e.name, e.path])).toEqual([['folder', '😀', 'p/😀']]);
      expect((await s.listFolder(await home(s), 'p/😀')).map((e) => [e.kind, e.name, e.path])).toEqual([['folder', 'sub', 'p/😀/sub'], ['file', 'g.txt', 'p/😀/g.txt']]);
      expect((await s.listFolder(await home(s), '')).map((e) => e.name)).toEqual(['p', '\u{10FFFF}top', 'plain.txt']);
      expect(await s.isFolder(await home(s), '\u{10FFFF}top')).toBe(true);
    }));

    it('keeps case-only twins apart: two files', withStore(async (s, u) => {
      await commit(s, u, 'Case.txt', 'a');
      await commit(s, u, 'case.txt', 'b');
      expect((await s.listFolder(await home(s), '')).map((e) => e.name)).toEqual(['Case.txt', 'case.txt']);
      expect((await s.getVersion(await home(s), 'case.txt'))?.contentHash).toBe(h('b'));
    }));

    it('counts link downloads by units served: reserved up front, refunded when not sent, refused when used up', withStore(async (s, u) => {
      await commit(s, u, 'f', 'f');
      const fileId = (await s.getVersion(await home(s), 'f'))!.fileId;
      await s.createLink({ id: 'l1', ownerId: u, fileId, createdAt: 1, maxDownloads: 2 });
      expect(await s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: true, taken: DOWNLOAD_UNITS });
      expect(await s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: true, taken: DOWNLOAD_UNITS });
      expect(await s.reserveDownload('l1', 1)).toEqual({ allowed: false, taken: 0 });
      await s.refundDownload('l1', DOWNLOAD_UNITS / 2);
      expect(await s.getLink('l1')).toMatchObject({ downloads: 1, servedUnits: 1.5 * DOWNLOAD_UNITS });
      // The last response may take what is left and send more.
      expect(await s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: true, taken: DOWNLOAD_UNITS / 2 });
      expect(await s.reserveDownload('l1', DOWNLOAD_UNITS)).toEqual({ allowed: false, taken: 0 });
      await s.createLink({ id: 'l2', ownerId: u, fileId, createdAt: 1 });
      for (let i = 0; i < 5; i++) await s.reserveDownload('l2', DOWNLOAD_UNITS);
      expect((await s.getLink('l2'))?.downloads).toBe(5);
    }));

    it('logs each change in the transaction that made it, in order, and nothing for one that failed', withStore(async (s, u) => {
      const sp = await home(s);
      const team = await s.createSharedSpace('team', 1);
      expect(await s.changeBounds()).toEqual({ oldest: 0, newest: 0 });
      await commit(s, u, 'a.txt', 'a', { by: 'alice' });
      await commit(s, u, 'a.txt', 'a', { by: 'alice' }); // the same content: no new version, nothing to log
      await s.makeFolder(team.id, 'docs', 2, 'alice');
      await expect(commit(s, u, 'docs', 'x', { spaceId: team.id, by: 'alice' })).rejects.toMatchObject({ code: 'IS_FOLDER' });
      await s.move({ spaceId: sp, path: 'a.txt' }, { spaceId: team.id, path: 'docs/a.txt' }, 'alice');
      await s.trash(team.id, 'docs', u, 3, 'alice');
      await commit(s, u, 'quiet.txt', 'q'); // no `by`: not logged
      const all = await s.changesSince(0, 100);
      expect(all.map((c) => [c.kind, c.space === team.id ? 'team' : 'me', c.path, c.from, c.fromSpace === sp ? 'me' : c.fromSpace, c.user])).toEqual([
        ['file.added', 'me', 'a.txt', undefined, undefined, 'alice'],
        ['folder.added', 'team', 'docs', undefined, undefined, 'alice'],
        ['moved', 'team', 'docs/a.txt', 'a.txt', 'me', 'alice'],
        ['trashed', 'team', 'docs', undefined, undefined, 'alice'],
      ]);
      expect(all.map((c) => c.seq)).toEqual([...all.map((c) => c.seq)].sort((x, y) => x - y));
      expect(all[0]).toMatchObject({ version: 1, size: 10, contentHash: h('a'), at: 1000 });
      // Only the spaces asked for (a move out of one counts for it), after a position, up to a limit.
      expect((await s.changesSince(0, 100, [sp])).map((c) => c.kind)).toEqual(['file.added', 'moved']);
      expect((await s.changesSince(all[1].seq, 1)).map((c) => c.kind)).toEqual(['moved']);
      expect(await s.changesSince(0, 100, [])).toEqual([]);
      expect(await s.changeBounds()).toEqual({ oldest: all[0].seq, newest: all[3].seq });
      // Pruning keeps the newest, so the position survives.
      expect(await s.pruneChanges(Date.now() + 1)).toBe(3);
      expect(await s.changeBounds()).toEqual({ oldest: all[3].seq, newest: all[3].seq });
      await s.untrash((await s.listTrash(team.id))[0].id, 'bob');
      expect((await s.changesSince(all[3].seq, 10)).map((c) => [c.kind, c.user])).toEqual([['untrashed', 'bob']]);
    }));

    it('keeps one shared value per name, made once', withStore(async (s) => {
      expect(await s.sharedValue('k', () => 'first')).toBe('first');
      expect(await s.sharedValue('k', () => 'second')).toBe('first');
      expect(await s.sharedValue('other', () => 'x')).toBe('x');
    }));

    it('counts failed attempts per name in a window, forgives them, and forgets old ones', withStore(async (s) => {
      const admitUnder = (n: number) => (lists: number[][]) => lists.every((l) => l.length < n);
      expect(await s.attempts.begin(['pair:x', 'address:1'], [0, 0], 100, admitUnder(2))).toMatchObject({ admitted: true });
      const second = await s.attempts.begin(['pair:x', 'address:1'], [0, 0], 200, admitUnder(2));
      expect(second.admitted).toBe(true);
      expect(second.ids).toHaveLength(2);
      expect(await s.attempts.begin(['pair:x', 'address:1'], [0, 0], 300, admitUnder(2))).toEqual({ admitted: false, ids: [] });
      expect(await s.attempts.recent(['pair:x', 'address:1', 'pair:y'], [0, 150, 0])).toEqual([[100, 200], [200], []]);
      // A right password clears the pair and takes back only its own attempt elsewhere.
      await s.attempts.forgive(['pair:x'], [second.ids[1]]);
      expect(await s.attempts.recent(['pair:x', 'address:1'], [0, 0])).toEqual([[], [100]]);
      expect(await s.pruneAttempts(150)).toBe(1);
      expect(await s.attempts.recent(['address:1'], [0])).toEqual([[]]);
    }));

    it('remembers devices by token hash', withStore(async (s, u) => {
      await s.createDevice('d1', u, 1);
      expect(await s.getDevice('d1')).toEqual({ userId: u });
      expect(await s.getDevice('d2')).toBeUndefined();
    }));

    it('lists devices with what they reported, and revoking one ends its sessions only', withStore(async (s, u) => {
      const other = (await s.createUser({ name: 'bob', role: 'user', passwordHash: 'x', now: 1 })).id;
      const laptop = 'a'.repeat(64);
      const phone = 'b'.repeat(64);
      const bobs = 'c'.repeat(64);
      await s.createDevice(laptop, u, 10);
      await s.createDevice(phone, u, 20);
      await s.createDevice(bobs, other, 30);
      await s.createSession('s-laptop-1', u, 10, 10_000, laptop);
      await s.createSession('s-laptop-2', u, 11, 10_000, laptop);
      await s.createSession('s-phone', u, 20, 10_000, phone);
      expect((await s.getSession('s-laptop-1'))?.deviceHash).toBe(laptop);
      await s.updateDevice(laptop, { name: 'laptop', kind: 'cli', sync: '[{"local":"/home/a/Documents"}]', lastSeenAt: 100 });
      // An update without a field keeps what was said before.
      await s.updateDevice(laptop, { lastSeenAt: 120 });
      const mine = await s.listDevices(u);
      expect(mine.map((d) => [d.id, d.name, d.kind, d.lastSeenAt, d.user])).toEqual([
        [laptop.slice(0, 16), 'laptop', 'cli', 120, 'alice'],
        [phone.slice(0, 16), undefined, undefined, undefined, 'alice'],
      ]);
      expect(mine[0].sync).toBe('[{"local":"/home/a/Documents"}]');
      expect((await s.listDevices(undefined)).length).toBe(3);
      // Someone else's device is not mine to revoke; a malformed id names nothing.
      expect(await s.revokeDevice(bobs.slice(0, 16), u, 200)).toBeUndefined();
      expect(await s.revokeDevice("a' OR 1=1 --", u, 200)).toBeUndefined();
      const done = await s.revokeDevice(laptop.slice(0, 16), u, 200);
      expect(done?.userId).toBe(u);
      expect(done?.sessions.sort()).toEqual(['s-laptop-1', 's-laptop-2']);
      expect(await s.getSession('s-laptop-1')).toBeUndefined();
      expect(await s.getSession('s-phone')).toBeDefined();
      // A revoked token is not a known device any more, and says nothing new.
      expect(await s.getDevice(laptop)).toBeUndefined();
      await s.updateDevice(laptop, { name: 'back again', lastSeenAt: 300 });
      const after = (await s.listDevices(u)).find((d) => d.tokenHash === laptop)!;
      expect([after.revokedAt, after.name]).toEqual([200, 'laptop']);
      // An admin (no user given) can revoke anyone's.
      expect((await s.revokeDevice(bobs.slice(0, 16), undefined, 400))?.userId).toBe(other);
    }));

    it("answers userChunks from the user's own versions and uploads only", withStore(async (s, u) => {
      const other = (await s.createUser({ name: 'bob', role: 'user', passwordHash: 'x', now: 1 })).id;
      await commit(s, other, 'bob.bin', 'b');
      await commit(s, u, 'mine.bin', 'm');
      expect(await s.userChunks(u, [h('b'), h('m')])).toEqual(new Set([h('m')]));
      expect(await s.userChunks(other, [h('b'), h('m')])).toEqual(new Set([h('b')]));
    }));

    it('commits versions: numbers grow, the newest is current, history lists all', withStore(async (s, u) => {
      expect(await commit(s, u, 'f.txt', 'a')).toEqual({ path: 'f.txt', version: 1, removed: 0, unchanged: false });
      expect(await commit(s, u, 'f.txt', 'b')).toEqual({ path: 'f.txt', version: 2, removed: 0, unchanged: false });
      // The current content again: no version; an earlier content again: a version.
      expect(await commit(s, u, 'f.txt', 'b')).toEqual({ path: 'f.txt', version: 2, removed: 0, unchanged: true });
      expect(await commit(s, u, 'f.txt', 'b', { conflict: 'rename' })).toEqual({ path: 'f.txt', version: 2, removed: 0, unchanged: true });
      expect((await commit(s, u, 'f.txt', 'a')).version).toBe(3);
      await s.deleteVersions(await home(s), 'f.txt', 3);
      expect((await s.getVersion(await home(s), 'f.txt'))?.contentHash).toBe(h('b'));
      expect((await s.getVersion(await home(s), 'f.txt', 1))?.chunks).toEqual([chunk('a')]);
      expect((await s.listVersions(await home(s), 'f.txt')).map((v) => [v.version, v.current, v.uploader])).toEqual([[2, true, 'alice'], [1, false, 'alice']]);
    }));

    it('renames on conflict when asked: name_v2.ext, name_v3.ext', withStore(async (s, u) => {
      await commit(s, u, 'd/r.tar.gz', 'a');
      expect((await commit(s, u, 'd/r.tar.gz', 'b', { conflict: 'rename' })).path).toBe('d/r_v2.tar.gz');
      expect((await commit(s, u, 'd/r.tar.gz', 'c', { conflict: 'rename' })).path).toBe('d/r_v3.tar.gz');
      expect((await commit(s, u, 'fresh', 'c', { conflict: 'rename' })).path).toBe('fresh');
    }));

    it('overwrite keeps replaced versions unless told not to', withStore(async (s, u) => {
      await commit(s, u, 'o.txt', 'a');
      await commit(s, u, 'o.txt', 'b', { conflict: 'overwrite' });
      expect(await s.listVersions(await home(s), 'o.txt')).toHaveLength(2);
      expect((await commit(s, u, 'o.txt', 'c', { conflict: 'overwrite', keepReplaced: false })).removed).toBe(2);
      expect((await s.listVersions(await home(s), 'o.txt')).map((v) => v.version)).toEqual([3]);
    }));

    it('lists a folder: subfolders first, then files with their current version and count', withStore(async (s, u) => {
      await commit(s, u, 'top/a.txt', 'a');
      await commit(s, u, 'top/a.txt', 'b');
      await commit(s, u, 'top/sub/deep/x.txt', 'x');
      await commit(s, u, 'top/sub2/y.txt', 'y');
      await commit(s, u, 'topper.txt', 't');
      const entries = await s.listFolder(await home(s), 'top');
      expect(entries.map((e) => [e.kind, e.name])).toEqual([['folder', 'sub'], ['folder', 'sub2'], ['file', 'a.txt']]);
      const file = entries[2];
      expect(file.kind === 'file' && [file.versions, file.current.version]).toEqual([2, 2]);
      expect((await s.listFolder(await home(s), '')).map((e) => e.name)).toEqual(['top', 'topper.txt']);
      expect(await s.isFolder(await home(s), 'top/sub')).toBe(true);
      expect(await s.isFolder(await home(s), 'top/a.txt')).toBe(false);
    }));

    it('refuses paths that clash with files or folders, atomically', withStore(async (s, u) => {
      await commit(s, u, 'a/b', 'x');
      await s.createUpload({ id: 'up', userId: u, spaceId: await home(s), leg: 'l', path: 'a/b/c', size: 10, mtime: 1, conflict: 'version', contentHash: h('y'), chunks: [chunk('y')], createdAt: 1, updatedAt: 1 });
      await expect(commit(s, u, 'a/b/c', 'y', { upload: { id: 'up', leg: 'l' } })).rejects.toMatchObject({ code: 'PATH_CONFLICT' });
      await expect(commit(s, u, 'a', 'y')).rejects.toMatchObject({ code: 'IS_FOLDER' });
      // The failed commit changed nothing: the upload is still open, no file appeared.
      expect(await s.getUpload('up')).toBeDefined();
      expect((await s.listFolder(await home(s), 'a')).map((e) => e.name)).toEqual(['b']);
    }));

    it('restores a version as a new current version', withStore(async (s, u) => {
      await commit(s, u, 'r.txt', 'a');
      await commit(s, u, 'r.txt', 'b');
      expect(await s.restoreVersion(await home(s), 'r.txt', 1, u, 2000)).toEqual({ version: 3 });
      expect((await s.getVersion(await home(s), 'r.txt'))?.contentHash).toBe(h('a'));
      await expect(s.restoreVersion(await home(s), 'r.txt', 9, u, 2000)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }));

    it('deletes one version (the next newest becomes current) or the whole file', withStore(async (s, u) => {
      await commit(s, u, 'x.txt', 'a');
      await commit(s, u, 'x.txt', 'b');
      expect([await s.hasContent(h('a')), await s.hasContent(h('b'))]).toEqual([true, true]);
      expect(await s.deleteVersions(await home(s), 'x.txt', 2)).toBe(1);
      expect([await s.hasContent(h('a')), await s.hasContent(h('b'))]).toEqual([true, false]);
      expect((await s.getVersion(await home(s), 'x.txt'))?.version).toBe(1);
      await commit(s, u, 'x.txt', 'c');
      expect((await s.getVersion(await home(s), 'x.txt'))?.version).toBe(3);
      expect(await s.deleteVersions(await home(s), 'x.txt')).toBe(2);
      expect(await s.getVersion(await home(s), 'x.txt')).toBeUndefined();
      await expect(s.deleteVersions(await home(s), 'x.txt')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await s.referencedChunks()).has(h('a'))).toBe(false);
    }));

    it('applies retention: keep the last N, drop versions older than D days, never the current one', withStore(async (s, u) => {
      for (const [i, c] of ['a', 'b', 'c', 'd'].entries()) await commit(s, u, 'k.txt', c, { now: i * DAY });
      expect(await s.applyRetention({ keepVersions: 3, keepDays: 0 }, 4 * DAY)).toBe(1);
      expect((await s.listVersions(await home(s), 'k.txt')).map((v) => v.version)).toEqual([4, 3, 2]);
      // Versions 2 and 3 were made on days 1 and 2; on day 3.6, keeping 1.5 days drops both.
      expect(await s.applyRetention({ keepVersions: 0, keepDays: 1.5 }, 3.6 * DAY)).toBe(2);
      expect((await s.listVersions(await home(s), 'k.txt')).map((v) => v.version)).toEqual([4]);
      // The current version stays however old it is.
      expect(await s.applyRetention({ keepVersions: 1, keepDays: 1 }, 100 * DAY)).toBe(0);
      expect(await s.applyRetention({ keepVersions: 0, keepDays: 0 }, 100 * DAY)).toBe(0);
    }));

    it('knows the SHA-256 of stored content (only where it was computed from the bytes) and which chunks are referenced', withStore(async (s, u) => {
      await commit(s, u, 'z.txt', 'q');
      expect(await s.sha256ForContent(h('q'))).toBe(h('Q'));
      await commit(s, u, 'unverified.txt', 'w', { sha256Verified: false });
      expect(await s.sha256ForContent(h('w'))).toBeUndefined();
      const v = (await s.getVersion(await home(s), 'unverified.txt'))!;
      expect(v.sha256Verified).toBe(false);
      await s.markSha256Verified(v.id);
      expect(await s.sha256ForContent(h('w'))).toBe(h('W'));
      await s.deleteVersions(await home(s), 'unverified.txt');
      expect(await s.sha256ForContent(h('w'))).toBeUndefined();
      expect(await s.referencedChunks()).toEqual(new Set([h('q')]));
      expect(await s.logicalBytes()).toBe(10);
    }));

    // ---------------------------------------------------------------- spaces

    it('gives every user a My files space; shared folders have members with view or edit', withStore(async (s, u) => {
      const bob = await s.createUser({ name: 'bob', role: 'user', passwordHash: 'x', now: 2 });
      const mine = await s.homeSpace(u);
      expect(mine).toMatchObject({ kind: 'home', name: 'alice', ownerId: u });
      expect((await s.homeSpace(bob.id)).id).not.toBe(mine.id);
      expect(await s.accessOf(u, mine.id)).toBe('edit');
      expect(await s.accessOf(bob.id, mine.id)).toBeUndefined();
      const team = await s.createSharedSpace('Team', 3);
      await expect(s.createSharedSpace('team', 4)).rejects.toMatchObject({ code: 'SPACE_EXISTS' });
      await s.setMember(team.id, u, 'edit');
      await s.setMember(team.id, bob.id, 'view');
      expect(await s.accessOf(bob.id, team.id)).toBe('view');
      await s.setMember(team.id, bob.id, 'edit');
      expect(await s.members(team.id)).toEqual([{ userId: u, name: 'alice', access: 'edit' }, { userId: bob.id, name: 'bob', access: 'edit' }]);
      await s.setMember(team.id, bob.id, undefined);
      expect(await s.accessOf(bob.id, team.id)).toBeUndefined();
      expect((await s.spacesOf(u)).map((x) => [x.kind, x.name, x.access])).toEqual([['home', 'alice', 'edit'], ['shared', 'Team', 'edit']]);
      expect((await s.getSharedSpace('TEAM'))?.id).toBe(team.id);
      // Paths are per space: the same path in two spaces are two files.
      await commit(s, u, 'same.txt', 'a');
      await commit(s, u, 'same.txt', 'b', { spaceId: team.id });
      expect((await s.getVersion(mine.id, 'same.txt'))?.contentHash).toBe(h('a'));
      expect((await s.getVersion(team.id, 'same.txt'))?.contentHash).toBe(h('b'));
      expect((await s.listFolder(team.id, '')).map((e) => e.name)).toEqual(['same.txt']);
      await s.deleteSpace(team.id);
      expect(await s.getVersion(team.id, 'same.txt')).toBeUndefined();
      expect(await s.getVersion(mine.id, 'same.txt')).toBeDefined();
    }));

    it("removes a user with their space, sessions and links; what they added elsewhere stays, by '(deleted user)'", withStore(async (s, u) => {
      const bob = await s.createUser({ name: 'bob', role: 'user', passwordHash: 'x', now: 2 });
      const team = await s.createSharedSpace('Team', 3);
      await s.setMember(team.id, bob.id, 'edit');
      await commit(s, bob.id, 'mine.txt', 'a', { spaceId: (await s.homeSpace(bob.id)).id });
      await commit(s, bob.id, 'ours.txt', 'b', { spaceId: team.id });
      await s.createSession('bob-session', bob.id, 1, 100);
      const fileId = (await s.getVersion(team.id, 'ours.txt'))!.fileId;
      await s.createLink({ id: 'bl', ownerId: bob.id, fileId, createdAt: 1 });
      expect(await s.deleteUser(bob.id)).toEqual({ files: 1, bytes: 10 });
      expect(await s.getUser(bob.id)).toBeUndefined();
      expect(await s.getSession('bob-session')).toBeUndefined();
      expect(await s.getLink('bl')).toBeUndefined();
      expect(await s.members(team.id)).toEqual([]);
      expect((await s.getVersion(team.id, 'ours.txt'))?.uploader).toBe('(deleted user)');
      expect((await s.referencedChunks()).has(h('a'))).toBe(false);
      expect(await s.accessOf(u, (await s.homeSpace(u)).id)).toBe('edit');
    }));

    it('makes empty folders (with their parents) that list and stay put', withStore(async (s) => {
      const sp = await home(s);
      await s.makeFolder(sp, 'a/b/c', 1);
      expect((await s.listFolder(sp, '')).map((e) => [e.kind, e.name])).toEqual([['folder', 'a']]);
      expect((await s.listFolder(sp, 'a/b')).map((e) => [e.kind, e.name])).toEqual([['folder', 'c']]);
      expect(await s.isFolder(sp, 'a/b/c')).toBe(true);
      await s.makeFolder(sp, 'a/b/c', 2); // again: nothing changes
      expect(await s.listFolder(sp, 'a/b')).toHaveLength(1);
    }));

    it('refuses a folder where a file is, and a file where a folder is', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'f', 'a');
      await expect(s.makeFolder(sp, 'f', 1)).rejects.toMatchObject({ code: 'PATH_CONFLICT' });
      await expect(s.makeFolder(sp, 'f/sub', 1)).rejects.toMatchObject({ code: 'PATH_CONFLICT' });
      await s.makeFolder(sp, 'empty', 1);
      await expect(commit(s, u, 'empty', 'b')).rejects.toMatchObject({ code: 'IS_FOLDER' });
    }));

    it('renames and moves a file: same id, versions and links follow', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'a.txt', 'a');
      await commit(s, u, 'a.txt', 'b');
      const fileId = (await s.getVersion(sp, 'a.txt'))!.fileId;
      await s.createLink({ id: 'ln', ownerId: u, fileId, createdAt: 1 });
      expect(await s.move({ spaceId: sp, path: 'a.txt' }, { spaceId: sp, path: 'docs/b.txt' })).toEqual({ kind: 'file', files: 1 });
      expect(await s.getVersion(sp, 'a.txt')).toBeUndefined();
      expect((await s.listVersions(sp, 'docs/b.txt')).map((v) => v.version)).toEqual([2, 1]);
      expect((await s.getVersion(sp, 'docs/b.txt'))?.fileId).toBe(fileId);
      expect(await s.getLink('ln')).toMatchObject({ path: 'docs/b.txt', spaceId: sp, trashed: false });
      expect((await s.listFolder(sp, 'docs')).map((e) => e.name)).toEqual(['b.txt']);
    }));

    it('moves a folder with everything in it in one step, and keeps the folder it left', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'p/q/x.txt', 'x');
      await commit(s, u, 'p/q/r/y.txt', 'y');
      await commit(s, u, 'p/qq.txt', 'z'); // shares the prefix "p/q" but is not under p/q
      await s.makeFolder(sp, 'p/q/empty', 1);
      expect(await s.move({ spaceId: sp, path: 'p/q' }, { spaceId: sp, path: 'n/m' })).toEqual({ kind: 'folder', files: 2 });
      expect((await s.listFolder(sp, 'n/m')).map((e) => [e.kind, e.name])).toEqual([['folder', 'empty'], ['folder', 'r'], ['file', 'x.txt']]);
      expect((await s.listFolder(sp, 'n/m/r')).map((e) => e.path)).toEqual(['n/m/r/y.txt']);
      expect(await s.getVersion(sp, 'p/qq.txt')).toBeDefined();
      expect((await s.listFolder(sp, 'p')).map((e) => e.name)).toEqual(['qq.txt']);
      // A new upload under the new path lands next to the moved files.
      await commit(s, u, 'n/m/r/z.txt', 'w');
      expect(await s.listFolder(sp, 'n/m/r')).toHaveLength(2);
    }));

    it('refuses moves onto something, into itself, under a file, or of nothing', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'a/x', 'a');
      await commit(s, u, 'b', 'b');
      const code = (p: Promise<unknown>) => p.then(() => 'none', (err) => (err as { code: string }).code);
      expect(await code(s.move({ spaceId: sp, path: 'b' }, { spaceId: sp, path: 'a' }))).toBe('PATH_CONFLICT');
      expect(await code(s.move({ spaceId: sp, path: 'a' }, { spaceId: sp, path: 'b' }))).toBe('PATH_CONFLICT');
      expect(await code(s.move({ spaceId: sp, path: 'a' }, { spaceId: sp, path: 'a/inner' }))).toBe('BAD_PATH');
      expect(await code(s.move({ spaceId: sp, path: 'a' }, { spaceId: sp, path: 'b/under' }))).toBe('PATH_CONFLICT');
      expect(await code(s.move({ spaceId: sp, path: 'nope' }, { spaceId: sp, path: 'c' }))).toBe('NOT_FOUND');
      expect((await s.listFolder(sp, '')).map((e) => e.name)).toEqual(['a', 'b']);
    }));

    it('moves between spaces', withStore(async (s, u) => {
      const sp = await home(s);
      const team = await s.createSharedSpace('Team', 1);
      await commit(s, u, 'dir/f.txt', 'a');
      await s.move({ spaceId: sp, path: 'dir' }, { spaceId: team.id, path: 'in/dir' });
      expect((await s.getVersion(team.id, 'in/dir/f.txt'))?.contentHash).toBe(h('a'));
      expect(await s.getVersion(sp, 'dir/f.txt')).toBeUndefined();
    }));

    it('trashes a file or a folder, lists the trash, and puts it back with every version', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'f.txt', 'a');
      await commit(s, u, 'f.txt', 'b');
      await commit(s, u, 'd/one.txt', 'c');
      await commit(s, u, 'd/sub/two.txt', 'd');
      const fileId = (await s.getVersion(sp, 'f.txt'))!.fileId;
      await s.createLink({ id: 'ln', ownerId: u, fileId, createdAt: 1 });
      const t1 = await s.trash(sp, 'f.txt', u, 100);
      expect(t1).toMatchObject({ path: 'f.txt', kind: 'file', files: 1, bytes: 20, trashedBy: 'alice', trashedAt: 100 });
      const t2 = await s.trash(sp, 'd', u, 200);
      expect(t2).toMatchObject({ kind: 'folder', files: 2, bytes: 20 });
      expect(await s.listFolder(sp, '')).toEqual([]);
      expect(await s.getVersion(sp, 'f.txt')).toBeUndefined();
      expect(await s.getFileVersion(fileId)).toBeUndefined();
      expect((await s.getLink('ln'))?.trashed).toBe(true);
      expect((await s.listTrash(sp)).map((t) => t.path)).toEqual(['d', 'f.txt']);
      // The path is free again while the old file is in the trash.
      await commit(s, u, 'f.txt', 'e');
      expect(await s.untrash(t1.id)).toEqual({ path: 'f_v2.txt' });
      expect((await s.listVersions(sp, 'f_v2.txt')).map((v) => v.contentHash)).toEqual([h('b'), h('a')]);
      expect(await s.getLink('ln')).toMatchObject({ path: 'f_v2.txt', trashed: false });
      expect(await s.untrash(t2.id)).toEqual({ path: 'd' });
      expect((await s.listFolder(sp, 'd/sub')).map((e) => e.name)).toEqual(['two.txt']);
      expect(await s.listTrash(sp)).toEqual([]);
      await expect(s.untrash(t2.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }));

    it('keeps the folder a trashed file was in', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'only/f.txt', 'a');
      await s.trash(sp, 'only/f.txt', u, 1);
      expect((await s.listFolder(sp, '')).map((e) => [e.kind, e.name])).toEqual([['folder', 'only']]);
      expect(await s.listFolder(sp, 'only')).toEqual([]);
    }));

    it('restores a trashed folder under a new name when its place is taken', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'd/x.txt', 'a');
      const t = await s.trash(sp, 'd', u, 1);
      await commit(s, u, 'd/y.txt', 'b');
      expect(await s.untrash(t.id)).toEqual({ path: 'd_v2' });
      expect((await s.listFolder(sp, 'd_v2')).map((e) => e.path)).toEqual(['d_v2/x.txt']);
      expect((await s.listFolder(sp, 'd')).map((e) => e.path)).toEqual(['d/y.txt']);
    }));

    it('purges the trash for good: one item, a space, or everything older than a time', withStore(async (s, u) => {
      const sp = await home(s);
      for (const [i, name] of ['a', 'b', 'c'].entries()) {
        await commit(s, u, `${name}.txt`, name);
        await s.trash(sp, `${name}.txt`, u, (i + 1) * 100);
      }
      const [c] = await s.listTrash(sp);
      expect(await s.purgeTrash({ id: c.id })).toEqual({ items: 1, files: 1 });
      expect(await s.purgeTrash({ before: 150 })).toEqual({ items: 1, files: 1 });
      expect((await s.listTrash(sp)).map((t) => t.path)).toEqual(['b.txt']);
      expect(await s.purgeTrash({ spaceId: sp })).toEqual({ items: 1, files: 1 });
      expect((await s.referencedChunks()).size).toBe(0);
      expect(await s.spaceUsage(sp)).toEqual({ files: 0, bytes: 0, trashBytes: 0 });
    }));

    it('searches names in the given spaces only, ignoring case and width, skipping the trash', withStore(async (s, u) => {
      const sp = await home(s);
      const team = await s.createSharedSpace('Team', 1);
      const other = await s.createSharedSpace('Other', 1);
      await commit(s, u, 'Reports/Quarterly REPORT.pdf', 'a');
      await commit(s, u, 'notes.txt', 'b');
      await commit(s, u, 'team-report.txt', 'c', { spaceId: team.id });
      await commit(s, u, 'secret-report.txt', 'd', { spaceId: other.id });
      await commit(s, u, 'old-report.txt', 'e');
      await s.trash(sp, 'old-report.txt', u, 1);
      await s.makeFolder(team.id, 'report drafts', 1);
      const found = await s.search([sp, team.id], 'ＲＥＰＯＲＴ', 50);
      expect(found.truncated).toBe(false);
      expect(found.hits.map((x) => [x.spaceId === sp ? 'me' : 'team', x.kind, x.path]).sort()).toEqual([
        ['me', 'file', 'Reports/Quarterly REPORT.pdf'],
        ['me', 'folder', 'Reports'],
        ['team', 'file', 'team-report.txt'],
        ['team', 'folder', 'report drafts'],
      ]);
      expect(await s.search([sp, team.id], 'report', 2)).toMatchObject({ truncated: true });
      expect((await s.search([], 'report', 10)).hits).toEqual([]);
    }));

    it('finds things by their names after a rename, a move and a restore, and no longer by the old ones', withStore(async (s, u) => {
      const sp = await home(s);
      await commit(s, u, 'Drafts/Alpha Plan.txt', 'a');
      await s.move({ spaceId: sp, path: 'Drafts/Alpha Plan.txt' }, { spaceId: sp, path: 'Drafts/Ｂeta plan.txt' });
      await s.move({ spaceId: sp, path: 'Drafts' }, { spaceId: sp, path: 'Final' });
      const paths = async (text: string) => (await s.search([sp], text, 50)).hits.map((x) => x.path).sort();
      expect(await paths('alpha')).toEqual([]);
      expect(await paths('beta')).toEqual(['Final/Ｂeta plan.txt']);
      expect(await paths('draft')).toEqual([]);
      expect(await paths('final')).toEqual(['Final']);
      // Restored under another name (the old one was taken meanwhile).
      const item = await s.trash(sp, 'Final/Ｂeta plan.txt', u, 1);
      await commit(s, u, 'Final/Ｂeta plan.txt', 'b');
      const back = await s.untrash(item.id);
      expect(await paths('beta')).toEqual(['Final/Ｂeta plan.txt', back.path].sort());
    }));
  });

  const upload = (u: number, id: string, extra: Partial<UploadRecord> = {}): UploadRecord => ({
    id,
    userId: u,
    spaceId: 0, // each test gives alice's space
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

  /** Two handles on one database, as two relays have; `fn` gets both. */
  const racing = (fn: (a: MetaStore, b: MetaStore, user: number) => Promise<void>) => async () => {
    const { store, dispose, second } = await make();
    const other = await second!();
    try {
      const u = await store.createUser({ name: 'alice', role: 'user', passwordHash: 'x', now: 1 });
      await fn(store, other, u.id);
    } finally {
      await other.close();
      await dispose();
    }
  };
  const input = async (s: MetaStore, userId: number, path: string, content: string, extra: Partial<CommitInput> = {}): Promise<CommitInput> => ({
    userId, spaceId: await home(s), path, conflict: 'version', size: 10, mtime: 5, contentHash: h(content), sha256: h(content),
    sha256Verified: true, chunks: [chunk(content)], keepReplaced: true, now: 1000, ...extra,
  });
  /** Runs every call at once, half of them on each handle; resolves with their outcomes. */
  const both = <T>(a: MetaStore, b: MetaStore, n: number, call: (s: MetaStore, i: number) => Promise<T>) =>
    Promise.allSettled(Array.from({ length: n }, (_, i) => call(i % 2 ? b : a, i)));

  describe.skipIf(!hasSecond)(`MetaStore contract: ${name}, two handles racing`, () => {
    it('commits to one path from both: every version numbered once, none lost', racing(async (a, b, u) => {
      const results = await both(a, b, 20, async (s, i) => s.commitVersion(await input(s, u, 'same.txt', `v${i}`)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const numbers = results.map((r) => (r as PromiseFulfilledResult<{ version: number }>).value.version).sort((x, y) => x - y);
      expect(numbers).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      const versions = await a.listVersions(await home(a), 'same.txt');
      expect(versions).toHaveLength(20);
      expect(versions.filter((v) => v.current)).toHaveLength(1);
    }));

    it('compare-and-swap from both with the same base: one write wins, every other is a conflict, nothing lost', racing(async (a, b, u) => {
      const sp = await home(a);
      await a.commitVersion(await input(a, u, 'shared.txt', 'base'));
      const results = await both(a, b, 8, async (s, i) => s.commitVersion(await input(s, u, 'shared.txt', `edit${i}`, { base: h('base'), device: `d${i}`, now: 1000 + i })));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      const values = results.map((r) => (r as PromiseFulfilledResult<{ conflict?: string }>).value);
      expect(values.filter((v) => !v.conflict)).toHaveLength(1);
      expect(values.filter((v) => v.conflict)).toHaveLength(7);
      const versions = await a.listVersions(sp, 'shared.txt');
      // The base, the winner, and seven marked writes: every edit is kept.
      expect(versions).toHaveLength(9);
      const kept = new Set(versions.map((v) => v.contentHash));
      for (let i = 0; i < 8; i++) expect(kept.has(h(`edit${i}`))).toBe(true);
    }));

    it('renames on conflict from both: twenty files under twenty names', racing(async (a, b, u) => {
      const results = await both(a, b, 20, async (s, i) => s.commitVersion(await input(s, u, 'report.pdf', `r${i}`, { conflict: 'rename' })));
      const paths = results.map((r) => (r as PromiseFulfilledResult<{ path: string }>).value.path);
      expect(new Set(paths).size).toBe(20);
      expect((await a.listFolder(await home(a), '')).filter((e) => e.kind === 'file')).toHaveLength(20);
    }));

    it('commits one upload once when both handles commit it', racing(async (a, b, u) => {
      const sp = await home(a);
      await a.createUpload({ id: 'up', userId: u, spaceId: sp, leg: 'L', path: 'u.bin', size: 10, mtime: 1, conflict: 'version', contentHash: h('c'), chunks: [chunk('c')], createdAt: 1, updatedAt: 1 });
      const results = await both(a, b, 6, async (s) => s.commitVersion(await input(s, u, 'u.bin', 'c', { upload: { id: 'up', leg: 'L' } })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'UNKNOWN_UPLOAD' });
      expect(await a.listVersions(sp, 'u.bin')).toHaveLength(1);
    }));

    it('keeps a quota across both: commits that would pass it together are refused', racing(async (a, b, u) => {
      const results = await both(a, b, 10, async (s, i) => s.commitVersion(await input(s, u, `q${i}`, `q${i}`, { quotaBytes: 45 })));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
      for (const r of results.filter((r) => r.status === 'rejected')) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'QUOTA_EXCEEDED' });
      expect(await a.userBytes(u)).toBe(40);
    }));

    it('counts a link download budget exactly once across both', racing(async (a, b, u) => {
      await a.commitVersion(await input(a, u, 'f', 'f'));
      const fileId = (await a.getVersion(await home(a), 'f'))!.fileId;
      await a.createLink({ id: 'L', ownerId: u, fileId, createdAt: 1, maxDownloads: 3 });
      const results = await both(a, b, 30, (s) => s.reserveDownload('L', DOWNLOAD_UNITS / 2));
      expect(results.filter((r) => r.status === 'fulfilled' && r.value.allowed)).toHaveLength(6);
      expect(await b.getLink('L')).toMatchObject({ downloads: 3, servedUnits: 3 * DOWNLOAD_UNITS });
    }));

    it('moves one folder to two places at once: it ends up in one of them, whole', racing(async (a, b, u) => {
      const sp = await home(a);
      for (let i = 0; i < 5; i++) await a.commitVersion(await input(a, u, `src/f${i}`, `f${i}`));
      const results = await both(a, b, 2, (s, i) => s.move({ spaceId: sp, path: 'src' }, { spaceId: sp, path: `dst${i}` }));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' });
      const everywhere = [...(await a.filesUnder(sp, ''))].map((f) => f.path);
      expect(everywhere).toHaveLength(5);
      expect(new Set(everywhere.map((p) => p.split('/')[0])).size).toBe(1);
    }));

    it('never demotes the last admin, even when two admins demote each other at once', racing(async (a, b) => {
      const x = await a.createUser({ name: 'x', role: 'admin', passwordHash: 'p', now: 1 });
      const y = await a.createUser({ name: 'y', role: 'admin', passwordHash: 'p', now: 1 });
      const results = await Promise.allSettled([a.updateUser(x.id, { role: 'user' }), b.updateUser(y.id, { disabled: true })]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason).toMatchObject({ code: 'FORBIDDEN' });
      expect(await a.countAdmins()).toBe(1);
    }));

    it('logs changes from both in one order, and agrees on a shared value made at once', racing(async (a, b, u) => {
      await both(a, b, 20, async (s, i) => s.commitVersion(await input(s, u, `c${i}`, `c${i}`, { by: 'alice' })));
      const log = await b.changesSince(0, 100);
      expect(log.map((c) => c.path).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `c${i}`).sort());
      expect(new Set(log.map((c) => c.seq)).size).toBe(20);
      const made = await both(a, b, 10, (s, i) => s.sharedValue('secret', () => `v${i}`));
      expect(new Set(made.map((r) => (r as PromiseFulfilledResult<string>).value)).size).toBe(1);
    }));

    it('makes an upload recording a chunk wait while the other handle collects it', racing(async (a, b, u) => {
      await a.createUpload({ ...upload(u, 'up1'), spaceId: await home(a) });
      let started!: () => void;
      const removing = new Promise<void>((r) => (started = r));
      const events: string[] = [];
      const collected = a.collectChunk(h('a'), async () => {
        started();
        events.push('remove started');
        await new Promise((r) => setTimeout(r, 300));
        events.push('remove done');
      });
      await removing;
      await b.markChunksHeld('up1', 'leg1', [{ index: 0, hash: h('a') }], 50);
      events.push('held');
      expect(await collected).toBe(true);
      expect(events).toEqual(['remove started', 'remove done', 'held']);
      // Recorded first, the chunk is kept, whoever asks.
      expect(await a.collectChunk(h('a'), async () => void events.push('removed again'))).toBe(false);
      expect(await b.collectChunk(h('a'), async () => void events.push('removed again'))).toBe(false);
      expect(events).toHaveLength(3);
    }));

    it('gives the collector lease to one of many relays asking at once', racing(async (a, b) => {
      const taken = await both(a, b, 10, (s, i) => s.takeLease('collector', `relay-${i}`, 60_000, 1000));
      expect(taken.filter((r) => r.status === 'fulfilled' && r.value)).toHaveLength(1);
      expect(taken.filter((r) => r.status === 'rejected')).toEqual([]);
    }));

    it('admits attempts on one name from both up to the limit, and no more', racing(async (a, b) => {
      const results = await both(a, b, 20, (s, i) => s.attempts.begin(['pair:guess'], [0], 1000 + i, (lists) => lists[0].length < 5));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(results.filter((r) => r.status === 'fulfilled' && r.value.admitted)).toHaveLength(5);
      expect((await b.attempts.recent(['pair:guess'], [0]))[0]).toHaveLength(5);
    }));

    it('takes a sign-in code and a setup token once across both', racing(async (a, b, u) => {
      await a.createSigninCode('code', u, 100, 1);
      await a.createSetupToken('setup', 100);
      const codes = await both(a, b, 10, (s) => s.consumeSigninCode('code', 2));
      expect(codes.filter((r) => r.status === 'fulfilled' && r.value === u)).toHaveLength(1);
      const tokens = await both(a, b, 10, (s) => s.consumeSetupToken('setup', 2));
      expect(tokens.filter((r) => r.status === 'fulfilled' && r.value)).toHaveLength(1);
    }));
  });
}
