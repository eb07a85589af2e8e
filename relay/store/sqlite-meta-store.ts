/**
 * MetaStore in SQLite (better-sqlite3). WAL journal, foreign keys on. Every method
 * is synchronous and every multi-row change runs in one transaction, so a crash
 * leaves either the old state or the new one. The schema is the first release's
 * (`SCHEMA`) followed by numbered migrations (`MIGRATIONS`), recorded in
 * `PRAGMA user_version`; a new database runs the same steps as an old one.
 */
import Database from 'better-sqlite3';
import { FerryError, baseName, parentOf, renamedPath, type ChunkRef, type Role } from '../protocol/index.js';
import {
  DOWNLOAD_UNITS,
  type Access,
  type CommitInput,
  type FileEntry,
  type FolderEntry,
  type MetaStore,
  type RetentionPolicy,
  type SearchHit,
  type ShareLink,
  type Space,
  type TrashItem,
  type UploadRecord,
  type User,
  type VersionRecord,
} from './meta-store.js';

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
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

interface VersionRow {
  id: number;
  file_id: number;
  space_id: number;
  path: string;
  num: number;
  size: number;
  mtime: number;
  content_hash: string;
  sha256: string;
  sha256_verified: number;
  uploader: string | null;
  created_at: number;
  current_version_id: number;
}

const VERSION_SELECT = `
  SELECT v.id, v.file_id, f.space_id, f.path, v.num, v.size, v.mtime, v.content_hash, v.sha256, v.sha256_verified,
         u.name AS uploader, v.created_at, f.current_version_id
  FROM versions v JOIN files f ON f.id = v.file_id LEFT JOIN users u ON u.id = v.uploader_id`;

function toVersion(r: VersionRow): VersionRecord {
  return {
    id: r.id,
    fileId: r.file_id,
    spaceId: r.space_id,
    path: r.path,
    version: r.num,
    size: r.size,
    mtime: r.mtime,
    contentHash: r.content_hash,
    sha256: r.sha256,
    sha256Verified: r.sha256_verified === 1,
    uploader: r.uploader ?? '(deleted user)',
    createdAt: r.created_at,
    current: r.id === r.current_version_id,
  };
}

interface UserRow {
  id: number;
  name: string;
  role: Role;
  password_hash: string;
  disabled: number;
  created_at: number;
}

function toUser(r: UserRow | undefined): User | undefined {
  return r && { id: r.id, name: r.name, role: r.role, passwordHash: r.password_hash, disabled: !!r.disabled, createdAt: r.created_at };
}

interface SpaceRow {
  id: number;
  kind: 'home' | 'shared';
  owner_id: number | null;
  name: string;
  created_at: number;
}

function toSpace(r: SpaceRow): Space {
  return { id: r.id, kind: r.kind, name: r.name, ownerId: r.owner_id ?? undefined, createdAt: r.created_at };
}

interface TrashRow {
  id: number;
  space_id: number;
  path: string;
  kind: 'file' | 'folder';
  trashed_at: number;
  by: string | null;
  files: number;
  bytes: number;
}

const TRASH_SELECT = `
  SELECT t.id, t.space_id, t.path, t.kind, t.trashed_at, u.name AS by,
         (SELECT count(*) FROM files f WHERE f.trash_id = t.id) AS files,
         (SELECT coalesce(sum(v.size), 0) FROM files f JOIN versions v ON v.file_id = f.id WHERE f.trash_id = t.id) AS bytes
  FROM trash t LEFT JOIN users u ON u.id = t.trashed_by`;

function toTrash(r: TrashRow): TrashItem {
  return { id: r.id, spaceId: r.space_id, path: r.path, kind: r.kind, trashedAt: r.trashed_at, trashedBy: r.by ?? '(deleted user)', files: r.files, bytes: r.bytes };
}

interface UploadRow {
  id: string;
  user_id: number;
  space_id: number;
  leg: string;
  path: string;
  size: number;
  mtime: number;
  conflict: UploadRecord['conflict'];
  content_hash: string;
  created_at: number;
  updated_at: number;
}

