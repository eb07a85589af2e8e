import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { metaStoreContract } from './meta-store.contract.js';
import { SCHEMA_VERSION, SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { DOWNLOAD_UNITS } from '../../relay/store/meta-store.js';
import { tempDir } from '../helpers/relay.js';

metaStoreContract('SqliteMetaStore (file)', () => {
  const tmp = tempDir();
  const store = new SqliteMetaStore(path.join(tmp.dir, 'meta.db'));
  return {
    store,
    dispose: () => {
      store.close();
      tmp.remove();
    },
  };
});

metaStoreContract('SqliteMetaStore (in memory)', () => {
  const store = new SqliteMetaStore(':memory:');
  return { store, dispose: () => store.close() };
});

describe('SqliteMetaStore migrations', () => {
  it("opens a database from the first release's schema and carries every row over", () => {
    const tmp = tempDir();
    const file = path.join(tmp.dir, 'old.db');
    const old = new Database(file);
    old.exec(readFileSync(path.join(import.meta.dirname, '../fixtures/first-release.sql'), 'utf8'));
    old.close();
    const store = new SqliteMetaStore(file);
    try {
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(store.getUserByName('alice')).toMatchObject({ id: 1, role: 'user' });
      expect(store.getSession('s'.repeat(64))).toMatchObject({ userId: 1 });
      const v = store.getVersion('docs/a.txt')!;
      // A whole-file hash from before is kept but not trusted as a source for other versions.
      expect(v).toMatchObject({ version: 1, sha256: 'w'.repeat(64), sha256Verified: false, chunks: [{ offset: 0, length: 10, sha256: 'a'.repeat(64) }] });
      expect(store.sha256ForContent('c'.repeat(64))).toBeUndefined();
      const up = store.getUpload('up1')!;
      expect(up).toMatchObject({ leg: '', path: 'big.bin', size: 20 });
      expect(up.chunks).toEqual([
        { offset: 0, length: 10, sha256: 'b'.repeat(64) },
        { offset: 10, length: 10, sha256: 'd'.repeat(64) },
      ]);
      expect([...store.heldChunks('up1')]).toEqual([0]);
      expect(store.getLink('L1nkL1nkL1nkL1nkL1nkL1nk')).toMatchObject({ downloads: 2, servedUnits: 2 * DOWNLOAD_UNITS, maxDownloads: 3 });
      expect(store.listFolder('docs').map((e) => e.name)).toEqual(['a.txt']);
    } finally {
      store.close();
    }
    // Opening it again changes nothing.
    const again = new SqliteMetaStore(file);
    expect(again.getUpload('up1')?.chunks).toHaveLength(2);
    again.close();
    tmp.remove();
  });
});
