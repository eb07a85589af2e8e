/**
 * MetaStore in SQLite (better-sqlite3): the embedded default. WAL journal, foreign keys
 * on; the queries are `SqlMetaStore`'s. The schema is the first release's (`SCHEMA`)
 * followed by numbered migrations (`MIGRATIONS`), recorded in `PRAGMA user_version`; a
 * new database runs the same steps as an old one.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { baseName, parentOf, type ChunkRef } from '../protocol/index.js';
import { DOWNLOAD_UNITS } from './meta-store.js';
import { SqlMetaStore, foldName } from './sql-meta-store.js';
import { SqliteSql } from './sql.js';

/** The first release's schema (user_version 0); `MIGRATIONS` build on it. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
  password_hash TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  token_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS setup_tokens (
  token_hash TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL UNIQUE,
  parent TEXT NOT NULL,
  name TEXT NOT NULL,
  current_version_id INTEGER,
  last_version INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_parent ON files(parent);
CREATE TABLE IF NOT EXISTS versions (
  id INTEGER PRIMARY KEY,
  file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
  num INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  content_hash TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  uploader_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (file_id, num)
);
CREATE INDEX IF NOT EXISTS versions_content ON versions(content_hash);
CREATE INDEX IF NOT EXISTS versions_uploader ON versions(uploader_id);
CREATE TABLE IF NOT EXISTS version_chunks (
  version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  offset INTEGER NOT NULL,
  length INTEGER NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (version_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS version_chunks_hash ON version_chunks(hash);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  mtime INTEGER NOT NULL,
  conflict TEXT NOT NULL,
  content_hash TEXT NOT NULL,
  chunks TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_lookup ON uploads(user_id, path, size);
CREATE TABLE IF NOT EXISTS upload_chunks (
  upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  hash TEXT NOT NULL,
  PRIMARY KEY (upload_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS upload_chunks_hash ON upload_chunks(hash);
CREATE TABLE IF NOT EXISTS share_links (
  id TEXT PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  path TEXT NOT NULL,
  version INTEGER,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  max_downloads INTEGER,
  downloads INTEGER NOT NULL DEFAULT 0,
  password_hash TEXT,
  revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS share_grants (
  link_id TEXT NOT NULL REFERENCES share_links(id) ON DELETE CASCADE,
  client TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (link_id, client)
) WITHOUT ROWID;
`;

/**
 * Schema changes, in order; entry i takes the database to user_version i + 1. Each runs
 * in one transaction with the version bump.
 */
