/**
 * Spaces and permissions, tried on the wire: every rule of My files, shared folders
 * (view / edit), the trash and administration is attempted directly with the request
 * a client would have to send, by someone who may not do it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { contentHash, type RequestBody, type RequestType } from '../../relay/protocol/index.js';
import { ADMIN, ALICE, BOB, signIn, standardRelay } from '../helpers/relay.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

const text = (s: string) => Buffer.from(s);

describe('spaces and permissions', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let alice: FerryClient;
  let bob: FerryClient;
  let admin: FerryClient;
  let aliceHome: number;
  let bobHome: number;
  let team: number;

  beforeAll(async () => {
    env = await standardRelay();
    [alice, bob, admin] = await Promise.all([signIn(env.relay, ALICE.name, ALICE.password), signIn(env.relay, BOB.name, BOB.password), signIn(env.relay, ADMIN.name, ADMIN.password)]);
    const home = async (c: FerryClient) => (await c.request('spaces', {})).spaces.find((s) => s.kind === 'home')!.id;
    [aliceHome, bobHome] = await Promise.all([home(alice), home(bob)]);
    // The admin makes the folder but is not in it.
    team = (await admin.request('folder.create', { name: 'team', members: [{ user: 'alice', access: 'edit' }, { user: 'bob', access: 'view' }] })).id;
    await uploadFile(alice, bufferSource(text('alice only')), { path: 'secret/plan.txt' });
    await uploadFile(alice, bufferSource(text('for the team, v1')), { space: team, path: 'docs/report.txt' });
    await uploadFile(alice, bufferSource(text('for the team, v2')), { space: team, path: 'docs/report.txt' });
  });
  afterAll(async () => {
    for (const c of [alice, bob, admin]) c?.close();
    await env?.close();
  });

  /** The code a request is refused with, or 'ok'. */
  async function attempt<T extends RequestType>(c: FerryClient, type: T, body: RequestBody<T>): Promise<string> {
    return c.request(type, body).then(
      () => 'ok',
      (err) => (err as { code: string }).code,
    );
  }

  /** A one-chunk upload.begin for `bytes`. */
  function begin(space: number | undefined, path: string, bytes: Buffer): RequestBody<'upload.begin'> {
    return { space, path, size: bytes.length, mtime: 1, chunks: [{ offset: 0, length: bytes.length, sha256: sha256(bytes) }] };
  }

  it('lists each user their own My files first, then the shared folders they are in, with their access', async () => {
    expect((await alice.request('spaces', {})).spaces.map((s) => [s.kind, s.name, s.access])).toEqual([['home', 'alice', 'edit'], ['shared', 'team', 'edit']]);
    expect((await bob.request('spaces', {})).spaces.map((s) => [s.kind, s.name, s.access])).toEqual([['home', 'bob', 'edit'], ['shared', 'team', 'view']]);
    expect((await admin.request('spaces', {})).spaces.map((s) => s.kind)).toEqual(['home']);
  });

  it("keeps My files private: another user, and an admin, cannot list, read, share, change or even find it", async () => {
    for (const c of [bob, admin]) {
      const at = { space: aliceHome, path: 'secret/plan.txt' };
      expect(await attempt(c, 'list', { space: aliceHome, folder: '' })).toBe('NOT_FOUND');
      expect(await attempt(c, 'history', at)).toBe('NOT_FOUND');
      expect(await attempt(c, 'download.begin', at)).toBe('NOT_FOUND');
      expect(await attempt(c, 'verify', at)).toBe('NOT_FOUND');
      expect(await attempt(c, 'link.create', at)).toBe('NOT_FOUND');
      expect(await attempt(c, 'restore', { ...at, version: 1 })).toBe('NOT_FOUND');
      expect(await attempt(c, 'trash', at)).toBe('NOT_FOUND');
      expect(await attempt(c, 'move', { ...at, to: 'mine.txt' })).toBe('NOT_FOUND');
      expect(await attempt(c, 'move', { space: c === bob ? bobHome : undefined, path: 'x', toSpace: aliceHome, to: 'x' })).toBe('NOT_FOUND');
      expect(await attempt(c, 'mkdir', { space: aliceHome, path: 'planted' })).toBe('NOT_FOUND');
      expect(await attempt(c, 'upload.begin', begin(aliceHome, 'planted.txt', text('x')))).toBe('NOT_FOUND');
      expect(await attempt(c, 'trash.list', { space: aliceHome })).toBe('NOT_FOUND');
      expect(await attempt(c, 'search', { text: 'plan', space: aliceHome })).toBe('NOT_FOUND');
      expect((await c.request('search', { text: 'plan' })).hits).toEqual([]);
    }
    // A space id that does not exist answers the same as one that is not yours.
    expect(await attempt(bob, 'list', { space: 999_999, folder: '' })).toBe('NOT_FOUND');
    // Without a space, a path is in the caller's own My files.
    expect(await attempt(bob, 'history', { path: 'secret/plan.txt' })).toBe('NOT_FOUND');
    expect((await alice.request('history', { path: 'secret/plan.txt' })).versions).toHaveLength(1);
    // Admins see how big it is, not what is in it.
    const users = (await admin.request('user.list', {})).users;
    expect(users.find((u) => u.name === 'alice')).toMatchObject({ homeFiles: 1, homeBytes: 10 });
  });

  it('lets a view member list, download, search and share a shared folder, and nothing more', async () => {
    const at = { space: team, path: 'docs/report.txt' };
    expect((await bob.request('list', { space: team, folder: 'docs' })).entries.map((e) => e.name)).toEqual(['report.txt']);
    const sink = memorySink();
    await downloadFile(bob, sink, at);
    expect(sink.bytes().toString()).toBe('for the team, v2');
    expect((await bob.request('search', { text: 'REPORT' })).hits.map((h) => [h.space, h.path])).toEqual([[team, 'docs/report.txt']]);
    const link = await bob.request('link.create', at);
    expect(link).toMatchObject({ space: team, path: 'docs/report.txt', owner: 'bob' });
    expect(await (await fetch(`${env.relay.httpUrl}${link.url}`)).text()).toBe('for the team, v2');
    // Every change is refused as READ_ONLY.
    expect(await attempt(bob, 'upload.begin', begin(team, 'docs/new.txt', text('bob was here')))).toBe('READ_ONLY');
    expect(await attempt(bob, 'upload.begin', begin(team, 'docs/report.txt', text('replaced')))).toBe('READ_ONLY');
    expect(await attempt(bob, 'restore', { ...at, version: 1 })).toBe('READ_ONLY');
    expect(await attempt(bob, 'move', { ...at, to: 'docs/renamed.txt' })).toBe('READ_ONLY');
    expect(await attempt(bob, 'move', { ...at, toSpace: bobHome, to: 'stolen.txt' })).toBe('READ_ONLY');
    expect(await attempt(bob, 'mkdir', { space: team, path: 'bob-folder' })).toBe('READ_ONLY');
    expect(await attempt(bob, 'trash', at)).toBe('READ_ONLY');
    expect(await attempt(bob, 'delete', at)).toBe('FORBIDDEN');
    // Nothing changed.
    expect((await alice.request('history', at)).versions.map((v) => v.version)).toEqual([2, 1]);
    expect((await alice.request('list', { space: team, folder: '' })).entries.map((e) => e.name)).toEqual(['docs']);
  });

  it('keeps a user in view from adding a version over the file an editor uploaded (the 24-byte overwrite)', async () => {
    const r = await bob.request('upload.begin', begin(undefined, 'docs/report.txt', text('24 bytes of someone else'))).catch((e) => e);
    // Without a space it goes to bob's own My files, not over alice's file.
    expect(r).toMatchObject({ need: [0] });
    await bob.request('upload.cancel', { upload: r.upload });
    expect((await alice.request('history', { space: team, path: 'docs/report.txt' })).versions).toHaveLength(2);
  });

  it('lets only admins manage shared folders, remove users and delete for good', async () => {
    expect(await attempt(alice, 'folder.create', { name: 'mine', members: [] })).toBe('FORBIDDEN');
    expect(await attempt(alice, 'folder.members', { folder: team, set: [{ user: 'bob', access: 'edit' }] })).toBe('FORBIDDEN');
    expect(await attempt(alice, 'folder.remove', { folder: team })).toBe('FORBIDDEN');
    expect(await attempt(alice, 'folder.list', {})).toBe('FORBIDDEN');
    expect(await attempt(alice, 'user.remove', { name: 'bob' })).toBe('FORBIDDEN');
    expect(await attempt(alice, 'trash.purge', { space: team })).toBe('FORBIDDEN');
    expect(await attempt(alice, 'delete', { space: team, path: 'docs/report.txt', version: 1 })).toBe('FORBIDDEN');
    expect(await attempt(alice, 'delete', { path: 'secret/plan.txt' })).toBe('FORBIDDEN');
    const folders = (await admin.request('folder.list', {})).folders;
    expect(folders.find((x) => x.id === team)).toMatchObject({ name: 'team', files: 1, bytes: 32, members: [{ user: 'alice', access: 'edit' }, { user: 'bob', access: 'view' }] });
    // The admin manages the folder without being able to look inside.
    expect(await attempt(admin, 'list', { space: team, folder: '' })).toBe('NOT_FOUND');
  });

  it('refuses folder names a command line could not write, and taken ones', async () => {
    for (const name of ['me', 'ME', 'a/b', 'a:b', '..', '']) {
      expect(await attempt(admin, 'folder.create', { name, members: [] }), name).toMatch(/BAD_PATH|BAD_MESSAGE/);
    }
    expect(await attempt(admin, 'folder.create', { name: 'TEAM', members: [] })).toBe('SPACE_EXISTS');
    expect(await attempt(admin, 'folder.create', { name: 'ghosts', members: [{ user: 'nobody', access: 'view' }] })).toBe('NOT_FOUND');
    expect((await admin.request('folder.list', {})).folders.map((x) => x.name)).not.toContain('ghosts');
  });

  it('applies a change of access at once: an upload begun with edit cannot commit after it became view', async () => {
    const data = randomData(5000);
    const b = await alice.request('upload.begin', begin(team, 'docs/late.bin', data));
    await admin.request('folder.members', { folder: team, set: [{ user: 'alice', access: 'view' }] });
    try {
      await expect(alice.request('upload.commit', { upload: b.upload, contentHash: contentHash([{ sha256: sha256(data) }]) })).rejects.toMatchObject({ code: 'READ_ONLY' });
      expect(await attempt(alice, 'trash', { space: team, path: 'docs/report.txt' })).toBe('READ_ONLY');
    } finally {
      await admin.request('folder.members', { folder: team, set: [{ user: 'alice', access: 'edit' }] });
    }
    expect((await alice.request('list', { space: team, folder: 'docs' })).entries.map((e) => e.name)).toEqual(['report.txt']);
  });

  it("stops a member's download and links the moment they are removed; the links work again when they are back", async () => {
    const at = { space: team, path: 'docs/report.txt' };
    const link = await bob.request('link.create', at);
    const d = await bob.request('download.begin', at);
    await admin.request('folder.members', { folder: team, set: [{ user: 'bob', access: 'none' }] });
    try {
      await expect(bob.request('download.read', { handle: d.handle, indices: [0] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect((await fetch(`${env.relay.httpUrl}${link.url}`)).status).toBe(404);
      expect(await attempt(bob, 'list', { space: team, folder: '' })).toBe('NOT_FOUND');
      expect((await bob.request('spaces', {})).spaces.map((s) => s.kind)).toEqual(['home']);
    } finally {
      await admin.request('folder.members', { folder: team, set: [{ user: 'bob', access: 'view' }] });
    }
    expect((await fetch(`${env.relay.httpUrl}${link.url}`)).status).toBe(200);
  });

  it('trashes for editors, restores with every version, and leaves deleting for good to admins', async () => {
    await uploadFile(alice, bufferSource(text('draft 1')), { space: team, path: 'drafts/a.txt' });
    await uploadFile(alice, bufferSource(text('draft 2')), { space: team, path: 'drafts/a.txt' });
    const link = await alice.request('link.create', { space: team, path: 'drafts/a.txt' });
    const { trashed } = await alice.request('trash', { space: team, path: 'drafts' });
    expect(trashed).toMatchObject({ path: 'drafts', kind: 'folder', files: 1, trashedBy: 'alice', bytes: 14 });
    expect((await bob.request('trash.list', { space: team })).items.map((t) => t.path)).toEqual(['drafts']);
    expect(await attempt(bob, 'trash.restore', { space: team, item: trashed.item })).toBe('READ_ONLY');
    // Gone from the listing, and its link serves nothing while it is in the trash.
    expect((await alice.request('list', { space: team, folder: '' })).entries.map((e) => e.name)).toEqual(['docs']);
    expect((await fetch(`${env.relay.httpUrl}${link.url}`)).status).toBe(404);
    expect((await alice.request('link.list', {})).links.find((l) => l.id === link.id)).toMatchObject({ trashed: true });
    // A trash item of one space cannot be restored through another.
    expect(await attempt(alice, 'trash.restore', { space: aliceHome, item: trashed.item })).toBe('NOT_FOUND');
    expect(await alice.request('trash.restore', { space: team, item: trashed.item })).toEqual({ space: team, path: 'drafts' });
    expect((await alice.request('history', { space: team, path: 'drafts/a.txt' })).versions.map((v) => v.version)).toEqual([2, 1]);
    expect(await (await fetch(`${env.relay.httpUrl}${link.url}`)).text()).toBe('draft 2');
    // The admin empties the trash (of a space they cannot browse).
    const again = (await alice.request('trash', { space: team, path: 'drafts/a.txt' })).trashed;
    expect(await admin.request('trash.purge', { space: team, item: again.item })).toEqual({ space: team, items: 1, files: 1 });
    expect((await alice.request('trash.list', { space: team })).items).toEqual([]);
    expect((await alice.request('link.list', {})).links.find((l) => l.id === link.id)).toBeUndefined();
  });

  it('renames and moves: one step, versions and links follow, even to another space', async () => {
    await uploadFile(alice, bufferSource(text('m1')), { space: team, path: 'move/me.txt' });
    await uploadFile(alice, bufferSource(text('m2')), { space: team, path: 'move/me.txt' });
    const link = await bob.request('link.create', { space: team, path: 'move/me.txt' });
    expect(await alice.request('move', { space: team, path: 'move/me.txt', to: 'move/renamed.txt' })).toEqual({ space: team, path: 'move/renamed.txt', kind: 'file', files: 1 });
    expect(await alice.request('move', { space: team, path: 'move', to: 'archive/2026' })).toEqual({ space: team, path: 'archive/2026', kind: 'folder', files: 1 });
    expect((await alice.request('history', { space: team, path: 'archive/2026/renamed.txt' })).versions).toHaveLength(2);
    expect(await (await fetch(`${env.relay.httpUrl}${link.url}`)).text()).toBe('m2');
    expect((await bob.request('link.list', {})).links.find((l) => l.id === link.id)?.path).toBe('archive/2026/renamed.txt');
    // Into alice's My files: bob's link stops, since bob cannot see it there.
    await alice.request('move', { space: team, path: 'archive', toSpace: aliceHome, to: 'archive' });
    expect((await fetch(`${env.relay.httpUrl}${link.url}`)).status).toBe(404);
    expect((await alice.request('history', { path: 'archive/2026/renamed.txt' })).versions).toHaveLength(2);
    expect(await attempt(alice, 'move', { path: 'archive', to: 'archive/inside' })).toBe('BAD_PATH');
    expect(await attempt(alice, 'move', { path: 'archive', to: 'secret' })).toBe('PATH_CONFLICT');
    expect(await attempt(alice, 'move', { path: 'nothing', to: 'x' })).toBe('NOT_FOUND');
    expect(await attempt(alice, 'move', { path: 'archive', to: '../escape' })).toBe('BAD_PATH');
  });

  it('makes empty folders that list, take uploads, and are refused where a file is', async () => {
    expect(await alice.request('mkdir', { space: team, path: 'empty/inner' })).toEqual({ space: team, path: 'empty/inner' });
    expect((await bob.request('list', { space: team, folder: 'empty' })).entries).toEqual([{ kind: 'folder', name: 'inner', path: 'empty/inner' }]);
    expect((await bob.request('list', { space: team, folder: 'empty/inner' })).entries).toEqual([]);
    expect(await attempt(alice, 'mkdir', { space: team, path: 'docs/report.txt' })).toBe('PATH_CONFLICT');
    await uploadFile(alice, bufferSource(text('in')), { space: team, path: 'empty/inner/f.txt' });
    expect(await attempt(alice, 'upload.begin', begin(team, 'empty', text('a file named like the folder')))).toBe('ok');
  });

  it('of two moves of one folder at the same moment, one wins and nothing is lost', async () => {
    for (let i = 0; i < 5; i++) await uploadFile(alice, bufferSource(text(`file ${i}`)), { space: team, path: `race/f${i}.txt` });
    const alice2 = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      const results = await Promise.all([
        alice.request('move', { space: team, path: 'race', to: 'race-a' }).then(() => 'a', (e) => e.code),
        alice2.request('move', { space: team, path: 'race', to: 'race-b' }).then(() => 'b', (e) => e.code),
      ]);
      expect(results.filter((r) => r === 'a' || r === 'b')).toHaveLength(1);
      expect(results).toContain('NOT_FOUND');
      const winner = results.includes('a') ? 'race-a' : 'race-b';
      expect((await alice.request('list', { space: team, folder: winner })).entries.map((e) => e.name)).toEqual(['f0.txt', 'f1.txt', 'f2.txt', 'f3.txt', 'f4.txt']);
      expect(await attempt(alice, 'list', { space: team, folder: 'race' })).toBe('NOT_FOUND');
    } finally {
      alice2.close();
    }
  });

  it('loses no upload that commits into a folder while it is trashed', async () => {
    await uploadFile(alice, bufferSource(text('old')), { space: team, path: 'busy/old.txt' });
    const data = randomData(100_000);
    const [up] = await Promise.all([
      uploadFile(alice, bufferSource(data), { space: team, path: 'busy/new.bin' }),
      alice.request('trash', { space: team, path: 'busy' }),
    ]);
    // The new file is either live (committed after the trash) or in the trashed folder: never gone.
    const live = await alice.request('history', { space: team, path: 'busy/new.bin' }).catch(() => undefined);
    if (!live) {
      const item = (await alice.request('trash.list', { space: team })).items.find((t) => t.path === 'busy')!;
      expect(item.files).toBe(2);
      await alice.request('trash.restore', { space: team, item: item.item });
    }
    const sink = memorySink();
    await downloadFile(alice, sink, { space: team, path: (await alice.request('search', { text: 'new.bin', space: team })).hits[0].path });
    expect(sha256(sink.bytes())).toBe(up.sha256);
  });

  it('removes a user with their My files; what they added to shared folders stays', async () => {
    await admin.request('folder.members', { folder: team, set: [{ user: 'bob', access: 'edit' }] });
    await uploadFile(bob, bufferSource(text('bob private')), { path: 'bob.txt' });
    await uploadFile(bob, bufferSource(text('bob shared')), { space: team, path: 'from-bob.txt' });
    expect(await attempt(admin, 'user.remove', { name: 'admin' })).toBe('FORBIDDEN');
    expect(await admin.request('user.remove', { name: 'bob' })).toEqual({ name: 'bob', files: 1, bytes: 11 });
    // Signed out at once: bob's connection can do nothing more.
    await expect.poll(() => attempt(bob, 'spaces', {}), { timeout: 10_000 }).not.toBe('ok');
    expect((await alice.request('history', { space: team, path: 'from-bob.txt' })).versions[0].uploader).toBe('(deleted user)');
    expect((await admin.request('user.list', {})).users.map((u) => u.name)).toEqual(['admin', 'alice']);
    await expect(signIn(env.relay, BOB.name, BOB.password)).rejects.toMatchObject({ code: 'LOGIN_FAILED' });
  });
});
