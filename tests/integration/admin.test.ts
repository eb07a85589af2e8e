import { describe, expect, it } from 'vitest';
import { FerryClient, uploadFile } from '../../relay/client/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { ADMIN, ALICE, BOB, aliceOnRelay, sharedFolder, signIn } from '../helpers/relay.js';
import { bufferSource, randomData } from '../helpers/files.js';

describe('administration', () => {
  const f = aliceOnRelay();

  it('refuses every admin operation to a user with FORBIDDEN', async () => {
    await expect(f.alice.request('user.list', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(f.alice.request('user.add', { name: 'eve', role: 'admin', password: 'long-password' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(f.alice.request('user.update', { name: 'bob', disabled: true })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(f.alice.request('stats', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(f.alice.request('delete', { path: 'anything' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('adds users, changes roles, and keeps at least one admin', async () => {
    const admin = await signIn(f.env.relay, ADMIN.name, ADMIN.password);
    try {
      expect(await admin.request('user.add', { name: 'carol', role: 'user', password: 'carol-password' })).toEqual({ name: 'carol', role: 'user' });
      await expect(admin.request('user.add', { name: 'Carol', role: 'user', password: 'carol-password' })).rejects.toMatchObject({ code: 'USER_EXISTS' });
      const carol = await signIn(f.env.relay, 'carol', 'carol-password');
      carol.close();
      expect(await admin.request('user.update', { name: 'carol', role: 'admin' })).toMatchObject({ role: 'admin' });
      expect((await admin.request('user.list', {})).users.map((u) => [u.name, u.role])).toContainEqual(['carol', 'admin']);
      await admin.request('user.update', { name: 'carol', role: 'user' });
      await expect(admin.request('user.update', { name: 'admin', role: 'user' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    } finally {
      admin.close();
    }
  });

  it("ends a disabled user's sessions at once, and a password reset too", async () => {
    const admin = await signIn(f.env.relay, ADMIN.name, ADMIN.password);
    const states: string[] = [];
    const bob = new FerryClient({ url: f.env.relay.wsUrl, createSocket: nodeSocketFactory, onState: (s) => states.push(s) });
    try {
      await bob.connect();
      await bob.login(BOB.name, BOB.password);
      const token = bob.token!;
      await admin.request('user.update', { name: 'bob', disabled: true });
      await expect.poll(() => states.at(-1)).toBe('closed');
      // The right password learns the account is disabled; a wrong one learns nothing.
      await expect(signIn(f.env.relay, BOB.name, BOB.password)).rejects.toMatchObject({ code: 'ACCOUNT_DISABLED' });
      await expect(signIn(f.env.relay, BOB.name, 'not-his-password')).rejects.toMatchObject({ code: 'LOGIN_FAILED' });
      const reuse = new FerryClient({ url: f.env.relay.wsUrl, createSocket: nodeSocketFactory, token, reconnect: false });
      await expect(reuse.connect()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
      await admin.request('user.update', { name: 'bob', disabled: false, password: 'bob-new-password' });
      await expect(signIn(f.env.relay, BOB.name, BOB.password)).rejects.toMatchObject({ code: 'LOGIN_FAILED' });
      (await signIn(f.env.relay, BOB.name, 'bob-new-password')).close();
    } finally {
      bob.close();
      admin.close();
    }
  });

  it('lets a user change their own password, signing out their other sessions', async () => {
    const other = await signIn(f.env.relay, ALICE.name, ALICE.password);
    const states: string[] = [];
    const me = new FerryClient({ url: f.env.relay.wsUrl, createSocket: nodeSocketFactory, onState: (s) => states.push(s) });
    try {
      await me.connect();
      await me.login(ALICE.name, ALICE.password);
      await expect(me.request('password.change', { current: 'wrong', password: 'alice-new-password' })).rejects.toMatchObject({ code: 'LOGIN_FAILED' });
      const r = await me.request('password.change', { current: ALICE.password, password: 'alice-new-password' });
      expect(r.endedSessions).toBeGreaterThanOrEqual(2); // `other` and the fixture's client
      await expect.poll(() => other.state).toBe('closed');
      expect((await me.request('list', { folder: '' })).folder).toBe('');
      await me.request('password.change', { current: 'alice-new-password', password: ALICE.password });
    } finally {
      other.close();
      me.close();
    }
  });

  it('reports storage used: logical bytes versus bytes on disk after dedup', async () => {
    const admin = await signIn(f.env.relay, ADMIN.name, ADMIN.password);
    try {
      const before = await admin.request('stats', {});
      const data = randomData(3 * 1024 * 1024);
      await uploadFile(admin, bufferSource(data), { path: 'stats/a.bin' });
      await uploadFile(admin, bufferSource(data), { path: 'stats/b.bin' });
      const after = await admin.request('stats', {});
      expect(after.logicalBytes - before.logicalBytes).toBe(2 * data.length);
      expect(after.storedBytes - before.storedBytes).toBe(data.length);
      expect(after.files - before.files).toBe(2);
    } finally {
      admin.close();
    }
  });
});

describe('the relay log for admins', () => {
  const f = aliceOnRelay();

  it('tails the log live and reads a time range; users are refused', async () => {
    const admin = await signIn(f.env.relay, ADMIN.name, ADMIN.password);
    try {
      await expect(f.alice.request('log.subscribe', {})).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(f.alice.request('log.read', { from: 0, to: Date.now() })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      const live: Record<string, unknown>[] = [];
      admin.onLogLine((l) => live.push(l));
      const { lines } = await admin.request('log.subscribe', {});
      expect(lines.some((l) => l.event === 'login' && l.user === 'admin')).toBe(true);
      const started = Date.now();
      await uploadFile(f.alice, bufferSource(Buffer.from('watched')), { path: 'watched.txt' });
      await expect.poll(() => live.some((l) => l.event === 'transfer' && l.path === 'watched.txt')).toBe(true);
      const range = await admin.request('log.read', { from: started, to: Date.now() + 1000 });
      expect(range.lines.some((l) => l.event === 'transfer' && l.path === 'watched.txt')).toBe(true);
      expect(range.lines.every((l) => Date.parse(l.time as string) >= started)).toBe(true);
      await admin.request('log.unsubscribe', {});
      const count = live.length;
      await uploadFile(f.alice, bufferSource(Buffer.from('unwatched')), { path: 'unwatched.txt' });
      await new Promise((r) => setTimeout(r, 200));
      expect(live.length).toBe(count);
    } finally {
      admin.close();
    }
  });
});

describe('library events', () => {
  const f = aliceOnRelay();

  it('tells the members of a space what changed there, in order, and nobody else', async () => {
    const space = await sharedFolder(f.env.relay, 'events', { alice: 'edit', bob: 'view', admin: 'edit' });
    const bob = await signIn(f.env.relay, BOB.name, BOB.password);
    const admin = await signIn(f.env.relay, ADMIN.name, ADMIN.password);
    const seen: { kind: string; path: string; version?: number; user: string; seq: number; space: number }[] = [];
    const adminSaw: string[] = [];
    bob.onLibraryEvent((e) => seen.push(e));
    admin.onLibraryEvent((e) => adminSaw.push(`${e.kind} ${e.path}`));
    try {
      // In alice's My files: only alice is told.
      await uploadFile(f.alice, bufferSource(Buffer.from('private')), { path: 'ev/private.txt' });
      await uploadFile(f.alice, bufferSource(Buffer.from('one')), { space, path: 'ev/doc.txt' });
      await uploadFile(f.alice, bufferSource(Buffer.from('two')), { space, path: 'ev/doc.txt' });
      await f.alice.request('restore', { space, path: 'ev/doc.txt', version: 1 });
      await admin.request('delete', { space, path: 'ev/doc.txt', version: 2 });
      await f.alice.request('move', { space, path: 'ev/doc.txt', to: 'ev/renamed.txt' });
      await f.alice.request('trash', { space, path: 'ev/renamed.txt' });
      await expect.poll(() => seen.length).toBe(6);
      expect(seen.map((e) => [e.kind, e.path, e.version, e.user, e.space])).toEqual([
        ['file.added', 'ev/doc.txt', 1, 'alice', space],
        ['version.added', 'ev/doc.txt', 2, 'alice', space],
        ['version.restored', 'ev/doc.txt', 3, 'alice', space],
        ['version.deleted', 'ev/doc.txt', 2, 'admin', space],
        ['moved', 'ev/renamed.txt', undefined, 'alice', space],
        ['trashed', 'ev/renamed.txt', undefined, 'alice', space],
      ]);
      expect(seen.map((e) => e.seq - seen[0].seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(adminSaw).not.toContain('file.added ev/private.txt');
      expect(adminSaw).toContain('file.added ev/doc.txt');
    } finally {
      bob.close();
      admin.close();
    }
  });

});
