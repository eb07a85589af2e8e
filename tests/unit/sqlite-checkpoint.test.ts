import { readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { tempDir } from '../helpers/relay.js';

const digest = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('SQLite checkpoints on a thread of their own (the relay’s store)', () => {
  const dirs: { remove(): void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  const writeSome = (store: SqliteMetaStore) => {
    store.db.exec('CREATE TABLE IF NOT EXISTS filler (n INTEGER, pad TEXT)');
    const insert = store.db.prepare('INSERT INTO filler VALUES (?, ?)');
    // About 100 pages: far below the 1,000 at which a commit would checkpoint by itself.
    for (let i = 0; i < 100; i++) store.db.transaction(() => insert.run(i, 'x'.repeat(3000)))();
  };

  it('folds the log into the database while commits never do it themselves, and the data survives closing', async () => {
    const tmp = tempDir();
    dirs.push(tmp);
    const file = path.join(tmp.dir, 'ferry.db');
    const store = new SqliteMetaStore(file, { checkpointThread: true });
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = digest(file);
    writeSome(store);
    // Within a few ticks of the thread (every 250 ms) the rows are in the database file itself.
    let moved = false;
    for (let i = 0; i < 40 && !moved; i++) {
      await sleep(100);
      moved = digest(file) !== before;
    }
    expect(moved).toBe(true);
    await store.close();
    const again = new Database(file, { readonly: true });
    expect(again.prepare('SELECT count(*) AS n FROM filler').get()).toEqual({ n: 100 });
    again.close();
  });

  it('without the thread (other commands), the same commits leave the database file as it was until closing', async () => {
    const tmp = tempDir();
    dirs.push(tmp);
    const file = path.join(tmp.dir, 'ferry.db');
    const store = new SqliteMetaStore(file);
    const before = digest(file);
    writeSome(store);
    await sleep(700);
    expect(digest(file)).toBe(before);
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(100 * 3000);
    await store.close();
  });
});