function toUpload(r: UploadRow, chunks: ChunkRef[]): UploadRecord {
  return {
    id: r.id,
    userId: r.user_id,
    spaceId: r.space_id,
    leg: r.leg,
    path: r.path,
    size: r.size,
    mtime: r.mtime,
    conflict: r.conflict,
    contentHash: r.content_hash,
    chunks,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

interface LinkRow {
  id: string;
  owner_id: number;
  owner: string | null;
  file_id: number;
  space_id: number;
  file_path: string;
  trash_id: number | null;
  version: number | null;
  created_at: number;
  expires_at: number | null;
  max_downloads: number | null;
  served_units: number;
  password_hash: string | null;
  revoked_at: number | null;
  message: string | null;
}

const LINK_SELECT = `SELECT l.*, u.name AS owner, f.space_id, f.path AS file_path, f.trash_id
  FROM share_links l JOIN files f ON f.id = l.file_id LEFT JOIN users u ON u.id = l.owner_id`;

function toLink(r: LinkRow): ShareLink {
  return {
    id: r.id,
    ownerId: r.owner_id,
    owner: r.owner ?? '(deleted user)',
    fileId: r.file_id,
    spaceId: r.space_id,
    path: r.file_path,
    trashed: r.trash_id !== null,
    version: r.version ?? undefined,
    createdAt: r.created_at,
    expiresAt: r.expires_at ?? undefined,
    maxDownloads: r.max_downloads ?? undefined,
    downloads: Math.floor(r.served_units / DOWNLOAD_UNITS),
    servedUnits: r.served_units,
    passwordHash: r.password_hash ?? undefined,
    revokedAt: r.revoked_at ?? undefined,
    message: r.message ?? undefined,
  };
}

/**
 * The paths under `folder/` are those in [lo, hi) in SQLite's byte order of UTF-8 text
 * ('0' follows '/'). The root has no upper bound: every path is under it, including
 * those starting with U+10FFFF.
 */
/** Names as search compares them: compatibility forms folded (ｆｕｌｌ → full), lower case. */
export function foldName(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

function underRange(folder: string): [string, string | undefined] {
  return folder === '' ? ['', undefined] : [`${folder}/`, `${folder}0`];
}

/** SQL and parameters selecting the paths under `folder`. */
function underClause(folder: string): { sql: string; params: string[] } {
  const [lo, hi] = underRange(folder);
  return hi === undefined ? { sql: 'path >= ?', params: [lo] } : { sql: 'path >= ? AND path < ?', params: [lo, hi] };
}

export class SqliteMetaStore implements MetaStore {
  readonly db: Database.Database;

  /** Opens (and creates when needed) the database at `file`; ':memory:' for a throwaway one. */
  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a crash of the process; see docs/architecture.md on durability.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    this.db.function('ferry_fold', { deterministic: true }, (name) => foldName(String(name)));
    this.migrate();
  }

  private migrate(): void {
    const at = this.db.pragma('user_version', { simple: true }) as number;
    if (at > SCHEMA_VERSION) throw new Error(`The database is from a newer Ferry (schema ${at}; this one knows ${SCHEMA_VERSION}).`);
    if (at === SCHEMA_VERSION) return;
    if (at === 0) this.db.exec(SCHEMA);
    // Tables are rebuilt with foreign keys off (dropping the old one must not cascade),
    // then checked before each step commits: SQLite's own procedure for schema changes.
    this.db.pragma('foreign_keys = OFF');
    try {
      for (let v = at; v < SCHEMA_VERSION; v++) {
        this.db.transaction(() => {
          MIGRATIONS[v](this.db);
          const broken = this.db.pragma('foreign_key_check') as unknown[];
          if (broken.length) throw new Error(`Schema step ${v + 1} left ${broken.length} broken references.`);
          this.db.pragma(`user_version = ${v + 1}`);
        })();
      }
    } finally {
      this.db.pragma('foreign_keys = ON');
    }
  }

  close(): void {
    this.db.close();
  }

  // ------------------------------------------------------------------ users

  createUser(input: { name: string; role: Role; passwordHash: string; now: number }): User {
    try {
      return this.db.transaction(() => {
        const info = this.db
          .prepare('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)')
          .run(input.name, input.role, input.passwordHash, input.now);
        const id = Number(info.lastInsertRowid);
        this.db.prepare("INSERT INTO spaces (kind, owner_id, name, created_at) VALUES ('home', ?, ?, ?)").run(id, input.name, input.now);
        return this.getUser(id)!;
      })();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new FerryError('USER_EXISTS', `User ${input.name} already exists.`);
      throw err;
    }
  }

  deleteUser(id: number): { files: number; bytes: number } {
    return this.db.transaction(() => {
      const home = this.homeSpace(id);
      const usage = this.spaceUsage(home.id);
      // The space (files, versions, folders, trash) and everything else of the user cascade.
      this.db.prepare('DELETE FROM spaces WHERE id = ?').run(home.id);
      this.db.prepare('DELETE FROM users WHERE id = ?').run(id);
      return { files: usage.files, bytes: usage.bytes };
    })();
  }

  getUserByName(name: string): User | undefined {
    return toUser(this.db.prepare('SELECT * FROM users WHERE name = ?').get(name) as UserRow | undefined);
  }

  getUser(id: number): User | undefined {
    return toUser(this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined);
  }

  listUsers(): User[] {
    return (this.db.prepare('SELECT * FROM users ORDER BY name').all() as UserRow[]).map((r) => toUser(r)!);
  }

  countAdmins(): number {
    return (this.db.prepare("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0").get() as { n: number }).n;
  }

  createSession(tokenHash: string, userId: number, now: number, expiresAt: number): void {
    this.db.prepare('INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)').run(tokenHash, userId, now, expiresAt);
  }

  getSession(tokenHash: string): { userId: number; expiresAt: number } | undefined {
    const r = this.db.prepare('SELECT user_id, expires_at FROM sessions WHERE token_hash = ?').get(tokenHash) as
      | { user_id: number; expires_at: number }
      | undefined;
    return r && { userId: r.user_id, expiresAt: r.expires_at };
  }

  deleteSession(tokenHash: string): void {
    this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
  }

  deleteUserSessions(userId: number, keep?: string): number {
    return this.db.prepare('DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?').run(userId, keep ?? '').changes;
  }

  updateUser(id: number, change: { role?: Role; disabled?: boolean; passwordHash?: string }): void {
    const u = this.getUser(id);
    if (!u) throw new FerryError('NOT_FOUND', 'No such user.');
    this.db
      .prepare('UPDATE users SET role = ?, disabled = ?, password_hash = ? WHERE id = ?')
      .run(change.role ?? u.role, (change.disabled ?? u.disabled) ? 1 : 0, change.passwordHash ?? u.passwordHash, id);
  }

  deleteExpiredSessions(now: number): number {
    return this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now).changes;
  }

  createSetupToken(tokenHash: string, expiresAt: number): void {
    this.db.prepare('INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)').run(tokenHash, expiresAt);
  }

  consumeSetupToken(tokenHash: string, now: number): boolean {
    return this.db.prepare('DELETE FROM setup_tokens WHERE token_hash = ? AND expires_at > ?').run(tokenHash, now).changes === 1;
  }

  createSigninCode(codeHash: string, userId: number, expiresAt: number, now: number): void {
    this.db.prepare('DELETE FROM signin_codes WHERE expires_at <= ?').run(now);
    this.db.prepare('INSERT INTO signin_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)').run(codeHash, userId, expiresAt);
  }

  consumeSigninCode(codeHash: string, now: number): number | undefined {
    const r = this.db.prepare('DELETE FROM signin_codes WHERE code_hash = ? RETURNING user_id, expires_at').get(codeHash) as { user_id: number; expires_at: number } | undefined;
    return r && r.expires_at > now ? r.user_id : undefined;
  }

  deleteSigninCode(codeHash: string, userId: number): boolean {
    return this.db.prepare('DELETE FROM signin_codes WHERE code_hash = ? AND user_id = ?').run(codeHash, userId).changes === 1;
  }

  deleteSigninCodes(userId: number): number {
    return this.db.prepare('DELETE FROM signin_codes WHERE user_id = ?').run(userId).changes;
  }

  // ------------------------------------------------------------------ spaces

  homeSpace(userId: number): Space {
    const r = this.db.prepare("SELECT * FROM spaces WHERE kind = 'home' AND owner_id = ?").get(userId) as SpaceRow | undefined;
    if (!r) throw new FerryError('NOT_FOUND', 'No such user.');
    return toSpace(r);
  }

  getSpace(id: number): Space | undefined {
    const r = this.db.prepare('SELECT * FROM spaces WHERE id = ?').get(id) as SpaceRow | undefined;
    return r && toSpace(r);
  }

  getSharedSpace(name: string): Space | undefined {
    const r = this.db.prepare("SELECT * FROM spaces WHERE kind = 'shared' AND name = ?").get(name) as SpaceRow | undefined;
    return r && toSpace(r);
  }

  createSharedSpace(name: string, now: number): Space {
    try {
      const info = this.db.prepare("INSERT INTO spaces (kind, name, created_at) VALUES ('shared', ?, ?)").run(name, now);
      return this.getSpace(Number(info.lastInsertRowid))!;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new FerryError('SPACE_EXISTS', `A shared folder named "${name}" exists already.`);
      throw err;
    }
  }

  listSharedSpaces(): Space[] {
    return (this.db.prepare("SELECT * FROM spaces WHERE kind = 'shared' ORDER BY name").all() as SpaceRow[]).map(toSpace);
  }

  deleteSpace(id: number): void {
    this.db.prepare('DELETE FROM spaces WHERE id = ?').run(id);
  }

  setMember(spaceId: number, userId: number, access: Access | undefined): void {
    if (access === undefined) this.db.prepare('DELETE FROM members WHERE space_id = ? AND user_id = ?').run(spaceId, userId);
    else this.db.prepare('INSERT INTO members (space_id, user_id, access) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET access = excluded.access').run(spaceId, userId, access);
  }

  members(spaceId: number): { userId: number; name: string; access: Access }[] {
    return this.db
      .prepare('SELECT m.user_id AS userId, u.name, m.access FROM members m JOIN users u ON u.id = m.user_id WHERE m.space_id = ? ORDER BY u.name')
      .all(spaceId) as { userId: number; name: string; access: Access }[];
  }

  accessOf(userId: number, spaceId: number): Access | undefined {
    const r = this.db
      .prepare(
        `SELECT CASE WHEN s.kind = 'home' AND s.owner_id = ? THEN 'edit' ELSE m.access END AS access
         FROM spaces s LEFT JOIN members m ON m.space_id = s.id AND m.user_id = ? WHERE s.id = ?`,
      )
      .get(userId, userId, spaceId) as { access: Access | null } | undefined;
    return r?.access ?? undefined;
  }

  spacesOf(userId: number): (Space & { access: Access })[] {
    const home = this.homeSpace(userId);
    const shared = this.db
      .prepare("SELECT s.*, m.access FROM spaces s JOIN members m ON m.space_id = s.id WHERE m.user_id = ? AND s.kind = 'shared' ORDER BY s.name")
      .all(userId) as (SpaceRow & { access: Access })[];
    return [{ ...home, access: 'edit' as Access }, ...shared.map((r) => ({ ...toSpace(r), access: r.access }))];
  }

  spaceUsage(spaceId: number): { files: number; bytes: number; trashBytes: number } {
    const r = this.db
      .prepare(
        `SELECT count(DISTINCT f.id) AS files, coalesce(sum(v.size), 0) AS bytes,
                coalesce(sum(CASE WHEN f.trash_id IS NOT NULL THEN v.size END), 0) AS trashBytes
         FROM files f LEFT JOIN versions v ON v.file_id = f.id WHERE f.space_id = ?`,
      )
      .get(spaceId) as { files: number; bytes: number; trashBytes: number };
    return r;
  }

  // ------------------------------------------------------------------ uploads

  createUpload(u: UploadRecord): void {
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO uploads (id, user_id, space_id, leg, path, size, mtime, conflict, content_hash, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(u.id, u.userId, u.spaceId, u.leg, u.path, u.size, u.mtime, u.conflict, u.contentHash, u.createdAt, u.updatedAt);
      this.insertListed(u.id, 0, u.chunks);
    })();
  }

  private insertListed(id: string, from: number, chunks: ChunkRef[]): void {
    const insert = this.db.prepare('INSERT INTO upload_list (upload_id, idx, offset, length, hash) VALUES (?, ?, ?, ?, ?)');
    chunks.forEach((c, i) => insert.run(id, from + i, c.offset, c.length, c.sha256));
  }

  getUpload(id: string): UploadRecord | undefined {
    const row = this.db.prepare('SELECT * FROM uploads WHERE id = ?').get(id) as UploadRow | undefined;
    if (!row) return undefined;
    const chunks = this.db.prepare('SELECT offset, length, hash AS sha256 FROM upload_list WHERE upload_id = ? ORDER BY idx').all(id) as ChunkRef[];
    return toUpload(row, chunks);
  }

  openUploads(userId: number): { id: string; size: number; updatedAt: number }[] {
    return this.db.prepare('SELECT id, size, updated_at AS updatedAt FROM uploads WHERE user_id = ? ORDER BY updated_at, id').all(userId) as {
      id: string;
      size: number;
      updatedAt: number;
    }[];
  }

  claimUpload(id: string, leg: string, now: number): UploadRecord | undefined {
    return this.db.transaction(() => {
      if (this.db.prepare('UPDATE uploads SET leg = ?, updated_at = ? WHERE id = ?').run(leg, now, id).changes === 0) return undefined;
      return this.getUpload(id);
    })();
  }

  /** Throws UNKNOWN_UPLOAD unless the session is open and `leg` holds it; touches it. */
  private requireLeg(id: string, leg: string, now?: number): void {
    const row = this.db.prepare('SELECT leg FROM uploads WHERE id = ?').get(id) as { leg: string } | undefined;
    if (!row) throw new FerryError('UNKNOWN_UPLOAD', 'The upload session ended (committed, cancelled or expired).');
    if (row.leg !== leg) throw new FerryError('UPLOAD_CHANGED', 'Another connection resumed this upload session.');
    if (now !== undefined) this.db.prepare('UPDATE uploads SET updated_at = ? WHERE id = ?').run(now, id);
  }

  setUploadChunks(id: string, leg: string, from: number, chunks: ChunkRef[], contentHash: string, dropHeldFrom?: number): void {
    this.db.transaction(() => {
      this.requireLeg(id, leg);
      this.db.prepare('DELETE FROM upload_list WHERE upload_id = ? AND idx >= ?').run(id, from);
      this.insertListed(id, from, chunks);
      this.db.prepare('UPDATE uploads SET content_hash = ? WHERE id = ?').run(contentHash, id);
      if (dropHeldFrom !== undefined) this.db.prepare('DELETE FROM upload_chunks WHERE upload_id = ? AND idx >= ?').run(id, dropHeldFrom);
    })();
  }

  markChunksHeld(uploadId: string, leg: string, chunks: { index: number; hash: string }[], now: number): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO upload_chunks (upload_id, idx, hash) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      // The session may have been committed, cancelled or taken over meanwhile.
      this.requireLeg(uploadId, leg, now);
      for (const c of chunks) insert.run(uploadId, c.index, c.hash);
    })();
  }

  heldChunks(uploadId: string): Set<number> {
    const rows = this.db.prepare('SELECT idx FROM upload_chunks WHERE upload_id = ?').pluck().all(uploadId) as number[];
    return new Set(rows);
  }

  deleteUpload(id: string): void {
    this.db.prepare('DELETE FROM uploads WHERE id = ?').run(id);
  }

  staleUploads(before: number): UploadRecord[] {
    return (this.db.prepare('SELECT id FROM uploads WHERE updated_at < ?').pluck().all(before) as string[]).flatMap((id) => this.getUpload(id) ?? []);
  }

  userChunks(userId: number, hashes: string[]): Set<string> {
    const held = new Set<string>();
    const inVersions = this.db.prepare(
      `SELECT 1 FROM version_chunks vc JOIN versions v ON v.id = vc.version_id
       WHERE vc.hash = ? AND v.uploader_id = ? LIMIT 1`,
    );
    const inUploads = this.db.prepare(
      `SELECT 1 FROM upload_chunks uc JOIN uploads u ON u.id = uc.upload_id
       WHERE uc.hash = ? AND u.user_id = ? LIMIT 1`,
    );
    for (const h of new Set(hashes)) {
      if (inVersions.get(h, userId) || inUploads.get(h, userId)) held.add(h);
    }
    return held;
  }

  // ------------------------------------------------------------------ files and versions

  private fileByPath(spaceId: number, path: string): { id: number; current_version_id: number | null; last_version: number } | undefined {
    return this.db.prepare('SELECT id, current_version_id, last_version FROM files WHERE space_id = ? AND path = ? AND trash_id IS NULL').get(spaceId, path) as
      | { id: number; current_version_id: number | null; last_version: number }
      | undefined;
  }

  /** True when a live folder row stands at `path` itself. */
  private folderRow(spaceId: number, path: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM folders WHERE space_id = ? AND path = ? AND trash_id IS NULL').get(spaceId, path);
  }

  isFolder(spaceId: number, path: string): boolean {
    if (path === '') return true;
    if (this.folderRow(spaceId, path)) return true;
    const under = underClause(path);
    return !!this.db.prepare(`SELECT 1 FROM files WHERE space_id = ? AND trash_id IS NULL AND ${under.sql} LIMIT 1`).get(spaceId, ...under.params);
  }

  private assertAncestorsFree(spaceId: number, path: string): void {
    let p = parentOf(path);
    while (p !== '') {
      if (this.fileByPath(spaceId, p)) throw new FerryError('PATH_CONFLICT', `"${p}" is a file, so it cannot hold "${path}".`);
      p = parentOf(p);
    }
  }

  private insertVersion(
    fileId: number,
    num: number,
    v: { size: number; mtime: number; contentHash: string; sha256: string; sha256Verified: boolean; userId: number; now: number },
    chunks: ChunkRef[],
  ): number {
    const info = this.db
      .prepare(
        `INSERT INTO versions (file_id, num, size, mtime, content_hash, sha256, sha256_verified, uploader_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(fileId, num, v.size, v.mtime, v.contentHash, v.sha256, v.sha256Verified ? 1 : 0, v.userId, v.now);
    const versionId = Number(info.lastInsertRowid);
    const insertChunk = this.db.prepare('INSERT INTO version_chunks (version_id, idx, offset, length, hash) VALUES (?, ?, ?, ?, ?)');
    chunks.forEach((c, i) => insertChunk.run(versionId, i, c.offset, c.length, c.sha256));
    this.db.prepare('UPDATE files SET current_version_id = ?, last_version = ? WHERE id = ?').run(versionId, num, fileId);
    return versionId;
  }

  /** Throws QUOTA_EXCEEDED when `adding` more bytes would take the user past `quota` (0 = none). */
  private checkQuota(userId: number, adding: number, quota: number | undefined): void {
    if (!quota) return;
    const used = this.userBytes(userId);
    if (used + adding > quota) {
      throw new FerryError('QUOTA_EXCEEDED', `This needs ${adding} bytes; you use ${used} of your ${quota}.`, { usedBytes: used, quotaBytes: quota, neededBytes: adding });
    }
  }

  userBytes(userId: number): number {
    return (this.db.prepare('SELECT coalesce(sum(size), 0) AS n FROM versions WHERE uploader_id = ?').get(userId) as { n: number }).n;
  }

  commitVersion(input: CommitInput): { path: string; version: number; removed: number; unchanged: boolean } {
    return this.db.transaction(() => {
      if (input.upload) {
        // Inside the transaction: of two commits of one upload racing, the second finds it gone.
        this.requireLeg(input.upload.id, input.upload.leg);
        const held = this.db.prepare('SELECT content_hash FROM uploads WHERE id = ?').pluck().get(input.upload.id) as string;
        if (held !== input.contentHash) throw new FerryError('UPLOAD_CHANGED', 'The upload session\'s chunk list is not the one being committed.');
      }
      const space = input.spaceId;
      let path = input.path;
      this.assertAncestorsFree(space, path);
      let file = this.fileByPath(space, path);
      // The same content as the current version, whatever the policy: no new version.
      const current = file?.current_version_id != null
        ? (this.db.prepare('SELECT id, num, size, content_hash, sha256_verified FROM versions WHERE id = ?').get(file.current_version_id) as { id: number; num: number; size: number; content_hash: string; sha256_verified: number } | undefined)
        : undefined;
      if (current && current.content_hash === input.contentHash && current.size === input.size) {
        // A hash computed from the bytes now replaces one that never was.
        if (input.sha256Verified && !current.sha256_verified) this.db.prepare('UPDATE versions SET sha256 = ?, sha256_verified = 1 WHERE id = ?').run(input.sha256, current.id);
        if (input.upload) this.deleteUpload(input.upload.id);
        return { path, version: current.num, removed: 0, unchanged: true };
      }
      this.checkQuota(input.userId, input.size, input.quotaBytes);
      const clashes = (p: string) => !!this.fileByPath(space, p) || this.isFolder(space, p);
      if (input.conflict === 'rename' && clashes(path)) {
        let n = 2;
        while (clashes(renamedPath(input.path, n))) n++;
        path = renamedPath(input.path, n);
        file = undefined;
      } else if (!file && this.isFolder(space, path)) {
        throw new FerryError('IS_FOLDER', `"${path}" is a folder.`);
      }
      if (!file) {
        // Every folder is a row of its own (found by search, kept when emptied).
        this.keepParents(space, path);
        const info = this.db.prepare('INSERT INTO files (space_id, path, parent, name, fold) VALUES (?, ?, ?, ?, ?)').run(space, path, parentOf(path), baseName(path), foldName(baseName(path)));
        file = { id: Number(info.lastInsertRowid), current_version_id: null, last_version: 0 };
      }
      const num = file.last_version + 1;
      const versionId = this.insertVersion(file.id, num, input, input.chunks);
      let removed = 0;
      if (input.conflict === 'overwrite' && !input.keepReplaced) {
        removed = this.db.prepare('DELETE FROM versions WHERE file_id = ? AND id <> ?').run(file.id, versionId).changes;
      }
      if (input.upload) this.deleteUpload(input.upload.id);
      return { path, version: num, removed, unchanged: false };
    })();
  }

  listFolder(spaceId: number, folder: string): (FileEntry | FolderEntry)[] {
    const files = (this.db.prepare(`${VERSION_SELECT} WHERE f.space_id = ? AND f.parent = ? AND f.trash_id IS NULL AND v.id = f.current_version_id ORDER BY f.name`).all(spaceId, folder) as VersionRow[]).map(toVersion);
    const counts = new Map(
      (this.db
        .prepare('SELECT v.file_id AS id, count(*) AS n FROM versions v JOIN files f ON f.id = v.file_id WHERE f.space_id = ? AND f.parent = ? AND f.trash_id IS NULL GROUP BY v.file_id')
        .all(spaceId, folder) as { id: number; n: number }[]).map((r) => [r.id, r.n]),
    );
    const under = underClause(folder);
    // SQLite's substr counts characters (code points), not UTF-16 units as JavaScript's length does.
    const start = [...underRange(folder)[0]].length;
    const folderNames = this.db
      .prepare(
        `SELECT DISTINCT substr(path, ? + 1, instr(substr(path, ? + 1), '/') - 1) AS name
         FROM files WHERE space_id = ? AND trash_id IS NULL AND ${under.sql} AND parent <> ?
         UNION SELECT name FROM folders WHERE space_id = ? AND parent = ? AND trash_id IS NULL
         ORDER BY name`,
      )
      .pluck()
      .all(start, start, spaceId, ...under.params, folder, spaceId, folder) as string[];
    const entries: (FileEntry | FolderEntry)[] = folderNames.map((name) => ({ kind: 'folder', name, path: folder ? `${folder}/${name}` : name }));
    for (const v of files) entries.push({ kind: 'file', path: v.path, name: baseName(v.path), versions: counts.get(v.fileId) ?? 1, current: v });
    return entries;
  }

  listVersions(spaceId: number, path: string): VersionRecord[] {
    return (this.db.prepare(`${VERSION_SELECT} WHERE f.space_id = ? AND f.path = ? AND f.trash_id IS NULL ORDER BY v.num DESC`).all(spaceId, path) as VersionRow[]).map(toVersion);
  }

  private withChunks(row: VersionRow | undefined): (VersionRecord & { chunks: ChunkRef[] }) | undefined {
    if (!row) return undefined;
    const chunks = this.db.prepare('SELECT offset, length, hash AS sha256 FROM version_chunks WHERE version_id = ? ORDER BY idx').all(row.id) as ChunkRef[];
    return { ...toVersion(row), chunks };
  }

  getVersion(spaceId: number, path: string, version?: number): (VersionRecord & { chunks: ChunkRef[] }) | undefined {
    const live = 'f.space_id = ? AND f.path = ? AND f.trash_id IS NULL';
    return this.withChunks(
      (version === undefined
        ? this.db.prepare(`${VERSION_SELECT} WHERE ${live} AND v.id = f.current_version_id`).get(spaceId, path)
        : this.db.prepare(`${VERSION_SELECT} WHERE ${live} AND v.num = ?`).get(spaceId, path, version)) as VersionRow | undefined,
    );
  }

  getFileVersion(fileId: number, version?: number): (VersionRecord & { chunks: ChunkRef[] }) | undefined {
    return this.withChunks(
      (version === undefined
        ? this.db.prepare(`${VERSION_SELECT} WHERE f.id = ? AND f.trash_id IS NULL AND v.id = f.current_version_id`).get(fileId)
        : this.db.prepare(`${VERSION_SELECT} WHERE f.id = ? AND f.trash_id IS NULL AND v.num = ?`).get(fileId, version)) as VersionRow | undefined,
    );
  }

  restoreVersion(spaceId: number, path: string, version: number, userId: number, now: number, quotaBytes?: number): { version: number } {
    return this.db.transaction(() => {
      const v = this.getVersion(spaceId, path, version);
      const file = this.fileByPath(spaceId, path);
      if (!v || !file) throw new FerryError('NOT_FOUND', `${path} has no version ${version}.`);
      this.checkQuota(userId, v.size, quotaBytes);
      const num = file.last_version + 1;
      this.insertVersion(file.id, num, { ...v, userId, now }, v.chunks);
      return { version: num };
    })();
  }

  deleteVersions(spaceId: number, path: string, version?: number): number {
    return this.db.transaction(() => {
      const file = this.fileByPath(spaceId, path);
      if (!file) throw new FerryError('NOT_FOUND', `No file ${path}.`);
      if (version === undefined) {
        const n = (this.db.prepare('SELECT count(*) AS n FROM versions WHERE file_id = ?').get(file.id) as { n: number }).n;
        this.db.prepare('DELETE FROM files WHERE id = ?').run(file.id);
        return n;
      }
      const removed = this.db.prepare('DELETE FROM versions WHERE file_id = ? AND num = ?').run(file.id, version).changes;
      if (removed === 0) throw new FerryError('NOT_FOUND', `${path} has no version ${version}.`);
      const latest = this.db.prepare('SELECT id FROM versions WHERE file_id = ? ORDER BY num DESC LIMIT 1').pluck().get(file.id) as number | undefined;
      if (latest === undefined) this.db.prepare('DELETE FROM files WHERE id = ?').run(file.id);
      else if (file.current_version_id !== latest && !this.db.prepare('SELECT 1 FROM versions WHERE id = ?').get(file.current_version_id)) {
        this.db.prepare('UPDATE files SET current_version_id = ? WHERE id = ?').run(latest, file.id);
      }
      return removed;
    })();
  }

  applyRetention(policy: RetentionPolicy, now: number, at?: { spaceId: number; path: string }): number {
    if (!policy.keepVersions && !policy.keepDays) return 0;
    return this.db.transaction(() => {
      const files = (at === undefined
        ? this.db.prepare('SELECT id, current_version_id FROM files').all()
        : this.db.prepare('SELECT id, current_version_id FROM files WHERE space_id = ? AND path = ? AND trash_id IS NULL').all(at.spaceId, at.path)) as { id: number; current_version_id: number }[];
      const del = this.db.prepare('DELETE FROM versions WHERE id = ?');
      const cutoff = now - policy.keepDays * 86_400_000;
      let removed = 0;
      for (const f of files) {
        const versions = this.db.prepare('SELECT id, created_at FROM versions WHERE file_id = ? ORDER BY num DESC').all(f.id) as { id: number; created_at: number }[];
        // The current version always counts as one of the kept ones.
        let kept = 1;
        for (const v of versions) {
          if (v.id === f.current_version_id) continue;
          const tooMany = policy.keepVersions > 0 && kept >= policy.keepVersions;
          const tooOld = policy.keepDays > 0 && v.created_at < cutoff;
          if (tooMany || tooOld) removed += del.run(v.id).changes;
          else kept++;
        }
      }
      return removed;
    })();
  }

  filesUnder(spaceId: number, folder: string): { fileId: number; path: string; size: number; mtime: number }[] {
    const under = underClause(folder);
    return this.db
      .prepare(
        `SELECT f.id AS fileId, f.path, v.size, v.mtime FROM files f JOIN versions v ON v.id = f.current_version_id
         WHERE f.space_id = ? AND f.trash_id IS NULL AND ${under.sql.replaceAll('path', 'f.path')} ORDER BY f.path`,
      )
      .all(spaceId, ...under.params) as { fileId: number; path: string; size: number; mtime: number }[];
  }

  // ------------------------------------------------------------------ folders, moves, trash

  /** Makes the folders above `path` explicit, so they stay when what is in them moves away or to the trash. */
  private keepParents(spaceId: number, path: string): void {
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) this.folderStays(spaceId, p, Date.now());
  }

  /** Records a live folder at `path` unless one is there. */
  private folderStays(spaceId: number, path: string, now: number): void {
    this.db.prepare('INSERT INTO folders (space_id, path, parent, name, fold, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING').run(spaceId, path, parentOf(path), baseName(path), foldName(baseName(path)), now);
  }

  makeFolder(spaceId: number, path: string, now: number): void {
    this.db.transaction(() => {
      this.assertAncestorsFree(spaceId, path);
      if (this.fileByPath(spaceId, path)) throw new FerryError('PATH_CONFLICT', `"${path}" is a file.`);
      // Its parents too, so each stays when what made it a folder moves away.
      for (let p = path; p !== ''; p = parentOf(p)) this.folderStays(spaceId, p, now);
    })();
  }

  move(from: { spaceId: number; path: string }, to: { spaceId: number; path: string }): { kind: 'file' | 'folder'; files: number } {
    return this.db.transaction(() => {
      if (from.spaceId === to.spaceId && from.path === to.path) throw new FerryError('PATH_CONFLICT', `"${to.path}" is where it is already.`);
      const file = this.fileByPath(from.spaceId, from.path);
      const folder = !file && this.isFolder(from.spaceId, from.path) && from.path !== '';
      if (!file && !folder) throw new FerryError('NOT_FOUND', `No file or folder "${from.path}".`);
      if (folder && from.spaceId === to.spaceId && (to.path === from.path || to.path.startsWith(`${from.path}/`))) {
        throw new FerryError('BAD_PATH', `A folder cannot move into itself ("${from.path}" → "${to.path}").`);
      }
      if (this.fileByPath(to.spaceId, to.path) || this.isFolder(to.spaceId, to.path)) {
        throw new FerryError('PATH_CONFLICT', `"${to.path}" exists already.`, { path: to.path });
      }
      this.assertAncestorsFree(to.spaceId, to.path);
      this.keepParents(from.spaceId, from.path);
      if (file) {
        this.db.prepare('UPDATE files SET space_id = ?, path = ?, parent = ?, name = ?, fold = ? WHERE id = ?').run(to.spaceId, to.path, parentOf(to.path), baseName(to.path), foldName(baseName(to.path)), file.id);
        return { kind: 'file' as const, files: 1 };
      }
      const live = 'space_id = ? AND trash_id IS NULL';
      const fileRows = this.db.prepare(`SELECT count(*) FROM files WHERE ${live} AND path >= ? AND path < ?`).pluck().get(from.spaceId, `${from.path}/`, `${from.path}0`) as number;
      this.rewriteLive('files', from, to);
      this.rewriteLive('folders', from, to);
      // The folder stays a folder where it went even when it was only implied by its files.
      this.folderStays(to.spaceId, to.path, Date.now());
      return { kind: 'folder' as const, files: fileRows };
    })();
  }

  private rewriteLive(table: 'files' | 'folders', from: { spaceId: number; path: string }, to: { spaceId: number; path: string }): void {
    this.rewritePrefixWhere(table, 'space_id = ? AND trash_id IS NULL', [from.spaceId], from.path, to.path, to.spaceId);
  }

  private rewritePrefixWhere(table: 'files' | 'folders', where: string, params: unknown[], from: string, to: string, toSpace: number): void {
    const fromLen = [...from].length;
    this.db
      .prepare(
        `UPDATE ${table} SET space_id = ?, path = ? || substr(path, ? + 1), parent = ? || substr(parent, ? + 1)
         WHERE ${where} AND path >= ? AND path < ?`,
      )
      .run(toSpace, to, fromLen, to, fromLen, ...params, `${from}/`, `${from}0`);
    this.db
      .prepare(`UPDATE ${table} SET space_id = ?, path = ?, parent = ?, name = ?, fold = ? WHERE ${where} AND path = ?`)
      .run(toSpace, to, parentOf(to), baseName(to), foldName(baseName(to)), ...params, from);
  }

  trash(spaceId: number, path: string, userId: number, now: number): TrashItem {
    return this.db.transaction(() => {
      const file = this.fileByPath(spaceId, path);
      const folder = !file && path !== '' && this.isFolder(spaceId, path);
      if (!file && !folder) throw new FerryError('NOT_FOUND', `No file or folder "${path}".`);
      this.keepParents(spaceId, path);
      const id = Number(
        this.db.prepare('INSERT INTO trash (space_id, path, kind, trashed_at, trashed_by) VALUES (?, ?, ?, ?, ?)').run(spaceId, path, file ? 'file' : 'folder', now, userId).lastInsertRowid,
      );
      if (file) this.db.prepare('UPDATE files SET trash_id = ? WHERE id = ?').run(id, file.id);
      else {
        for (const table of ['files', 'folders']) {
          this.db
            .prepare(`UPDATE ${table} SET trash_id = ? WHERE space_id = ? AND trash_id IS NULL AND (path = ? OR (path >= ? AND path < ?))`)
            .run(id, spaceId, path, `${path}/`, `${path}0`);
        }
      }
      return this.getTrashItem(id)!;
    })();
  }

  listTrash(spaceId: number): TrashItem[] {
    return (this.db.prepare(`${TRASH_SELECT} WHERE t.space_id = ? ORDER BY t.trashed_at DESC, t.id DESC`).all(spaceId) as TrashRow[]).map(toTrash);
  }

  getTrashItem(id: number): TrashItem | undefined {
    const r = this.db.prepare(`${TRASH_SELECT} WHERE t.id = ?`).get(id) as TrashRow | undefined;
    return r && toTrash(r);
  }

  untrash(id: number): { path: string } {
    return this.db.transaction(() => {
      const item = this.getTrashItem(id);
      if (!item) throw new FerryError('NOT_FOUND', 'That is no longer in the trash.');
      const space = item.spaceId;
      this.assertAncestorsFree(space, item.path);
      const taken = (p: string) => !!this.fileByPath(space, p) || this.isFolder(space, p);
      let path = item.path;
      for (let n = 2; taken(path); n++) path = renamedPath(item.path, n);
      for (const table of ['files', 'folders'] as const) {
        if (path !== item.path) this.rewritePrefixWhere(table, 'trash_id = ?', [id], item.path, path, space);
        this.db.prepare(`UPDATE ${table} SET trash_id = NULL WHERE trash_id = ?`).run(id);
      }
      this.db.prepare('DELETE FROM trash WHERE id = ?').run(id);
      return { path };
    })();
  }

  purgeTrash(which: { id: number } | { spaceId: number } | { before: number }): { items: number; files: number } {
    return this.db.transaction(() => {
      const [where, param] = 'id' in which ? ['id = ?', which.id] : 'spaceId' in which ? ['space_id = ?', which.spaceId] : ['trashed_at < ?', which.before];
      const files = this.db.prepare(`SELECT count(*) FROM files WHERE trash_id IN (SELECT id FROM trash WHERE ${where})`).pluck().get(param) as number;
      // Files, their versions and chunk lists, folders and links go with the item (foreign keys cascade).
      const items = this.db.prepare(`DELETE FROM trash WHERE ${where}`).run(param).changes;
      return { items, files };
    })();
  }

  search(spaceIds: number[], text: string, limit: number): { hits: SearchHit[]; truncated: boolean } {
    if (spaceIds.length === 0 || text === '') return { hits: [], truncated: false };
    const spaces = spaceIds.map(() => '?').join(',');
    const needle = foldName(text);
    const rows = this.db
      .prepare(
        `SELECT * FROM (
           SELECT f.space_id AS spaceId, 'file' AS kind, f.path, f.name, v.size, v.created_at AS modifiedAt
           FROM files f JOIN versions v ON v.id = f.current_version_id
           WHERE f.space_id IN (${spaces}) AND f.trash_id IS NULL AND instr(coalesce(f.fold, ferry_fold(f.name)), ?) > 0
           UNION ALL
           SELECT space_id, 'folder', path, name, NULL, NULL FROM folders
           WHERE space_id IN (${spaces}) AND trash_id IS NULL AND instr(coalesce(fold, ferry_fold(name)), ?) > 0
         ) ORDER BY name LIMIT ?`,
      )
      .all(...spaceIds, needle, ...spaceIds, needle, limit + 1) as (SearchHit & { size: number | null; modifiedAt: number | null })[];
    const hits = rows.slice(0, limit).map((r) => ({ ...r, size: r.size ?? undefined, modifiedAt: r.modifiedAt ?? undefined }));
    return { hits, truncated: rows.length > limit };
  }

  sha256ForContent(contentHash: string): string | undefined {
    return this.db.prepare('SELECT sha256 FROM versions WHERE content_hash = ? AND sha256_verified = 1 LIMIT 1').pluck().get(contentHash) as string | undefined;
  }

  markSha256Verified(versionId: number): void {
    this.db.prepare('UPDATE versions SET sha256_verified = 1 WHERE id = ?').run(versionId);
  }

  referencedChunks(): Set<string> {
    const rows = this.db.prepare('SELECT hash FROM version_chunks UNION SELECT hash FROM upload_chunks').pluck().all() as string[];
    return new Set(rows);
  }

  hasContent(contentHash: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM versions WHERE content_hash = ? LIMIT 1').get(contentHash);
  }

  isChunkReferenced(hash: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM version_chunks WHERE hash = ? UNION ALL SELECT 1 FROM upload_chunks WHERE hash = ? LIMIT 1').get(hash, hash);
  }

  // ------------------------------------------------------------------ share links

  createLink(link: Omit<ShareLink, 'downloads' | 'servedUnits' | 'revokedAt' | 'owner'>): void {
    this.db
      .prepare(
        `INSERT INTO share_links (id, owner_id, file_id, path, version, created_at, expires_at, max_downloads, password_hash, message)
         VALUES (?, ?, ?, (SELECT path FROM files WHERE id = ?), ?, ?, ?, ?, ?, ?)`,
      )
      .run(link.id, link.ownerId, link.fileId, link.fileId, link.version ?? null, link.createdAt, link.expiresAt ?? null, link.maxDownloads ?? null, link.passwordHash ?? null, link.message ?? null);
  }

  getLink(id: string): ShareLink | undefined {
    const r = this.db.prepare(`${LINK_SELECT} WHERE l.id = ?`).get(id) as LinkRow | undefined;
    return r && toLink(r);
  }

  listLinks(ownerId?: number): ShareLink[] {
    const rows = (ownerId === undefined
      ? this.db.prepare(`${LINK_SELECT} ORDER BY l.created_at DESC`).all()
      : this.db.prepare(`${LINK_SELECT} WHERE l.owner_id = ? ORDER BY l.created_at DESC`).all(ownerId)) as LinkRow[];
    return rows.map(toLink);
  }

  revokeLink(id: string, now: number): boolean {
    return this.db.prepare('UPDATE share_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id).changes === 1;
  }

  reserveDownload(id: string, units: number): { allowed: boolean; taken: number } {
    return this.db.transaction(() => {
      const r = this.db.prepare('SELECT served_units, max_downloads FROM share_links WHERE id = ?').get(id) as { served_units: number; max_downloads: number | null } | undefined;
      if (!r) return { allowed: false, taken: 0 };
      const left = r.max_downloads === null ? Infinity : r.max_downloads * DOWNLOAD_UNITS - r.served_units;
      if (left <= 0) return { allowed: false, taken: 0 };
      const taken = Math.min(units, left);
      this.db.prepare('UPDATE share_links SET served_units = served_units + ? WHERE id = ?').run(taken, id);
      return { allowed: true, taken };
    })();
  }

  refundDownload(id: string, units: number): void {
    if (units > 0) this.db.prepare('UPDATE share_links SET served_units = max(0, served_units - ?) WHERE id = ?').run(units, id);
  }

  // ------------------------------------------------------------------ devices

  createDevice(tokenHash: string, userId: number, now: number): void {
    this.db.prepare('INSERT OR IGNORE INTO devices (token_hash, user_id, created_at) VALUES (?, ?, ?)').run(tokenHash, userId, now);
  }

  getDevice(tokenHash: string): { userId: number } | undefined {
    const id = this.db.prepare('SELECT user_id FROM devices WHERE token_hash = ?').pluck().get(tokenHash) as number | undefined;
    return id === undefined ? undefined : { userId: id };
  }

  counts(): { files: number; versions: number; users: number } {
    const n = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    return { files: n('SELECT count(*) AS n FROM files WHERE trash_id IS NULL'), versions: n('SELECT count(*) AS n FROM versions'), users: n('SELECT count(*) AS n FROM users') };
  }

  logicalBytes(): number {
    return (this.db.prepare('SELECT coalesce(sum(size), 0) AS n FROM versions').get() as { n: number }).n;
  }
}
