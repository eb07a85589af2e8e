import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metaStoreContract } from './meta-store.contract.js';
import { SCHEMA_VERSION, SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { DOWNLOAD_UNITS } from '../../relay/store/meta-store.js';
import { tempDir } from '../helpers/relay.js';
import { POSTGRES, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { PostgresMetaStore } from '../../relay/store/postgres-meta-store.js';

metaStoreContract(
  'SqliteMetaStore (file)',
  async () => {
    const tmp = tempDir();
    const file = path.join(tmp.dir, 'meta.db');
    const store = new SqliteMetaStore(file);
    return {
      store,
      // A second connection to the same file, as a second process has.
      second: async () => new SqliteMetaStore(file),
      dispose: async () => {
        await store.close();
        tmp.remove();
      },
    };
  },
  { racing: true },
);

metaStoreContract('SqliteMetaStore (in memory)', async () => {
  const store = new SqliteMetaStore(':memory:');
  return { store, dispose: () => store.close() };
});

if (!POSTGRES) console.log('PostgreSQL MetaStore tests skipped: PostgreSQL is not installed (apt-get install postgresql-15)');

describe.skipIf(!POSTGRES)('PostgreSQL', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(() => server?.stop());

  // A fresh database for every test, like a fresh SQLite file.
  metaStoreContract(
    'PostgresMetaStore',
    async () => {
      const url = await server.createDatabase();
      const store = await PostgresMetaStore.open(url);
      return { store, second: () => PostgresMetaStore.open(url), dispose: () => store.close() };
    },
    { racing: true },
  );

  it('wakes every relay on the database when one logs a change, and again after the server comes back', async () => {
    const url = await server.createDatabase();
    const [a, b] = [await PostgresMetaStore.open(url), await PostgresMetaStore.open(url)];
    let wakes = 0;
    const stop = await a.watchChanges(() => wakes++);
    try {
      const user = await b.createUser({ name: 'alice', role: 'user', passwordHash: 'x', now: 1 });
      const spaceId = (await b.homeSpace(user.id)).id;
      const before = wakes;
      const c = { userId: user.id, spaceId, conflict: 'version' as const, size: 1, mtime: 1, contentHash: 'c'.repeat(64), sha256: 's'.repeat(64), sha256Verified: true, chunks: [{ offset: 0, length: 1, sha256: 'c'.repeat(64) }], keepReplaced: true, now: 1 };
      await b.commitVersion({ ...c, path: 'quiet' });
      await new Promise((r) => setTimeout(r, 300));
      expect(wakes).toBe(before); // nothing logged, nothing said
      await b.commitVersion({ ...c, path: 'loud', by: 'alice' });
      await expect.poll(() => wakes, { timeout: 5000 }).toBe(before + 1);
      // The database restarts: the listener connects again and wakes once to catch up.
      server.stopServer('immediate');
      server.startServer();
      await expect.poll(() => wakes, { timeout: 15_000, interval: 100 }).toBeGreaterThan(before + 1);
    } finally {
      await stop();
      await a.close();
      await b.close();
    }
  }, 60_000);
});

describe('SqliteMetaStore migrations', () => {
  it("opens a database from the first release's schema and carries every row over", async () => {
    const tmp = tempDir();
    const file = path.join(tmp.dir, 'old.db');
    const old = new Database(file);
    old.exec(readFileSync(path.join(import.meta.dirname, '../fixtures/first-release.sql'), 'utf8'));
    old.close();
    const store = new SqliteMetaStore(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      // Every name carried over is kept folded for search (schema step 4).
      for (const table of ['files', 'folders']) {
        expect(store.db.prepare(`SELECT count(*) FROM ${table} WHERE fold IS NULL OR fold <> ferry_fold(name)`).pluck().get(), table).toBe(0);
        expect(store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get(), table).toBeGreaterThan(0);
      }
      expect(await store.getUserByName('alice')).toMatchObject({ id: 1, role: 'user' });
      expect(await store.getSession('s'.repeat(64))).toMatchObject({ userId: 1 });
      const shared = (await store.getSharedSpace('Shared'))!.id;
      const v = (await store.getVersion(shared, 'docs/a.txt'))!;
      // A whole-file hash from before is kept but not trusted as a source for other versions.
      expect(v).toMatchObject({ version: 1, sha256: 'w'.repeat(64), sha256Verified: false, chunks: [{ offset: 0, length: 10, sha256: 'a'.repeat(64) }] });
      expect(await store.sha256ForContent('c'.repeat(64))).toBeUndefined();
      const up = (await store.getUpload('up1'))!;
      expect(up).toMatchObject({ leg: '', path: 'big.bin', size: 20, spaceId: shared });
      expect(up.chunks).toEqual([
        { offset: 0, length: 10, sha256: 'b'.repeat(64) },
        { offset: 10, length: 10, sha256: 'd'.repeat(64) },
      ]);
      expect([...(await store.heldChunks('up1'))]).toEqual([0]);
      expect(await store.getLink('L1nkL1nkL1nkL1nkL1nkL1nk')).toMatchObject({ downloads: 2, servedUnits: 2 * DOWNLOAD_UNITS, maxDownloads: 3 });
      expect((await store.listFolder(shared, 'docs')).map((e) => e.name)).toEqual(['a.txt']);
    } finally {
      await store.close();
    }
    // Opening it again changes nothing.
    const again = new SqliteMetaStore(file);
    expect((await again.getUpload('up1'))?.chunks).toHaveLength(2);
    await again.close();
    tmp.remove();
  });

  it('opens a database from before spaces: the one library becomes the shared folder "Shared" everyone can edit', async () => {
    const tmp = tempDir();
    const file = path.join(tmp.dir, 'v1.db');
    const old = new Database(file);
    old.exec(readFileSync(path.join(import.meta.dirname, '../fixtures/before-spaces.sql'), 'utf8'));
    expect(old.pragma('user_version', { simple: true })).toBe(1);
    old.close();
    const store = new SqliteMetaStore(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      const shared = (await store.getSharedSpace('Shared'))!;
      expect(shared.kind).toBe('shared');
      expect((await store.members(shared.id)).map((m) => [m.name, m.access])).toEqual([['alice', 'edit'], ['bob', 'edit'], ['root', 'edit']]);
      // Every user has an empty My files.
      for (const name of ['root', 'alice', 'bob']) {
        const u = (await store.getUserByName(name))!;
        expect(await store.homeSpace(u.id)).toMatchObject({ kind: 'home', name });
        expect(await store.listFolder((await store.homeSpace(u.id)).id, '')).toEqual([]);
        expect((await store.spacesOf(u.id)).map((x) => x.name)).toEqual([name, 'Shared']);
      }
      // Files, versions (with their uploaders and chunk lists), folders: all in Shared.
      expect((await store.listFolder(shared.id, '')).map((e) => [e.kind, e.name])).toEqual([['folder', 'reports'], ['file', 'notes.txt']]);
      expect((await store.listVersions(shared.id, 'reports/q1.pdf')).map((v) => [v.version, v.uploader, v.current])).toEqual([[2, 'bob', true], [1, 'root', false]]);
      expect((await store.getVersion(shared.id, 'reports/2026/q2.pdf'))?.chunks).toEqual([{ offset: 0, length: 10, sha256: 'c'.repeat(64) }]);
      expect(await store.getVersion(shared.id, 'notes.txt')).toMatchObject({ size: 4, sha256Verified: true });
      // The open upload continues into Shared; sessions and devices stay.
      expect(await store.getUpload('up1')).toMatchObject({ spaceId: shared.id, leg: 'leg1', path: 'big.bin' });
      expect([...(await store.heldChunks('up1'))]).toEqual([0]);
      const alice = (await store.getUserByName('alice'))!;
      expect((await store.getSession('s'.repeat(64)))?.userId).toBe(alice.id);
      expect((await store.getDevice('d'.repeat(64)))?.userId).toBe(alice.id);
      // A link now points at its file (and follows it); one to a file that was gone is dropped.
      expect(await store.getLink('L1nkL1nkL1nkL1nkL1nkL1nk')).toMatchObject({ spaceId: shared.id, path: 'reports/q1.pdf', servedUnits: 1_500_000, maxDownloads: 3 });
      expect(await store.getLink('G0neG0neG0neG0neG0neG0ne')).toBeUndefined();
      await store.move({ spaceId: shared.id, path: 'reports' }, { spaceId: shared.id, path: 'archive/reports' });
      expect((await store.getLink('L1nkL1nkL1nkL1nkL1nkL1nk'))?.path).toBe('archive/reports/q1.pdf');
      // The foreign keys hold after the table rebuild.
      expect(store.db.pragma('foreign_key_check')).toEqual([]);
      expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
      // New users get a home space too.
      const carol = await store.createUser({ name: 'carol', role: 'user', passwordHash: 'x', now: 1 });
      expect((await store.spacesOf(carol.id)).map((x) => x.kind)).toEqual(['home']);
    } finally {
      await store.close();
      tmp.remove();
    }
  });
});
