/**
 * MetaStore in SQLite (better-sqlite3). WAL journal, foreign keys on. Every method
 * is synchronous and every multi-row change runs in one transaction, so a crash
 * leaves either the old state or the new one.
 */
import Database from 'better-sqlite3';
import { FerryError, baseName, parentOf, renamedPath, type ChunkRef, type Role } from '../protocol/index.js';
import type {
  CommitInput,
  FileEntry,
  FolderEntry,
  MetaStore,
  RetentionPolicy,
  ShareLink,
  UploadRecord,
  User,
  VersionRecord,
} from './meta-store.js';

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

interface VersionRow {
  id: number;
  file_id: number;
  path: string;
  num: number;
  size: number;
  mtime: number;
  content_hash: string;
  sha256: string;
  uploader: string | null;
  created_at: number;
  current_version_id: number;
}

const VERSION_SELECT = `
  SELECT v.id, v.file_id, f.path, v.num, v.size, v.mtime, v.content_hash, v.sha256,
         u.name AS uploader, v.created_at, f.current_version_id
  FROM versions v JOIN files f ON f.id = v.file_id LEFT JOIN users u ON u.id = v.uploader_id`;

function toVersion(r: VersionRow): VersionRecord {
  return {
    id: r.id,
    fileId: r.file_id,
    path: r.path,
    version: r.num,
    size: r.size,
    mtime: r.mtime,
    contentHash: r.content_hash,
    sha256: r.sha256,
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

interface UploadRow {
  id: string;
  user_id: number;
  path: string;
  size: number;
  mtime: number;
  conflict: UploadRecord['conflict'];
  content_hash: string;
  chunks: string;
  created_at: number;
  updated_at: number;
}

function toUpload(r: UploadRow | undefined): UploadRecord | undefined {
  return (
    r && {
      id: r.id,
      userId: r.user_id,
      path: r.path,
      size: r.size,
      mtime: r.mtime,
      conflict: r.conflict,
      contentHash: r.content_hash,
      chunks: JSON.parse(r.chunks) as ChunkRef[],
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }
  );
}

interface LinkRow {
  id: string;
  owner_id: number;
  owner: string | null;
  path: string;
  version: number | null;
  created_at: number;
  expires_at: number | null;
  max_downloads: number | null;
  downloads: number;
  password_hash: string | null;
  revoked_at: number | null;
}

const LINK_SELECT = 'SELECT l.*, u.name AS owner FROM share_links l LEFT JOIN users u ON u.id = l.owner_id';

function toLink(r: LinkRow): ShareLink {
  return {
    id: r.id,
    ownerId: r.owner_id,
    owner: r.owner ?? '(deleted user)',
    path: r.path,
    version: r.version ?? undefined,
    createdAt: r.created_at,
    expiresAt: r.expires_at ?? undefined,
    maxDownloads: r.max_downloads ?? undefined,
    downloads: r.downloads,
    passwordHash: r.password_hash ?? undefined,
    revokedAt: r.revoked_at ?? undefined,
  };
}

/** Upper bound of the paths under `prefix/` in text order ('0' follows '/'). */
function underRange(folder: string): [string, string] {
  return folder === '' ? ['', '\u{10FFFF}'] : [`${folder}/`, `${folder}0`];
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
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  // ------------------------------------------------------------------ users

  createUser(input: { name: string; role: Role; passwordHash: string; now: number }): User {
    try {
      const info = this.db
        .prepare('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)')
        .run(input.name, input.role, input.passwordHash, input.now);
      return this.getUser(Number(info.lastInsertRowid))!;
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new FerryError('USER_EXISTS', `User ${input.name} already exists.`);
      throw err;
    }
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

  // ------------------------------------------------------------------ uploads

  createUpload(u: UploadRecord): void {
    this.db
      .prepare(
        `INSERT INTO uploads (id, user_id, path, size, mtime, conflict, content_hash, chunks, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(u.id, u.userId, u.path, u.size, u.mtime, u.conflict, u.contentHash, JSON.stringify(u.chunks), u.createdAt, u.updatedAt);
  }

  getUpload(id: string): UploadRecord | undefined {
    return toUpload(this.db.prepare('SELECT * FROM uploads WHERE id = ?').get(id) as UploadRow | undefined);
  }

  findUploads(userId: number, path: string, size: number): UploadRecord[] {
    return (this.db.prepare('SELECT * FROM uploads WHERE user_id = ? AND path = ? AND size = ? ORDER BY updated_at DESC').all(userId, path, size) as UploadRow[]).map(
      (r) => toUpload(r)!,
    );
  }

  setUploadChunks(id: string, chunks: ChunkRef[], contentHash: string, dropHeldFrom?: number): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE uploads SET chunks = ?, content_hash = ? WHERE id = ?').run(JSON.stringify(chunks), contentHash, id);
      if (dropHeldFrom !== undefined) this.db.prepare('DELETE FROM upload_chunks WHERE upload_id = ? AND idx >= ?').run(id, dropHeldFrom);
    })();
  }

  markChunksHeld(uploadId: string, chunks: { index: number; hash: string }[], now: number): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO upload_chunks (upload_id, idx, hash) VALUES (?, ?, ?)');
    const touch = this.db.prepare('UPDATE uploads SET updated_at = ? WHERE id = ?');
    this.db.transaction(() => {
      // The session may have been committed or cancelled by another leg meanwhile.
      if (touch.run(now, uploadId).changes === 0) throw new FerryError('UNKNOWN_UPLOAD', 'The upload session ended (committed, cancelled or expired).');
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
    return (this.db.prepare('SELECT * FROM uploads WHERE updated_at < ?').all(before) as UploadRow[]).map((r) => toUpload(r)!);
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

  private fileByPath(path: string): { id: number; current_version_id: number | null; last_version: number } | undefined {
    return this.db.prepare('SELECT id, current_version_id, last_version FROM files WHERE path = ?').get(path) as
      | { id: number; current_version_id: number | null; last_version: number }
      | undefined;
  }

  isFolder(path: string): boolean {
    const [lo, hi] = underRange(path);
    return !!this.db.prepare('SELECT 1 FROM files WHERE path >= ? AND path < ? LIMIT 1').get(lo, hi);
  }

  private assertAncestorsFree(path: string): void {
    let p = parentOf(path);
    while (p !== '') {
      if (this.fileByPath(p)) throw new FerryError('PATH_CONFLICT', `"${p}" is a file, so it cannot hold "${path}".`);
      p = parentOf(p);
    }
  }

  private insertVersion(fileId: number, num: number, v: { size: number; mtime: number; contentHash: string; sha256: string; userId: number; now: number }, chunks: ChunkRef[]): number {
    const info = this.db
      .prepare(
        `INSERT INTO versions (file_id, num, size, mtime, content_hash, sha256, uploader_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(fileId, num, v.size, v.mtime, v.contentHash, v.sha256, v.userId, v.now);
    const versionId = Number(info.lastInsertRowid);
    const insertChunk = this.db.prepare('INSERT INTO version_chunks (version_id, idx, offset, length, hash) VALUES (?, ?, ?, ?, ?)');
    chunks.forEach((c, i) => insertChunk.run(versionId, i, c.offset, c.length, c.sha256));
    this.db.prepare('UPDATE files SET current_version_id = ?, last_version = ? WHERE id = ?').run(versionId, num, fileId);
    return versionId;
  }

  commitVersion(input: CommitInput): { path: string; version: number; removed: number } {
    return this.db.transaction(() => {
      let path = input.path;
      this.assertAncestorsFree(path);
      let file = this.fileByPath(path);
      const clashes = (p: string) => !!this.fileByPath(p) || this.isFolder(p);
      if (input.conflict === 'rename' && clashes(path)) {
        let n = 2;
        while (clashes(renamedPath(input.path, n))) n++;
        path = renamedPath(input.path, n);
        file = undefined;
      } else if (!file && this.isFolder(path)) {
        throw new FerryError('IS_FOLDER', `"${path}" is a folder.`);
      }
      if (!file) {
        const info = this.db.prepare('INSERT INTO files (path, parent, name) VALUES (?, ?, ?)').run(path, parentOf(path), baseName(path));
        file = { id: Number(info.lastInsertRowid), current_version_id: null, last_version: 0 };
      }
      const num = file.last_version + 1;
      const versionId = this.insertVersion(file.id, num, input, input.chunks);
      let removed = 0;
      if (input.conflict === 'overwrite' && !input.keepReplaced) {
        removed = this.db.prepare('DELETE FROM versions WHERE file_id = ? AND id <> ?').run(file.id, versionId).changes;
      }
      if (input.uploadId) this.deleteUpload(input.uploadId);
      return { path, version: num, removed };
    })();
  }

  listFolder(folder: string): (FileEntry | FolderEntry)[] {
    const files = (this.db.prepare(`${VERSION_SELECT} WHERE f.parent = ? AND v.id = f.current_version_id ORDER BY f.name`).all(folder) as VersionRow[]).map(toVersion);
    const counts = new Map(
      (this.db.prepare('SELECT v.file_id AS id, count(*) AS n FROM versions v JOIN files f ON f.id = v.file_id WHERE f.parent = ? GROUP BY v.file_id').all(folder) as { id: number; n: number }[]).map((r) => [r.id, r.n]),
    );
    const [lo, hi] = underRange(folder);
    const start = lo.length;
    const folderNames = this.db
      .prepare(
        `SELECT DISTINCT substr(path, ? + 1, instr(substr(path, ? + 1), '/') - 1) AS name
         FROM files WHERE path >= ? AND path < ? AND parent <> ? ORDER BY name`,
      )
      .pluck()
      .all(start, start, lo, hi, folder) as string[];
    const entries: (FileEntry | FolderEntry)[] = folderNames.map((name) => ({ kind: 'folder', name, path: folder ? `${folder}/${name}` : name }));
    for (const v of files) entries.push({ kind: 'file', path: v.path, name: baseName(v.path), versions: counts.get(v.fileId) ?? 1, current: v });
    return entries;
  }

  listVersions(path: string): VersionRecord[] {
    return (this.db.prepare(`${VERSION_SELECT} WHERE f.path = ? ORDER BY v.num DESC`).all(path) as VersionRow[]).map(toVersion);
  }

  getVersion(path: string, version?: number): (VersionRecord & { chunks: ChunkRef[] }) | undefined {
    const row = (
      version === undefined
        ? this.db.prepare(`${VERSION_SELECT} WHERE f.path = ? AND v.id = f.current_version_id`).get(path)
        : this.db.prepare(`${VERSION_SELECT} WHERE f.path = ? AND v.num = ?`).get(path, version)
    ) as VersionRow | undefined;
    if (!row) return undefined;
    const chunks = (this.db.prepare('SELECT offset, length, hash AS sha256 FROM version_chunks WHERE version_id = ? ORDER BY idx').all(row.id) as ChunkRef[]);
    return { ...toVersion(row), chunks };
  }

  restoreVersion(path: string, version: number, userId: number, now: number): { version: number } {
    return this.db.transaction(() => {
      const v = this.getVersion(path, version);
      const file = this.fileByPath(path);
      if (!v || !file) throw new FerryError('NOT_FOUND', `${path} has no version ${version}.`);
      const num = file.last_version + 1;
      this.insertVersion(file.id, num, { ...v, userId, now }, v.chunks);
      return { version: num };
    })();
  }

  deleteVersions(path: string, version?: number): number {
    return this.db.transaction(() => {
      const file = this.fileByPath(path);
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

  applyRetention(policy: RetentionPolicy, now: number, path?: string): number {
    if (!policy.keepVersions && !policy.keepDays) return 0;
    return this.db.transaction(() => {
      const files = (path === undefined
        ? this.db.prepare('SELECT id, current_version_id FROM files').all()
        : this.db.prepare('SELECT id, current_version_id FROM files WHERE path = ?').all(path)) as { id: number; current_version_id: number }[];
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

  sha256ForContent(contentHash: string): string | undefined {
    return this.db.prepare('SELECT sha256 FROM versions WHERE content_hash = ? LIMIT 1').pluck().get(contentHash) as string | undefined;
  }

  referencedChunks(): Set<string> {
    const rows = this.db.prepare('SELECT hash FROM version_chunks UNION SELECT hash FROM upload_chunks').pluck().all() as string[];
    return new Set(rows);
  }

  isChunkReferenced(hash: string): boolean {
    return !!this.db.prepare('SELECT 1 FROM version_chunks WHERE hash = ? UNION ALL SELECT 1 FROM upload_chunks WHERE hash = ? LIMIT 1').get(hash, hash);
  }

  // ------------------------------------------------------------------ share links

  createLink(link: Omit<ShareLink, 'downloads' | 'revokedAt' | 'owner'>): void {
    this.db
      .prepare(
        `INSERT INTO share_links (id, owner_id, path, version, created_at, expires_at, max_downloads, password_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(link.id, link.ownerId, link.path, link.version ?? null, link.createdAt, link.expiresAt ?? null, link.maxDownloads ?? null, link.passwordHash ?? null);
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

  countDownload(id: string, client: string, now: number, grantMs: number): { counted: boolean; allowed: boolean } {
    return this.db.transaction(() => {
      const granted = this.db.prepare('SELECT 1 FROM share_grants WHERE link_id = ? AND client = ? AND expires_at > ?').get(id, client, now);
      if (granted) return { counted: false, allowed: true };
      const r = this.db.prepare('SELECT downloads, max_downloads FROM share_links WHERE id = ?').get(id) as { downloads: number; max_downloads: number | null } | undefined;
      if (!r || (r.max_downloads !== null && r.downloads >= r.max_downloads)) return { counted: false, allowed: false };
      this.db.prepare('UPDATE share_links SET downloads = downloads + 1 WHERE id = ?').run(id);
      this.db.prepare('INSERT OR REPLACE INTO share_grants (link_id, client, expires_at) VALUES (?, ?, ?)').run(id, client, now + grantMs);
      return { counted: true, allowed: true };
    })();
  }

  counts(): { files: number; versions: number; users: number } {
    const n = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    return { files: n('SELECT count(*) AS n FROM files'), versions: n('SELECT count(*) AS n FROM versions'), users: n('SELECT count(*) AS n FROM users') };
  }

  logicalBytes(): number {
    return (this.db.prepare('SELECT coalesce(sum(size), 0) AS n FROM versions').get() as { n: number }).n;
  }
}