const MIGRATIONS: ((db: Database.Database) => void)[] = [
  // 1: upload legs, chunk lists as rows, verified whole-file hashes, byte-counted link
  //    downloads, known devices.
  (db) => {
    db.exec(`
      ALTER TABLE uploads ADD COLUMN leg TEXT NOT NULL DEFAULT '';
      CREATE TABLE upload_list (
        upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        length INTEGER NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (upload_id, idx)
      ) WITHOUT ROWID;
      CREATE INDEX uploads_user ON uploads(user_id, updated_at);
    `);
    const insert = db.prepare('INSERT INTO upload_list (upload_id, idx, offset, length, hash) VALUES (?, ?, ?, ?, ?)');
    for (const r of db.prepare('SELECT id, chunks FROM uploads').all() as { id: string; chunks: string }[]) {
      (JSON.parse(r.chunks) as ChunkRef[]).forEach((c, i) => insert.run(r.id, i, c.offset, c.length, c.sha256));
    }
    db.exec(`
      DROP INDEX uploads_lookup;
      ALTER TABLE uploads DROP COLUMN chunks;
      -- Whole-file hashes recorded before they were verified are never copied from (see sha256ForContent).
      ALTER TABLE versions ADD COLUMN sha256_verified INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE share_links ADD COLUMN served_units INTEGER NOT NULL DEFAULT 0;
      UPDATE share_links SET served_units = downloads * ${DOWNLOAD_UNITS};
      ALTER TABLE share_links DROP COLUMN downloads;
      DROP TABLE share_grants;
      CREATE TABLE devices (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL
      );
    `);
  },
  // 2: spaces. Every user gets a My files space; the one library of before becomes the
  //    shared folder "Shared" that every user can edit. Files and folders belong to a
  //    space and can be in the trash; links point at a file by id, so they follow moves.
  (db) => {
    const now = Date.now();
    db.exec(`
      CREATE TABLE spaces (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('home', 'shared')),
        owner_id INTEGER UNIQUE REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL COLLATE NOCASE,
        created_at INTEGER NOT NULL,
        CHECK ((kind = 'home') = (owner_id IS NOT NULL))
      );
      CREATE UNIQUE INDEX spaces_shared_name ON spaces(name) WHERE kind = 'shared';
      CREATE TABLE members (
        space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        access TEXT NOT NULL CHECK (access IN ('view', 'edit')),
        PRIMARY KEY (space_id, user_id)
      ) WITHOUT ROWID;
      CREATE INDEX members_user ON members(user_id);
      CREATE TABLE trash (
        id INTEGER PRIMARY KEY,
        space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
        trashed_at INTEGER NOT NULL,
        trashed_by INTEGER REFERENCES users(id) ON DELETE SET NULL
      );
      CREATE INDEX trash_space ON trash(space_id, trashed_at);
      CREATE INDEX trash_age ON trash(trashed_at);
      INSERT INTO spaces (kind, owner_id, name, created_at) SELECT 'home', id, name, created_at FROM users;
    `);
    const shared = Number(db.prepare("INSERT INTO spaces (kind, name, created_at) VALUES ('shared', 'Shared', ?)").run(now).lastInsertRowid);
    db.prepare("INSERT INTO members (space_id, user_id, access) SELECT ?, id, 'edit' FROM users").run(shared);
    db.exec(`
      CREATE TABLE files_new (
        id INTEGER PRIMARY KEY,
        space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        parent TEXT NOT NULL,
        name TEXT NOT NULL,
        current_version_id INTEGER,
        last_version INTEGER NOT NULL DEFAULT 0,
        trash_id INTEGER REFERENCES trash(id) ON DELETE CASCADE
      );
      INSERT INTO files_new (id, space_id, path, parent, name, current_version_id, last_version)
        SELECT id, ${shared}, path, parent, name, current_version_id, last_version FROM files;
      DROP TABLE files;
      ALTER TABLE files_new RENAME TO files;
      CREATE UNIQUE INDEX files_live ON files(space_id, path) WHERE trash_id IS NULL;
      CREATE INDEX files_parent ON files(space_id, parent) WHERE trash_id IS NULL;
      CREATE INDEX files_trash ON files(trash_id) WHERE trash_id IS NOT NULL;
      CREATE TABLE folders (
        id INTEGER PRIMARY KEY,
        space_id INTEGER NOT NULL REFERENCES spaces(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        parent TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        trash_id INTEGER REFERENCES trash(id) ON DELETE CASCADE
      );
      CREATE UNIQUE INDEX folders_live ON folders(space_id, path) WHERE trash_id IS NULL;
      CREATE INDEX folders_parent ON folders(space_id, parent) WHERE trash_id IS NULL;
      CREATE INDEX folders_trash ON folders(trash_id) WHERE trash_id IS NOT NULL;
      ALTER TABLE uploads ADD COLUMN space_id INTEGER REFERENCES spaces(id) ON DELETE CASCADE;
      UPDATE uploads SET space_id = ${shared};
      ALTER TABLE share_links ADD COLUMN file_id INTEGER REFERENCES files(id) ON DELETE CASCADE;
      UPDATE share_links SET file_id = (SELECT id FROM files WHERE files.path = share_links.path);
      -- A link to a file that no longer exists served nothing; it has no file to follow.
      DELETE FROM share_links WHERE file_id IS NULL;
      CREATE INDEX share_links_file ON share_links(file_id);
      CREATE INDEX share_links_owner ON share_links(owner_id, created_at);
    `);
    // Every folder a file is in becomes a row of its own (search finds folders by name).
    const folder = db.prepare('INSERT INTO folders (space_id, path, parent, name, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING');
    for (const path of db.prepare('SELECT DISTINCT parent FROM files').pluck().all() as string[]) {
      for (let p = path; p !== ''; p = parentOf(p)) folder.run(shared, p, parentOf(p), baseName(p), now);
    }
  },
  // 3: a share link may carry a message from its sender, shown on its page.
  (db) => {
    db.exec('ALTER TABLE share_links ADD COLUMN message TEXT');
  },
  // 4: names kept folded (NFKC, lower case) next to themselves, so search compares
  // stored text instead of folding every name on every query.
  (db) => {
    db.exec(`
      ALTER TABLE files ADD COLUMN fold TEXT;
      ALTER TABLE folders ADD COLUMN fold TEXT;
      UPDATE files SET fold = ferry_fold(name);
      UPDATE folders SET fold = ferry_fold(name);
    `);
  },
  // 5: one-time sign-in codes (a QR code that signs a phone in as its maker).
  (db) => {
    db.exec(`
      CREATE TABLE signin_codes (
        code_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        expires_at INTEGER NOT NULL
      );
    `);
  },
  // 6: the change log (every change to the library, in order, for catching up), values
  //    every relay on the database shares (secrets, ids), and failed password attempts
  //    (the throttle's counts, which a restart no longer forgets), leases (the one
  //    garbage collector of a deployment) and the log lines relays share.
  (db) => {
    db.exec(`
      CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        space_id INTEGER NOT NULL,
        from_space_id INTEGER,
        at INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX changes_space ON changes(space_id, seq);
      CREATE INDEX changes_at ON changes(at);
      CREATE TABLE shared_values (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        at INTEGER NOT NULL
      );
      CREATE INDEX attempts_name ON attempts(name, at);
      CREATE INDEX attempts_at ON attempts(at);
      CREATE TABLE leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        until INTEGER NOT NULL
      );
      CREATE TABLE log_lines (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        relay TEXT NOT NULL,
        line TEXT NOT NULL
      );
      CREATE INDEX log_lines_at ON log_lines(at);
    `);
  },
  // 7: a version a write from another device made while this one changed (sync's
  //    compare-and-swap lost): the device's name, kept with the version.
  (db) => {
    db.exec('ALTER TABLE versions ADD COLUMN conflict TEXT');
  },
  // 8: devices as a person sees them (name, kind, last seen, what each syncs), revoked
  //    ones, and the device each session was opened on.
  (db) => {
    db.exec(`
      ALTER TABLE devices ADD COLUMN name TEXT;
      ALTER TABLE devices ADD COLUMN kind TEXT;
      ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;
      ALTER TABLE devices ADD COLUMN revoked_at INTEGER;
      ALTER TABLE devices ADD COLUMN sync TEXT;
      ALTER TABLE sessions ADD COLUMN device_hash TEXT;
      CREATE INDEX sessions_device ON sessions(device_hash);
    `);
  },
  // 9: the executable bit of a version (POSIX `chmod +x`), kept by sync and the CLI.
  (db) => {
    db.exec('ALTER TABLE versions ADD COLUMN executable INTEGER NOT NULL DEFAULT 0');
  },
  // 10: end-to-end encryption: each person's key record (opaque to the relay), encrypted
  //     folders (a folder row with the id its creator picked) and their keys wrapped for
  //     each member and epoch, and each encrypted version's sealed facts.
  (db) => {
    db.exec(`
      CREATE TABLE user_keys (
        user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        record TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      ALTER TABLE folders ADD COLUMN e2e_id TEXT;
      CREATE UNIQUE INDEX folders_e2e ON folders(e2e_id) WHERE e2e_id IS NOT NULL;
      CREATE TABLE folder_keys (
        e2e_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        envelope TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (e2e_id, epoch, user_id)
      );
      ALTER TABLE versions ADD COLUMN sealed TEXT;
    `);
  },
  // 11: who wrapped each folder key (a member for another, with their key pair; none: the
  //     owner for themselves, under their account key).
  (db) => {
    db.exec('ALTER TABLE folder_keys ADD COLUMN from_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL');
  },
  // 12: encrypted share links. Each person may have a hidden space of kind 'links' holding
  //     the sealed copies their encrypted links hand out (one owner, never listed); such a
  //     link keeps its key wrapped for its owner (its page decrypts in the browser).
  (db) => {
    db.exec(`
      CREATE TABLE spaces_new (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('home', 'shared', 'links')),
        owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
        name TEXT NOT NULL COLLATE NOCASE,
        created_at INTEGER NOT NULL,
        CHECK ((kind = 'shared') = (owner_id IS NULL))
      );
      INSERT INTO spaces_new (id, kind, owner_id, name, created_at) SELECT id, kind, owner_id, name, created_at FROM spaces;
      DROP TABLE spaces;
      ALTER TABLE spaces_new RENAME TO spaces;
      CREATE UNIQUE INDEX spaces_shared_name ON spaces(name) WHERE kind = 'shared';
      CREATE UNIQUE INDEX spaces_owner ON spaces(kind, owner_id) WHERE owner_id IS NOT NULL;
      ALTER TABLE share_links ADD COLUMN e2e_key TEXT;
    `);
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export class SqliteMetaStore extends SqlMetaStore {
  readonly db: Database.Database;
  private readonly checkpointer?: Checkpointer;

  /**
   * Opens (and creates when needed) the database at `file`; ':memory:' for a throwaway one.
   * `checkpointThread`: copy the write-ahead log into the database on a thread of its own
   * instead of inside whichever commit passes 1,000 pages (for the relay, whose commits
   * run on its one JavaScript thread).
   */
  constructor(file: string, opts: { checkpointThread?: boolean } = {}) {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a crash of the process; see docs/architecture.md on durability.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.function('ferry_fold', { deterministic: true }, (name) => foldName(String(name)));
    migrate(db);
    super(new SqliteSql(db, file === ':memory:' ? undefined : path.resolve(file)));
    this.db = db;
    if (opts.checkpointThread && file !== ':memory:') {
      this.checkpointer = new Checkpointer(path.resolve(file));
      db.pragma('wal_autocheckpoint = 0');
    }
  }

  override async close(): Promise<void> {
    // The thread's connection closes first, so the last one to close (this) folds the log in.
    await this.checkpointer?.stop();
    await super.close();
  }
}

/** Checkpoints in the thread: often enough that the log stays small, passive so no writer waits. */
const CHECKPOINT_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
db.pragma('wal_autocheckpoint = 0');
const tick = () => {
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); }
};
const timer = setInterval(tick, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  tick();
  db.close();
  parentPort.postMessage({ stopped: true });
});
`;

/** Milliseconds between checkpoints. */
const CHECKPOINT_EVERY_MS = 250;

class Checkpointer {
  private readonly worker: Worker;
  private readonly stopped: Promise<void>;

  constructor(file: string) {
    this.worker = new Worker(CHECKPOINT_SOURCE, {
      eval: true,
      workerData: { file, module: createRequire(import.meta.url).resolve('better-sqlite3'), everyMs: CHECKPOINT_EVERY_MS },
    });
    this.worker.unref();
    this.stopped = new Promise((resolve) => {
      this.worker.on('message', (m: { error?: string; stopped?: boolean }) => {
        if (m.stopped) resolve();
        // A checkpoint that failed is tried again at the next tick; the log only grows meanwhile.
        else if (m.error) process.emitWarning(`SQLite checkpoint: ${m.error}`);
      });
      this.worker.on('error', () => resolve());
      this.worker.on('exit', () => resolve());
    });
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    await this.stopped;
    await this.worker.terminate();
  }
}

function migrate(db: Database.Database): void {
  const at = db.pragma('user_version', { simple: true }) as number;
  if (at > SCHEMA_VERSION) throw new Error(`The database is from a newer Ferry (schema ${at}; this one knows ${SCHEMA_VERSION}).`);
  if (at === SCHEMA_VERSION) return;
  if (at === 0) db.exec(SCHEMA);
  // Tables are rebuilt with foreign keys off (dropping the old one must not cascade),
  // then checked before each step commits: SQLite's own procedure for schema changes.
  db.pragma('foreign_keys = OFF');
  try {
    for (let v = at; v < SCHEMA_VERSION; v++) {
      db.transaction(() => {
        MIGRATIONS[v](db);
        const broken = db.pragma('foreign_key_check') as unknown[];
        if (broken.length) throw new Error(`Schema step ${v + 1} left ${broken.length} broken references.`);
        db.pragma(`user_version = ${v + 1}`);
      })();
    }
  } finally {
    db.pragma('foreign_keys = ON');
  }
}
