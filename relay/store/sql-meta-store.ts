/**
 * MetaStore written once against `SqlEngine`, for SQLite and PostgreSQL alike. Every
 * change of more than one row runs in one transaction, so a crash leaves either the
 * old state or the new one. Changes whose correctness depends on what they read first
 * (a commit's conflict policy, a move, a link's download budget, an upload leg) hold
 * a lock for it: the space (and the user, for quotas) as a `LOCK` key, or the row
 * itself (`FOR UPDATE`), so racing relays on one PostgreSQL get the same answers as
 * racing requests on one SQLite file.
 */
import { FerryError, baseName, compareCodePoints, conflictPath, isConflictName, parentOf, renamedPath, type ChunkRef, type Role } from '../protocol/index.js';
import {
  DOWNLOAD_UNITS,
  MAX_CONFLICT_COPIES,
  type Access,
  type ChangeRecord,
  type LibraryChange,
  type CommitInput,
  type CommitResult,
  type FileEntry,
  type FolderEntry,
  type MetaStore,
  type RetentionPolicy,
  type SearchHit,
  type ShareLink,
  type Space,
  type TrashItem,
  type TreeEntry,
  type UploadRecord,
  type User,
  type DeviceRow,
  DEVICE_ID_LENGTH,
  type VersionRecord,
} from './meta-store.js';
import { INSERT_BATCH, LOCK, insertRows, type Param, type Sql, type SqlEngine } from './sql.js';
import { ENCRYPTED_NAME_RE } from '../crypto/format.js';
import type { AttemptLog } from '../auth/throttle.js';

/** Names as search compares them: compatibility forms folded (ｆｕｌｌ → full), lower case. */
export function foldName(name: string): string {
  return name.normalize('NFKC').toLowerCase();
}

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
  conflict: string | null;
  executable: number;
  sealed: string | null;
}

const VERSION_SELECT = `
  SELECT v.id, v.file_id, f.space_id, f.path, v.num, v.size, v.mtime, v.content_hash, v.sha256, v.sha256_verified,
         u.name AS uploader, v.created_at, f.current_version_id, v.conflict, v.executable, v.sealed
  FROM versions v JOIN files f ON f.id = v.file_id LEFT JOIN users u ON u.id = v.uploader_id`;

/** A file's current version as `tree` and `entriesAt` give it. */
const TREE_FILE_SELECT = 'SELECT f.path, v.size, v.mtime, v.num, v.content_hash, v.executable, v.sealed FROM files f JOIN versions v ON v.id = f.current_version_id';
type TreeFileRow = { path: string; size: number; mtime: number; num: number; content_hash: string; executable: number; sealed: string | null };
function treeFile(f: TreeFileRow): TreeEntry {
  return { kind: 'file', path: f.path, size: f.size, mtime: f.mtime, version: f.num, contentHash: f.content_hash, ...(f.executable === 1 ? { executable: true } : {}), ...(f.sealed != null ? { sealed: f.sealed } : {}) };
}

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
    ...(r.conflict != null ? { conflict: r.conflict } : {}),
    ...(r.executable === 1 ? { executable: true } : {}),
    ...(r.sealed != null ? { sealed: r.sealed } : {}),
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
  kind: 'home' | 'shared' | 'links';
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
  trashed_by_name: string | null;
  files: number;
  bytes: number;
}

const TRASH_SELECT = `
  SELECT t.id, t.space_id, t.path, t.kind, t.trashed_at, u.name AS trashed_by_name,
         (SELECT count(*) FROM files f WHERE f.trash_id = t.id) AS files,
         (SELECT coalesce(sum(v.size), 0) FROM files f JOIN versions v ON v.file_id = f.id WHERE f.trash_id = t.id) AS bytes
  FROM trash t LEFT JOIN users u ON u.id = t.trashed_by`;

function toTrash(r: TrashRow): TrashItem {
  return { id: r.id, spaceId: r.space_id, path: r.path, kind: r.kind, trashedAt: r.trashed_at, trashedBy: r.trashed_by_name ?? '(deleted user)', files: r.files, bytes: r.bytes };
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
  e2e_key: string | null;
  sealed: string | null;
}

const LINK_SELECT = `SELECT l.*, u.name AS owner, f.space_id, f.path AS file_path, f.trash_id,
    CASE WHEN l.e2e_key IS NULL THEN NULL ELSE (SELECT v.sealed FROM versions v WHERE v.file_id = l.file_id ORDER BY v.num DESC LIMIT 1) END AS sealed
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
    ...(r.e2e_key !== null ? { e2e: { key: r.e2e_key, sealed: r.sealed ?? '' } } : {}),
  };
}

/**
 * The paths under `folder/` are those in [lo, hi) in the byte order of UTF-8 text
 * ('0' follows '/'; both engines compare paths so). The root has no upper bound: every
 * path is under it, including those starting with U+10FFFF.
 */
function underRange(folder: string): [string, string | undefined] {
  return folder === '' ? ['', undefined] : [`${folder}/`, `${folder}0`];
}

/** SQL and parameters selecting the paths under `folder`. */
function underClause(folder: string, column = 'path'): { sql: string; params: string[] } {
  const [lo, hi] = underRange(folder);
  return hi === undefined ? { sql: `${column} >= ?`, params: [lo] } : { sql: `${column} >= ? AND ${column} < ?`, params: [lo, hi] };
}

export { compareCodePoints };

type FileRow = { id: number; current_version_id: number | null; last_version: number };

/** The channel relays wake each other on when the change log grows (the payload is only the position). */
/** How long a sealed copy in a link space may wait for the link that hands it out. */
const LINK_COPY_GRACE_MS = 3_600_000;

const CHANGES_CHANNEL = 'ferry_changes';
/** The channel relays wake each other on when the shared log grows. */
const LOG_CHANNEL = 'ferry_log';
/** The channel relays tell each other about sessions, users and spaces on (see `announce`). */
const RELAYS_CHANNEL = 'ferry_relays';

/** The throttle's attempt log in the `attempts` table: one row per failure counted on one key. */
class SqlAttempts implements AttemptLog {
  constructor(private readonly sql: SqlEngine) {}

  /** One query for every name (a sign-in checks three). */
  private async lists(t: Sql, names: string[], since: number[]): Promise<number[][]> {
    if (!names.length) return [];
    const rows = await t.all<{ name: string; at: number }>(
      `SELECT name, at FROM attempts WHERE name IN (${names.map(() => '?').join(', ')}) AND at > ? ORDER BY at, id`,
      [...names, Math.min(...since)],
    );
    return names.map((name, i) => rows.filter((r) => r.name === name && r.at > since[i]).map((r) => r.at));
  }

  begin(names: string[], since: number[], at: number, admit: (lists: number[][]) => boolean) {
    return this.sql.tx(async (t) => {
      // Held to the commit: an attempt on another relay waits, then sees this one.
      await t.lock(...names.map(LOCK.attempt));
      if (!admit(await this.lists(t, names, since))) return { admitted: false, ids: [] as number[] };
      const ids: number[] = [];
      for (const name of names) ids.push((await t.value<number>('INSERT INTO attempts (name, at) VALUES (?, ?) RETURNING id', [name, at]))!);
      return { admitted: true, ids };
    });
  }

  async forgive(clear: string[], ids: number[]): Promise<void> {
    if (clear.length) await this.sql.run(`DELETE FROM attempts WHERE name IN (${clear.map(() => '?').join(', ')})`, clear);
    if (ids.length) await this.sql.run(`DELETE FROM attempts WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
  }

  recent(names: string[], since: number[]): Promise<number[][]> {
    return this.lists(this.sql, names, since);
  }
}

export class SqlMetaStore implements MetaStore {
  readonly attempts: AttemptLog;

  constructor(readonly sql: SqlEngine) {
    this.attempts = new SqlAttempts(sql);
  }

  pruneAttempts(before: number): Promise<number> {
    return this.sql.run('DELETE FROM attempts WHERE at < ?', [before]);
  }

  private get d() {
    return this.sql.dialect;
  }

  close(): Promise<void> {
    return this.sql.close();
  }

  // ------------------------------------------------------------------ users

  async createUser(input: { name: string; role: Role; passwordHash: string; now: number }): Promise<User> {
    try {
      return await this.sql.tx(async (t) => {
        const id = (await t.value<number>('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id', [input.name, input.role, input.passwordHash, input.now]))!;
        await t.run("INSERT INTO spaces (kind, owner_id, name, created_at) VALUES ('home', ?, ?, ?)", [id, input.name, input.now]);
        return (await this.user(t, id))!;
      });
    } catch (err) {
      if (this.d.isUniqueViolation(err)) throw new FerryError('USER_EXISTS', `User ${input.name} already exists.`);
      throw err;
    }
  }

  deleteUser(id: number): Promise<{ files: number; bytes: number }> {
    return this.sql.tx(async (t) => {
      const home = await this.home(t, id);
      const usage = await this.usage(t, home.id);
      // The space (files, versions, folders, trash) and everything else of the user cascade.
      await t.run('DELETE FROM spaces WHERE owner_id = ?', [id]); // home and link copies
      await t.run('DELETE FROM users WHERE id = ?', [id]);
      return { files: usage.files, bytes: usage.bytes };
    });
  }

  async getUserByName(name: string): Promise<User | undefined> {
    return toUser(await this.sql.get<UserRow>(`SELECT * FROM users WHERE ${this.d.nocaseEquals('name')}`, [name]));
  }

  getUser(id: number): Promise<User | undefined> {
    return this.user(this.sql, id);
  }

  private async user(t: Sql, id: number): Promise<User | undefined> {
    return toUser(await t.get<UserRow>('SELECT * FROM users WHERE id = ?', [id]));
  }

  async listUsers(): Promise<User[]> {
    return (await this.sql.all<UserRow>(`SELECT * FROM users ORDER BY ${this.d.nocaseOrder('name')}`)).map((r) => toUser(r)!);
  }

  async countAdmins(): Promise<number> {
    return (await this.sql.value<number>("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0"))!;
  }

  async createSession(tokenHash: string, userId: number, now: number, expiresAt: number, deviceHash?: string): Promise<void> {
    await this.sql.run('INSERT INTO sessions (token_hash, user_id, created_at, expires_at, device_hash) VALUES (?, ?, ?, ?, ?)', [tokenHash, userId, now, expiresAt, deviceHash ?? null]);
  }

  async getSession(tokenHash: string): Promise<{ userId: number; expiresAt: number; user: User; deviceHash?: string } | undefined> {
    const r = await this.sql.get<UserRow & { expires_at: number; device_hash: string | null }>('SELECT u.*, s.expires_at, s.device_hash FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?', [tokenHash]);
    return r && { userId: r.id, expiresAt: r.expires_at, user: toUser(r)!, deviceHash: r.device_hash ?? undefined };
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.sql.run('DELETE FROM sessions WHERE token_hash = ?', [tokenHash]);
  }

  deleteUserSessions(userId: number, keep?: string): Promise<number> {
    return this.sql.run('DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?', [userId, keep ?? '']);
  }

  updateUser(id: number, change: { role?: Role; disabled?: boolean; passwordHash?: string }): Promise<void> {
    const columns: [string, Param][] = [];
    if (change.role !== undefined) columns.push(['role', change.role]);
    if (change.disabled !== undefined) columns.push(['disabled', change.disabled ? 1 : 0]);
    if (change.passwordHash !== undefined) columns.push(['password_hash', change.passwordHash]);
    return this.sql.tx(async (t) => {
      // Two admins demoting each other at once (on two relays) must not both succeed.
      const demotes = change.role === 'user' || change.disabled === true;
      if (demotes) await t.lock(LOCK.admins);
      // Only what changes is written, so two admins changing different things both win.
      const found = columns.length
        ? await t.run(`UPDATE users SET ${columns.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?`, [...columns.map(([, v]) => v), id])
        : Number((await this.user(t, id)) !== undefined);
      if (found === 0) throw new FerryError('NOT_FOUND', 'No such user.');
      if (demotes && (await t.value<number>("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0")) === 0) {
        throw new FerryError('FORBIDDEN', 'The last admin cannot be demoted or disabled.');
      }
    });
  }

  deleteExpiredSessions(now: number): Promise<number> {
    return this.sql.run('DELETE FROM sessions WHERE expires_at <= ?', [now]);
  }

  async createSetupToken(tokenHash: string, expiresAt: number): Promise<void> {
    await this.sql.run('INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)', [tokenHash, expiresAt]);
  }

  async consumeSetupToken(tokenHash: string, now: number): Promise<boolean> {
    return (await this.sql.run('DELETE FROM setup_tokens WHERE token_hash = ? AND expires_at > ?', [tokenHash, now])) === 1;
  }

  async createSigninCode(codeHash: string, userId: number, expiresAt: number, now: number): Promise<void> {
    await this.sql.run('DELETE FROM signin_codes WHERE expires_at <= ?', [now]);
    await this.sql.run('INSERT INTO signin_codes (code_hash, user_id, expires_at) VALUES (?, ?, ?)', [codeHash, userId, expiresAt]);
  }

  async consumeSigninCode(codeHash: string, now: number): Promise<number | undefined> {
    const r = await this.sql.get<{ user_id: number; expires_at: number }>('DELETE FROM signin_codes WHERE code_hash = ? RETURNING user_id, expires_at', [codeHash]);
    return r && r.expires_at > now ? r.user_id : undefined;
  }

  async deleteSigninCode(codeHash: string, userId: number): Promise<boolean> {
    return (await this.sql.run('DELETE FROM signin_codes WHERE code_hash = ? AND user_id = ?', [codeHash, userId])) === 1;
  }

  deleteSigninCodes(userId: number): Promise<number> {
    return this.sql.run('DELETE FROM signin_codes WHERE user_id = ?', [userId]);
  }

  // ------------------------------------------------------------------ spaces

  homeSpace(userId: number): Promise<Space> {
    return this.home(this.sql, userId);
  }

  private async home(t: Sql, userId: number): Promise<Space> {
    const r = await t.get<SpaceRow>("SELECT * FROM spaces WHERE kind = 'home' AND owner_id = ?", [userId]);
    if (!r) throw new FerryError('NOT_FOUND', 'No such user.');
    return toSpace(r);
  }

  async getSpace(id: number): Promise<Space | undefined> {
    const r = await this.sql.get<SpaceRow>('SELECT * FROM spaces WHERE id = ?', [id]);
    return r && toSpace(r);
  }

  async getSharedSpace(name: string): Promise<Space | undefined> {
    const r = await this.sql.get<SpaceRow>(`SELECT * FROM spaces WHERE kind = 'shared' AND ${this.d.nocaseEquals('name')}`, [name]);
    return r && toSpace(r);
  }

  async createSharedSpace(name: string, now: number): Promise<Space> {
    try {
      const r = await this.sql.get<SpaceRow>("INSERT INTO spaces (kind, name, created_at) VALUES ('shared', ?, ?) RETURNING *", [name, now]);
      return toSpace(r!);
    } catch (err) {
      if (this.d.isUniqueViolation(err)) throw new FerryError('SPACE_EXISTS', `A shared folder named "${name}" exists already.`);
      throw err;
    }
  }

  async listSharedSpaces(): Promise<Space[]> {
    return (await this.sql.all<SpaceRow>(`SELECT * FROM spaces WHERE kind = 'shared' ORDER BY ${this.d.nocaseOrder('name')}`)).map(toSpace);
  }

  async deleteSpace(id: number): Promise<void> {
    await this.sql.run('DELETE FROM spaces WHERE id = ?', [id]);
  }

  async setMember(spaceId: number, userId: number, access: Access | undefined): Promise<void> {
    if (access === undefined) await this.sql.run('DELETE FROM members WHERE space_id = ? AND user_id = ?', [spaceId, userId]);
    else await this.sql.run('INSERT INTO members (space_id, user_id, access) VALUES (?, ?, ?) ON CONFLICT (space_id, user_id) DO UPDATE SET access = excluded.access', [spaceId, userId, access]);
  }

  members(spaceId: number): Promise<{ userId: number; name: string; access: Access }[]> {
    return this.sql.all(`SELECT m.user_id AS "userId", u.name, m.access FROM members m JOIN users u ON u.id = m.user_id WHERE m.space_id = ? ORDER BY ${this.d.nocaseOrder('u.name')}`, [spaceId]);
  }

  async accessOf(userId: number, spaceId: number): Promise<Access | undefined> {
    const r = await this.sql.get<{ access: Access | null }>(
      `SELECT CASE WHEN s.owner_id = ? THEN 'edit' ELSE m.access END AS access
       FROM spaces s LEFT JOIN members m ON m.space_id = s.id AND m.user_id = ? WHERE s.id = ?`,
      [userId, userId, spaceId],
    );
    return r?.access ?? undefined;
  }

  async linkSpace(userId: number): Promise<number> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.user(userId));
      const had = await t.value<number>("SELECT id FROM spaces WHERE kind = 'links' AND owner_id = ?", [userId]);
      if (had !== undefined) return had;
      return (await t.value<number>("INSERT INTO spaces (kind, owner_id, name, created_at) VALUES ('links', ?, '', ?) RETURNING id", [userId, Date.now()]))!;
    });
  }

  async deadLinkCopies(now: number): Promise<{ spaceId: number; path: string }[]> {
    // Files in link spaces no live encrypted link hands out: those that had one at once, and
    // those never linked an hour after their last version (the link is made after the upload).
    return this.sql.all<{ spaceId: number; path: string }>(
      `SELECT f.space_id AS "spaceId", f.path FROM files f JOIN spaces s ON s.id = f.space_id
       WHERE s.kind = 'links' AND f.trash_id IS NULL AND NOT EXISTS (
         SELECT 1 FROM share_links l WHERE l.file_id = f.id AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > ?)
           AND (l.max_downloads IS NULL OR l.served_units < l.max_downloads * ${DOWNLOAD_UNITS}))
       AND (EXISTS (SELECT 1 FROM share_links l WHERE l.file_id = f.id)
         OR NOT EXISTS (SELECT 1 FROM versions v WHERE v.file_id = f.id AND v.created_at > ?))`,
      [now, now - LINK_COPY_GRACE_MS],
    );
  }

  async spacesOf(userId: number): Promise<(Space & { access: Access })[]> {
    const home = await this.homeSpace(userId);
    const shared = await this.sql.all<SpaceRow & { access: Access }>(
      `SELECT s.*, m.access FROM spaces s JOIN members m ON m.space_id = s.id WHERE m.user_id = ? AND s.kind = 'shared' ORDER BY ${this.d.nocaseOrder('s.name')}`,
      [userId],
    );
    return [{ ...home, access: 'edit' as Access }, ...shared.map((r) => ({ ...toSpace(r), access: r.access }))];
  }

  spaceUsage(spaceId: number): Promise<{ files: number; bytes: number; trashBytes: number }> {
    return this.usage(this.sql, spaceId);
  }

  private async usage(t: Sql, spaceId: number): Promise<{ files: number; bytes: number; trashBytes: number }> {
    return (await t.get<{ files: number; bytes: number; trashBytes: number }>(
      `SELECT count(DISTINCT f.id) AS files, coalesce(sum(v.size), 0) AS bytes,
              coalesce(sum(CASE WHEN f.trash_id IS NOT NULL THEN v.size END), 0) AS "trashBytes"
       FROM files f LEFT JOIN versions v ON v.file_id = f.id WHERE f.space_id = ?`,
      [spaceId],
    ))!;
  }

  // ------------------------------------------------------------------ uploads

  createUpload(u: UploadRecord): Promise<void> {
    return this.sql.tx(async (t) => {
      await t.run(
        `INSERT INTO uploads (id, user_id, space_id, leg, path, size, mtime, conflict, content_hash, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [u.id, u.userId, u.spaceId, u.leg, u.path, u.size, u.mtime, u.conflict, u.contentHash, u.createdAt, u.updatedAt],
      );
      await this.insertListed(t, u.id, 0, u.chunks);
    });
  }

  private insertListed(t: Sql, id: string, from: number, chunks: ChunkRef[]): Promise<void> {
    return insertRows(t, 'upload_list', ['upload_id', 'idx', '"offset"', 'length', 'hash'], chunks.map((c, i) => [id, from + i, c.offset, c.length, c.sha256]));
  }

  getUpload(id: string): Promise<UploadRecord | undefined> {
    return this.upload(this.sql, id);
  }

  private async upload(t: Sql, id: string): Promise<UploadRecord | undefined> {
    const row = await t.get<UploadRow>('SELECT * FROM uploads WHERE id = ?', [id]);
    if (!row) return undefined;
    const chunks = await t.all<ChunkRef>('SELECT "offset", length, hash AS sha256 FROM upload_list WHERE upload_id = ? ORDER BY idx', [id]);
    return toUpload(row, chunks);
  }

  openUploads(userId: number): Promise<{ id: string; size: number; updatedAt: number }[]> {
    return this.sql.all('SELECT id, size, updated_at AS "updatedAt" FROM uploads WHERE user_id = ? ORDER BY updated_at, id', [userId]);
  }

  claimUpload(id: string, leg: string, now: number): Promise<UploadRecord | undefined> {
    return this.sql.tx(async (t) => {
      if ((await t.run('UPDATE uploads SET leg = ?, updated_at = ? WHERE id = ?', [leg, now, id])) === 0) return undefined;
      return this.upload(t, id);
    });
  }

  /**
   * Throws UNKNOWN_UPLOAD unless the session is open and `leg` holds it; touches it when
   * `now` is given. Holds the session's row until the transaction ends, so a commit (which
   * deletes it) and a chunk record of one session never interleave.
   */
  private async requireLeg(t: Sql, id: string, leg: string, now?: number): Promise<void> {
    // With a time, one statement both locks the row and marks it used (undone with the
    // transaction when the leg is not ours).
    const row =
      now === undefined
        ? await t.get<{ leg: string }>(`SELECT leg FROM uploads WHERE id = ?${this.d.forUpdate}`, [id])
        : await t.get<{ leg: string }>('UPDATE uploads SET updated_at = ? WHERE id = ? RETURNING leg', [now, id]);
    if (!row) throw new FerryError('UNKNOWN_UPLOAD', 'The upload session ended (committed, cancelled or expired).');
    if (row.leg !== leg) throw new FerryError('UPLOAD_CHANGED', 'Another connection resumed this upload session.');
  }

  setUploadChunks(id: string, leg: string, from: number, chunks: ChunkRef[], contentHash: string, dropHeldFrom?: number): Promise<void> {
    return this.sql.tx(async (t) => {
      await this.requireLeg(t, id, leg);
      await t.run('DELETE FROM upload_list WHERE upload_id = ? AND idx >= ?', [id, from]);
      await this.insertListed(t, id, from, chunks);
      await t.run('UPDATE uploads SET content_hash = ? WHERE id = ?', [contentHash, id]);
      if (dropHeldFrom !== undefined) await t.run('DELETE FROM upload_chunks WHERE upload_id = ? AND idx >= ?', [id, dropHeldFrom]);
    });
  }

  markChunksHeld(uploadId: string, leg: string, chunks: { index: number; hash: string }[], now: number): Promise<void> {
    return this.sql.tx(async (t) => {
      // The session may have been committed, cancelled or taken over meanwhile.
      await this.requireLeg(t, uploadId, leg, now);
      // Waits for a collector deciding on one of these chunks (see collectChunk).
      await t.lock(...chunks.map((c) => LOCK.chunk(c.hash)));
      await insertRows(t, 'upload_chunks', ['upload_id', 'idx', 'hash'], chunks.map((c) => [uploadId, c.index, c.hash]), 'ON CONFLICT DO NOTHING');
    });
  }

  async heldChunks(uploadId: string): Promise<Set<number>> {
    return new Set(await this.sql.column<number>('SELECT idx FROM upload_chunks WHERE upload_id = ?', [uploadId]));
  }

  async forgetHeldChunks(uploadId: string, indices: number[]): Promise<void> {
    for (let i = 0; i < indices.length; i += INSERT_BATCH) {
      const part = indices.slice(i, i + INSERT_BATCH);
      await this.sql.run(`DELETE FROM upload_chunks WHERE upload_id = ? AND idx IN (${part.map(() => '?').join(', ')})`, [uploadId, ...part]);
    }
  }

  async deleteUpload(id: string): Promise<void> {
    await this.sql.run('DELETE FROM uploads WHERE id = ?', [id]);
  }

  async staleUploads(before: number): Promise<UploadRecord[]> {
    const stale: UploadRecord[] = [];
    for (const id of await this.sql.column<string>('SELECT id FROM uploads WHERE updated_at < ?', [before])) {
      const u = await this.getUpload(id);
      if (u) stale.push(u);
    }
    return stale;
  }

  async userChunks(userId: number, hashes: string[]): Promise<Set<string>> {
    const held = new Set<string>();
    const unique = [...new Set(hashes)];
    for (let i = 0; i < unique.length; i += INSERT_BATCH) {
      const batch = unique.slice(i, i + INSERT_BATCH);
      const list = batch.map(() => '?').join(', ');
      const found = await this.sql.column<string>(
        `SELECT vc.hash FROM version_chunks vc JOIN versions v ON v.id = vc.version_id WHERE vc.hash IN (${list}) AND v.uploader_id = ?
         UNION SELECT uc.hash FROM upload_chunks uc JOIN uploads u ON u.id = uc.upload_id WHERE uc.hash IN (${list}) AND u.user_id = ?`,
        [...batch, userId, ...batch, userId],
      );
      for (const h of found) held.add(h);
    }
    return held;
  }

  // ------------------------------------------------------------------ files and versions

  private fileByPath(t: Sql, spaceId: number, path: string): Promise<FileRow | undefined> {
    return t.get<FileRow>('SELECT id, current_version_id, last_version FROM files WHERE space_id = ? AND path = ? AND trash_id IS NULL', [spaceId, path]);
  }

  isFolder(spaceId: number, path: string): Promise<boolean> {
    return this.folderAt(this.sql, spaceId, path);
  }

  private async folderAt(t: Sql, spaceId: number, path: string): Promise<boolean> {
    if (path === '') return true;
    if (await t.get('SELECT 1 FROM folders WHERE space_id = ? AND path = ? AND trash_id IS NULL', [spaceId, path])) return true;
    const under = underClause(path);
    return !!(await t.get(`SELECT 1 FROM files WHERE space_id = ? AND trash_id IS NULL AND ${under.sql} LIMIT 1`, [spaceId, ...under.params]));
  }

  private async assertAncestorsFree(t: Sql, spaceId: number, path: string): Promise<void> {
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) {
      if (await this.fileByPath(t, spaceId, p)) throw new FerryError('PATH_CONFLICT', `"${p}" is a file, so it cannot hold "${path}".`);
    }
  }

  private async insertVersion(
    t: Sql,
    fileId: number,
    num: number,
    v: { size: number; mtime: number; contentHash: string; sha256: string; sha256Verified: boolean; userId: number; now: number; executable?: boolean; sealed?: string },
    chunks: ChunkRef[],
    mark: { current: boolean; conflict?: string } = { current: true },
  ): Promise<number> {
    const versionId = (await t.value<number>(
      `INSERT INTO versions (file_id, num, size, mtime, content_hash, sha256, sha256_verified, uploader_id, created_at, conflict, executable, sealed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      [fileId, num, v.size, v.mtime, v.contentHash, v.sha256, v.sha256Verified ? 1 : 0, v.userId, v.now, mark.conflict ?? null, v.executable ? 1 : 0, v.sealed ?? null],
    ))!;
    await insertRows(t, 'version_chunks', ['version_id', 'idx', '"offset"', 'length', 'hash'], chunks.map((c, i) => [versionId, i, c.offset, c.length, c.sha256]));
    if (mark.current) await t.run('UPDATE files SET current_version_id = ?, last_version = ? WHERE id = ?', [versionId, num, fileId]);
    else await t.run('UPDATE files SET last_version = ? WHERE id = ?', [num, fileId]);
    return versionId;
  }

  /** Throws QUOTA_EXCEEDED when `adding` more bytes would take the user past `quota` (0 = none). */
  private async checkQuota(t: Sql, userId: number, adding: number, quota: number | undefined): Promise<void> {
    if (!quota) return;
    const used = await this.bytesOf(t, userId);
    if (used + adding > quota) {
      throw new FerryError('QUOTA_EXCEEDED', `This needs ${adding} bytes; you use ${used} of your ${quota}.`, { usedBytes: used, quotaBytes: quota, neededBytes: adding });
    }
  }

  userBytes(userId: number): Promise<number> {
    return this.bytesOf(this.sql, userId);
  }

  private async bytesOf(t: Sql, userId: number): Promise<number> {
    return (await t.value<number>('SELECT coalesce(sum(size), 0) FROM versions WHERE uploader_id = ?', [userId]))!;
  }

  commitVersion(input: CommitInput): Promise<CommitResult> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(input.spaceId), LOCK.user(input.userId));
      if (input.upload) {
        // Inside the transaction: of two commits of one upload racing, the second finds it gone.
        await this.requireLeg(t, input.upload.id, input.upload.leg);
        const held = await t.value<string>('SELECT content_hash FROM uploads WHERE id = ?', [input.upload.id]);
        if (held !== input.contentHash) throw new FerryError('UPLOAD_CHANGED', 'The upload session\'s chunk list is not the one being committed.');
      }
      const space = input.spaceId;
      let path = input.path;
      await this.assertAncestorsFree(t, space, path);
      // Inside an encrypted folder (or a person's space of encrypted link copies) only sealed
      // versions, with encrypted names in a folder; outside, none.
      const linkCopies = (await t.value<string>('SELECT kind FROM spaces WHERE id = ?', [space])) === 'links';
      const root = linkCopies ? { path: '', id: '' } : await this.checkE2ePath(t, space, path);
      if (root && input.sealed === undefined) throw new FerryError('E2E_REQUIRED', `"${root.path || 'This space'}" is end-to-end encrypted: a version there must come sealed.`);
      if (!root && input.sealed !== undefined) throw new FerryError('E2E_NOT_ALLOWED', 'A sealed version belongs in an encrypted folder.');
      if (root && input.conflict === 'rename') throw new FerryError('E2E_REQUIRED', 'In an encrypted folder the client picks another name itself (the relay cannot read names).');
      let file = await this.fileByPath(t, space, path);
      // The same content as the current version, whatever the policy: no new version.
      const current = file?.current_version_id != null
        ? await t.get<{ id: number; num: number; size: number; content_hash: string; sha256_verified: number; executable: number }>('SELECT id, num, size, content_hash, sha256_verified, executable FROM versions WHERE id = ?', [file.current_version_id])
        : undefined;
      // (An executable bit that changed alone is a new version, as the file's mode is part of it.)
      if (current && current.content_hash === input.contentHash && current.size === input.size && (current.executable === 1) === !!input.executable) {
        // A hash computed from the bytes now replaces one that never was.
        if (input.sha256Verified && !current.sha256_verified) await t.run('UPDATE versions SET sha256 = ?, sha256_verified = 1 WHERE id = ?', [input.sha256, current.id]);
        if (input.upload) await t.run('DELETE FROM uploads WHERE id = ?', [input.upload.id]);
        return { path, version: current.num, removed: 0, unchanged: true };
      }
      const clashes = async (p: string) => !!(await this.fileByPath(t, space, p)) || (await this.folderAt(t, space, p));
      if (input.base !== undefined && (current?.content_hash ?? '') !== input.base) {
        return this.commitConflict(t, input, file, clashes, !!root);
      }
      await this.checkQuota(t, input.userId, input.size, input.quotaBytes);
      if (input.conflict === 'rename' && (await clashes(path))) {
        let n = 2;
        while (await clashes(renamedPath(input.path, n))) n++;
        path = renamedPath(input.path, n);
        file = undefined;
      } else if (!file && (await this.folderAt(t, space, path))) {
        throw new FerryError('IS_FOLDER', `"${path}" is a folder.`);
      }
      if (!file) {
        // Every folder is a row of its own (found by search, kept when emptied).
        await this.keepParents(t, space, path);
        const id = (await t.value<number>('INSERT INTO files (space_id, path, parent, name, fold) VALUES (?, ?, ?, ?, ?) RETURNING id', [space, path, parentOf(path), baseName(path), foldName(baseName(path))]))!;
        file = { id, current_version_id: null, last_version: 0 };
      }
      const num = file.last_version + 1;
      const versionId = await this.insertVersion(t, file.id, num, input, input.chunks);
      let removed = 0;
      if (input.conflict === 'overwrite' && !input.keepReplaced) {
        removed = await t.run('DELETE FROM versions WHERE file_id = ? AND id <> ?', [file.id, versionId]);
      }
      if (input.upload) await t.run('DELETE FROM uploads WHERE id = ?', [input.upload.id]);
      if (input.by !== undefined) {
        await this.logChange(t, input.now, { kind: num === 1 ? 'file.added' : 'version.added', space, path, version: num, size: input.size, contentHash: input.contentHash, user: input.by });
      }
      return { path, version: num, removed, unchanged: false };
    });
  }

  /** A compare-and-swap commit whose base is stale (see CommitInput.base): nothing is lost. */
  private async commitConflict(t: Sql, input: CommitInput, file: FileRow | undefined, clashes: (p: string) => Promise<boolean>, encrypted = false): Promise<CommitResult> {
    const space = input.spaceId;
    const device = input.device ?? 'another device';
    const finish = async (result: CommitResult, kind: 'file.added' | 'version.added', path: string, version: number) => {
      if (input.upload) await t.run('DELETE FROM uploads WHERE id = ?', [input.upload.id]);
      if (input.by !== undefined) await this.logChange(t, input.now, { kind, space, path, version, size: input.size, contentHash: input.contentHash, user: input.by });
      return result;
    };
    if (!file) {
      // Changed here, deleted (or put in the trash) elsewhere: the change comes back.
      if (await this.folderAt(t, space, input.path)) throw new FerryError('IS_FOLDER', `"${input.path}" is a folder.`);
      await this.checkQuota(t, input.userId, input.size, input.quotaBytes);
      await this.keepParents(t, space, input.path);
      const id = (await t.value<number>('INSERT INTO files (space_id, path, parent, name, fold) VALUES (?, ?, ?, ?, ?) RETURNING id', [space, input.path, parentOf(input.path), baseName(input.path), foldName(baseName(input.path))]))!;
      await this.insertVersion(t, id, 1, input, input.chunks, { current: true, conflict: device });
      return finish({ path: input.path, version: 1, removed: 0, unchanged: false, conflict: 'revived', conflictVersion: 1 }, 'file.added', input.path, 1);
    }
    // Kept in the file's history (not current), and as a sibling copy while there are few.
    const copies = (await t.column<string>('SELECT name FROM files WHERE space_id = ? AND parent = ? AND trash_id IS NULL', [space, parentOf(input.path)]))
      .filter((name) => isConflictName(name, baseName(input.path))).length;
    // (In an encrypted folder the relay cannot name a copy: the conflict is in the history.)
    const copy = copies < MAX_CONFLICT_COPIES && !encrypted;
    await this.checkQuota(t, input.userId, input.size * (copy ? 2 : 1), input.quotaBytes);
    const num = file.last_version + 1;
    await this.insertVersion(t, file.id, num, input, input.chunks, { current: false, conflict: device });
    if (!copy) return finish({ path: input.path, version: num, removed: 0, unchanged: false, conflict: 'history', conflictVersion: num }, 'version.added', input.path, num);
    const at = new Date(input.now);
    let n = 1;
    while (await clashes(conflictPath(input.path, device, at, n))) n++;
    const path = conflictPath(input.path, device, at, n);
    const id = (await t.value<number>('INSERT INTO files (space_id, path, parent, name, fold) VALUES (?, ?, ?, ?, ?) RETURNING id', [space, path, parentOf(path), baseName(path), foldName(baseName(path))]))!;
    await this.insertVersion(t, id, 1, input, input.chunks, { current: true, conflict: device });
    return finish({ path, version: 1, removed: 0, unchanged: false, conflict: 'copy', conflictVersion: num }, 'file.added', path, 1);
  }

  async listFolder(spaceId: number, folder: string): Promise<(FileEntry | FolderEntry)[]> {
    const files = (await this.sql.all<VersionRow>(`${VERSION_SELECT} WHERE f.space_id = ? AND f.parent = ? AND f.trash_id IS NULL AND v.id = f.current_version_id ORDER BY f.name`, [spaceId, folder])).map(toVersion);
    const counts = new Map(
      (await this.sql.all<{ id: number; n: number }>(
        'SELECT v.file_id AS id, count(*) AS n FROM versions v JOIN files f ON f.id = v.file_id WHERE f.space_id = ? AND f.parent = ? AND f.trash_id IS NULL GROUP BY v.file_id',
        [spaceId, folder],
      )).map((r) => [r.id, r.n]),
    );
    const under = underClause(folder);
    // substr counts characters (code points), not UTF-16 units as JavaScript's length does.
    const start = [...underRange(folder)[0]].length;
    const folderNames = await this.sql.column<string>(
      `SELECT DISTINCT substr(path, ? + 1, ${this.d.instr}(substr(path, ? + 1), '/') - 1) AS name
       FROM files WHERE space_id = ? AND trash_id IS NULL AND ${under.sql} AND parent <> ?
       UNION SELECT name FROM folders WHERE space_id = ? AND parent = ? AND trash_id IS NULL
       ORDER BY name`,
      [start, start, spaceId, ...under.params, folder, spaceId, folder],
    );
    const entries: (FileEntry | FolderEntry)[] = folderNames.map((name) => ({ kind: 'folder', name, path: folder ? `${folder}/${name}` : name }));
    for (const v of files) entries.push({ kind: 'file', path: v.path, name: baseName(v.path), versions: counts.get(v.fileId) ?? 1, current: v });
    return entries;
  }

  async listVersions(spaceId: number, path: string): Promise<VersionRecord[]> {
    return (await this.sql.all<VersionRow>(`${VERSION_SELECT} WHERE f.space_id = ? AND f.path = ? AND f.trash_id IS NULL ORDER BY v.num DESC`, [spaceId, path])).map(toVersion);
  }

  private async withChunks(t: Sql, row: VersionRow | undefined): Promise<(VersionRecord & { chunks: ChunkRef[] }) | undefined> {
    if (!row) return undefined;
    const chunks = await t.all<ChunkRef>('SELECT "offset", length, hash AS sha256 FROM version_chunks WHERE version_id = ? ORDER BY idx', [row.id]);
    return { ...toVersion(row), chunks };
  }

  getVersion(spaceId: number, path: string, version?: number): Promise<(VersionRecord & { chunks: ChunkRef[] }) | undefined> {
    return this.versionAt(this.sql, spaceId, path, version);
  }

  private async versionAt(t: Sql, spaceId: number, path: string, version?: number) {
    const live = 'f.space_id = ? AND f.path = ? AND f.trash_id IS NULL';
    return this.withChunks(
      t,
      version === undefined
        ? await t.get<VersionRow>(`${VERSION_SELECT} WHERE ${live} AND v.id = f.current_version_id`, [spaceId, path])
        : await t.get<VersionRow>(`${VERSION_SELECT} WHERE ${live} AND v.num = ?`, [spaceId, path, version]),
    );
  }

  async getFileVersion(fileId: number, version?: number): Promise<(VersionRecord & { chunks: ChunkRef[] }) | undefined> {
    return this.withChunks(
      this.sql,
      version === undefined
        ? await this.sql.get<VersionRow>(`${VERSION_SELECT} WHERE f.id = ? AND f.trash_id IS NULL AND v.id = f.current_version_id`, [fileId])
        : await this.sql.get<VersionRow>(`${VERSION_SELECT} WHERE f.id = ? AND f.trash_id IS NULL AND v.num = ?`, [fileId, version]),
    );
  }

  restoreVersion(spaceId: number, path: string, version: number, userId: number, now: number, quotaBytes?: number, by?: string): Promise<{ version: number }> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(spaceId), LOCK.user(userId));
      const v = await this.versionAt(t, spaceId, path, version);
      const file = await this.fileByPath(t, spaceId, path);
      if (!v || !file) throw new FerryError('NOT_FOUND', `${path} has no version ${version}.`);
      await this.checkQuota(t, userId, v.size, quotaBytes);
      const num = file.last_version + 1;
      await this.insertVersion(t, file.id, num, { ...v, userId, now }, v.chunks);
      if (by !== undefined) await this.logChange(t, now, { kind: 'version.restored', space: spaceId, path, version: num, size: v.size, contentHash: v.contentHash, user: by });
      return { version: num };
    });
  }

  copyContent(spaceId: number, from: string, to: string, userId: number, now: number, quotaBytes?: number, by?: string): Promise<{ version: number }> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(spaceId), LOCK.user(userId));
      const v = await this.versionAt(t, spaceId, from);
      const file = await this.fileByPath(t, spaceId, to);
      if (!v) throw new FerryError('NOT_FOUND', `No file ${from}.`);
      if (!file) throw new FerryError('NOT_FOUND', `No file ${to}.`);
      const current = await this.versionAt(t, spaceId, to);
      if (current?.contentHash === v.contentHash) return { version: current.version };
      await this.checkQuota(t, userId, v.size, quotaBytes);
      const num = file.last_version + 1;
      await this.insertVersion(t, file.id, num, { ...v, userId, now }, v.chunks);
      if (by !== undefined) await this.logChange(t, now, { kind: 'version.restored', space: spaceId, path: to, version: num, size: v.size, contentHash: v.contentHash, user: by });
      return { version: num };
    });
  }

  deleteVersions(spaceId: number, path: string, version?: number, by?: string): Promise<number> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(spaceId));
      const file = await this.fileByPath(t, spaceId, path);
      if (!file) throw new FerryError('NOT_FOUND', `No file ${path}.`);
      if (version === undefined) {
        const n = (await t.value<number>('SELECT count(*) FROM versions WHERE file_id = ?', [file.id]))!;
        await t.run('DELETE FROM files WHERE id = ?', [file.id]);
        if (by !== undefined) await this.logChange(t, Date.now(), { kind: 'file.deleted', space: spaceId, path, user: by });
        return n;
      }
      const removed = await t.run('DELETE FROM versions WHERE file_id = ? AND num = ?', [file.id, version]);
      if (removed === 0) throw new FerryError('NOT_FOUND', `${path} has no version ${version}.`);
      const latest = await t.value<number>('SELECT id FROM versions WHERE file_id = ? ORDER BY num DESC LIMIT 1', [file.id]);
      if (latest === undefined) await t.run('DELETE FROM files WHERE id = ?', [file.id]);
      else if (file.current_version_id !== latest && !(await t.get('SELECT 1 FROM versions WHERE id = ?', [file.current_version_id]))) {
        await t.run('UPDATE files SET current_version_id = ? WHERE id = ?', [latest, file.id]);
      }
      if (by !== undefined) await this.logChange(t, Date.now(), { kind: latest === undefined ? 'file.deleted' : 'version.deleted', space: spaceId, path, version, user: by });
      return removed;
    });
  }

  applyRetention(policy: RetentionPolicy, now: number, at?: { spaceId: number; path: string }): Promise<number> {
    if (!policy.keepVersions && !policy.keepDays) return Promise.resolve(0);
    return this.sql.tx(async (t) => {
      if (at) await t.lock(LOCK.space(at.spaceId));
      const files =
        at === undefined
          ? await t.all<{ id: number; current_version_id: number }>('SELECT id, current_version_id FROM files')
          : await t.all<{ id: number; current_version_id: number }>('SELECT id, current_version_id FROM files WHERE space_id = ? AND path = ? AND trash_id IS NULL', [at.spaceId, at.path]);
      const cutoff = now - policy.keepDays * 86_400_000;
      let removed = 0;
      for (const f of files) {
        const versions = await t.all<{ id: number; created_at: number }>('SELECT id, created_at FROM versions WHERE file_id = ? ORDER BY num DESC', [f.id]);
        // The current version always counts as one of the kept ones.
        let kept = 1;
        for (const v of versions) {
          if (v.id === f.current_version_id) continue;
          const tooMany = policy.keepVersions > 0 && kept >= policy.keepVersions;
          const tooOld = policy.keepDays > 0 && v.created_at < cutoff;
          // Not the current one now either (a commit on another relay may have made it so).
          if (tooMany || tooOld) removed += await t.run('DELETE FROM versions WHERE id = ? AND id <> (SELECT current_version_id FROM files WHERE id = ?)', [v.id, f.id]);
          else kept++;
        }
      }
      return removed;
    });
  }

  filesUnder(spaceId: number, folder: string): Promise<{ fileId: number; path: string; size: number; mtime: number }[]> {
    const under = underClause(folder, 'f.path');
    return this.sql.all(
      `SELECT f.id AS "fileId", f.path, v.size, v.mtime FROM files f JOIN versions v ON v.id = f.current_version_id
       WHERE f.space_id = ? AND f.trash_id IS NULL AND ${under.sql} ORDER BY f.path`,
      [spaceId, ...under.params],
    );
  }

  async tree(spaceId: number, folder: string, after: string | undefined, limit: number): Promise<TreeEntry[]> {
    const fu = underClause(folder, 'f.path');
    const du = underClause(folder, 'path');
    const start = after ?? '';
    const files = await this.sql.all<TreeFileRow>(
      `${TREE_FILE_SELECT} WHERE f.space_id = ? AND f.trash_id IS NULL AND ${fu.sql} AND f.path > ? ORDER BY f.path LIMIT ?`,
      [spaceId, ...fu.params, start, limit],
    );
    const folders = await this.sql.column<string>(`SELECT path FROM folders WHERE space_id = ? AND trash_id IS NULL AND ${du.sql} AND path > ? ORDER BY path LIMIT ?`, [spaceId, ...du.params, start, limit]);
    const entries: TreeEntry[] = [
      ...files.map(treeFile),
      ...folders.filter((p) => p !== folder).map((path) => ({ kind: 'folder' as const, path })),
    ];
    // The database's order is byte order of UTF-8, which is code point order.
    entries.sort((a, b) => compareCodePoints(a.path, b.path));
    return entries.slice(0, limit);
  }

  async entriesAt(spaceId: number, paths: string[]): Promise<TreeEntry[]> {
    if (paths.length === 0) return [];
    const marks = paths.map(() => '?').join(', ');
    const files = await this.sql.all<TreeFileRow>(`${TREE_FILE_SELECT} WHERE f.space_id = ? AND f.trash_id IS NULL AND f.path IN (${marks})`, [spaceId, ...paths]);
    const found: TreeEntry[] = files.map(treeFile);
    const seen = new Set(found.map((e) => e.path));
    const folders = await this.sql.column<string>(`SELECT path FROM folders WHERE space_id = ? AND trash_id IS NULL AND path IN (${marks})`, [spaceId, ...paths]);
    for (const p of folders) if (!seen.has(p)) {
      found.push({ kind: 'folder', path: p });
      seen.add(p);
    }
    // A folder that is only part of its files' paths.
    for (const p of paths) {
      if (seen.has(p) || p === '') continue;
      const under = underClause(p, 'path');
      if (await this.sql.value<number>(`SELECT 1 FROM files WHERE space_id = ? AND trash_id IS NULL AND ${under.sql} LIMIT 1`, [spaceId, ...under.params])) {
        found.push({ kind: 'folder', path: p });
        seen.add(p);
      }
    }
    return found.sort((a, b) => compareCodePoints(a.path, b.path));
  }

  // ------------------------------------------------------------------ end-to-end encryption

  /** The encrypted folder that is `path` or holds it, if any. */
  private async e2eRootAt(t: Sql, spaceId: number, path: string): Promise<{ path: string; id: string } | undefined> {
    if (path === '') return undefined;
    const r = await t.get<{ path: string; e2e_id: string }>(
      `SELECT path, e2e_id FROM folders WHERE space_id = ? AND trash_id IS NULL AND e2e_id IS NOT NULL AND (path = ? OR substr(CAST(? AS TEXT), 1, length(path) + 1) = path || '/') LIMIT 1`,
      [spaceId, path, path],
    );
    return r && { path: r.path, id: r.e2e_id };
  }

  /** The encrypted folder holding `path` (refusing plain names below it), if any. */
  private async checkE2ePath(t: Sql, spaceId: number, path: string): Promise<{ path: string; id: string } | undefined> {
    const root = await this.e2eRootAt(t, spaceId, path);
    if (root && path !== root.path) {
      for (const seg of path.slice(root.path.length + 1).split('/')) {
        if (!ENCRYPTED_NAME_RE.test(seg)) throw new FerryError('E2E_REQUIRED', `"${root.path}" is end-to-end encrypted: names in it must come encrypted.`);
      }
    }
    return root;
  }

  /** A move stays inside one encrypted folder, or moves a whole one where no other holds it, or touches none. */
  /** …and answers the encrypted folder an item moves within (undefined when none, or when a whole one moves). */
  private async checkE2eMove(t: Sql, from: { spaceId: number; path: string }, to: { spaceId: number; path: string }): Promise<{ id: string } | undefined> {
    const source = await this.e2eRootAt(t, from.spaceId, from.path);
    const target = await this.checkE2ePath(t, to.spaceId, to.path);
    if (source && source.path === from.path) {
      // A whole encrypted folder: anywhere but inside another.
      if (target) throw new FerryError('E2E_NOT_ALLOWED', 'An encrypted folder cannot go inside another encrypted folder.');
      return undefined;
    }
    // (A plain folder holding an encrypted one moves with it, but not into one: no sources' root, a target's root.)
    if (source?.id !== target?.id) throw new FerryError('E2E_NOT_ALLOWED', 'Moving across an encrypted folder\'s boundary would need re-encrypting: download and upload instead.');
    return source ?? undefined;
  }

  async getKeyRecord(userId: number): Promise<string | undefined> {
    return this.sql.value<string>('SELECT record FROM user_keys WHERE user_id = ?', [userId]);
  }

  putKeyRecord(userId: number, record: string, now: number, replace: boolean): Promise<void> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.user(userId));
      const had = await t.value<number>('SELECT 1 FROM user_keys WHERE user_id = ?', [userId]);
      if (had && !replace) throw new FerryError('E2E_KEYS_EXIST');
      if (had) await t.run('UPDATE user_keys SET record = ?, updated_at = ? WHERE user_id = ?', [record, now, userId]);
      else await t.run('INSERT INTO user_keys (user_id, record, updated_at) VALUES (?, ?, ?)', [userId, record, now]);
    });
  }

  makeEncryptedFolder(spaceId: number, path: string, e2eId: string, userId: number, envelope: string, now: number, by?: string): Promise<void> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(spaceId));
      await this.assertAncestorsFree(t, spaceId, path);
      if ((await this.fileByPath(t, spaceId, path)) || (await this.folderAt(t, spaceId, path))) throw new FerryError('PATH_CONFLICT', `"${path}" exists already: an encrypted folder starts empty.`, { path });
      if (await this.e2eRootAt(t, spaceId, parentOf(path))) throw new FerryError('E2E_NOT_ALLOWED', 'An encrypted folder cannot go inside another encrypted folder.');
      if (await t.value<number>('SELECT 1 FROM folders WHERE e2e_id = ?', [e2eId])) throw new FerryError('PATH_CONFLICT', 'That folder id is taken; pick another.');
      for (let p = path; p !== ''; p = parentOf(p)) await this.folderStays(t, spaceId, p, now);
      await t.run('UPDATE folders SET e2e_id = ? WHERE space_id = ? AND path = ? AND trash_id IS NULL', [e2eId, spaceId, path]);
      await t.run('INSERT INTO folder_keys (e2e_id, epoch, user_id, envelope, created_at) VALUES (?, 1, ?, ?, ?)', [e2eId, userId, envelope, now]);
      if (by !== undefined) await this.logChange(t, now, { kind: 'folder.added', space: spaceId, path, user: by });
    });
  }

  encryptionRoot(spaceId: number, path: string): Promise<{ path: string; id: string } | undefined> {
    return this.e2eRootAt(this.sql, spaceId, path);
  }

  async encryptedFoldersIn(spaceId: number, folder: string): Promise<Map<string, string>> {
    const under = underClause(folder, 'path');
    const rows = await this.sql.all<{ path: string; e2e_id: string }>(`SELECT path, e2e_id FROM folders WHERE space_id = ? AND trash_id IS NULL AND e2e_id IS NOT NULL AND ${under.sql}`, [spaceId, ...under.params]);
    return new Map(rows.map((r) => [r.path, r.e2e_id]));
  }

  async folderKeys(e2eId: string, userId: number): Promise<{ epoch: number; envelope: string; from?: string }[]> {
    const rows = await this.sql.all<{ epoch: number; envelope: string; from_name: string | null }>(
      'SELECT k.epoch, k.envelope, u.name AS from_name FROM folder_keys k LEFT JOIN users u ON u.id = k.from_user_id WHERE k.e2e_id = ? AND k.user_id = ? ORDER BY k.epoch',
      [e2eId, userId],
    );
    return rows.map((r) => ({ epoch: r.epoch, envelope: r.envelope, ...(r.from_name !== null ? { from: r.from_name } : {}) }));
  }

  async folderKeyHolders(e2eId: string): Promise<{ userId: number; epoch: number }[]> {
    return this.sql.all<{ userId: number; epoch: number }>('SELECT user_id AS "userId", epoch FROM folder_keys WHERE e2e_id = ? ORDER BY epoch, user_id', [e2eId]);
  }

  async encryptedFolderById(e2eId: string): Promise<{ spaceId: number; path: string } | undefined> {
    const r = await this.sql.get<{ space_id: number; path: string }>('SELECT space_id, path FROM folders WHERE e2e_id = ? AND trash_id IS NULL', [e2eId]);
    return r && { spaceId: r.space_id, path: r.path };
  }

  addFolderKeys(e2eId: string, byUserId: number, keys: { userId: number; epoch: number; envelope: string }[], now: number, rotateTo?: number): Promise<number> {
    return this.sql.tx(async (t) => {
      const folder = await t.get<{ space_id: number }>('SELECT space_id FROM folders WHERE e2e_id = ?', [e2eId]);
      if (!folder) throw new FerryError('NOT_FOUND', 'No such encrypted folder.');
      await t.lock(LOCK.space(folder.space_id));
      const newest = (await t.value<number>('SELECT max(epoch) FROM folder_keys WHERE e2e_id = ?', [e2eId])) ?? 0;
      if (rotateTo !== undefined && rotateTo !== newest + 1) throw new FerryError('PATH_CONFLICT', `The folder's key was replaced meanwhile (it is at epoch ${newest}); look again.`);
      for (const k of keys) {
        if (rotateTo === undefined && k.epoch > newest) throw new FerryError('BAD_MESSAGE', `Epoch ${k.epoch} of this folder does not exist yet.`);
        if (rotateTo !== undefined && k.epoch !== rotateTo) throw new FerryError('BAD_MESSAGE', 'A new key goes with its new epoch only.');
      }
      let added = 0;
      for (const k of keys) {
        added += await t.run('INSERT INTO folder_keys (e2e_id, epoch, user_id, envelope, created_at, from_user_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [e2eId, k.epoch, k.userId, k.envelope, now, byUserId === k.userId ? null : byUserId]);
      }
      return added;
    });
  }

  // ------------------------------------------------------------------ folders, moves, trash

  /** Makes the folders above `path` explicit, so they stay when what is in them moves away or to the trash. */
  private async keepParents(t: Sql, spaceId: number, path: string): Promise<void> {
    for (let p = parentOf(path); p !== ''; p = parentOf(p)) await this.folderStays(t, spaceId, p, Date.now());
  }

  /** Records a live folder at `path` unless one is there. */
  private async folderStays(t: Sql, spaceId: number, path: string, now: number): Promise<void> {
    await t.run('INSERT INTO folders (space_id, path, parent, name, fold, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [spaceId, path, parentOf(path), baseName(path), foldName(baseName(path)), now]);
  }

  makeFolder(spaceId: number, path: string, now: number, by?: string): Promise<void> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(spaceId));
      await this.assertAncestorsFree(t, spaceId, path);
      await this.checkE2ePath(t, spaceId, path);
      if (await this.fileByPath(t, spaceId, path)) throw new FerryError('PATH_CONFLICT', `"${path}" is a file.`);
      // Its parents too, so each stays when what made it a folder moves away.
      for (let p = path; p !== ''; p = parentOf(p)) await this.folderStays(t, spaceId, p, now);
      if (by !== undefined) await this.logChange(t, now, { kind: 'folder.added', space: spaceId, path, user: by });
    });
  }

  move(from: { spaceId: number; path: string }, to: { spaceId: number; path: string }, by?: string, reseal?: { version: number; sealed: string }[]): Promise<{ kind: 'file' | 'folder'; files: number }> {
    const log = async (t: Sql) => {
      if (by !== undefined) await this.logChange(t, Date.now(), { kind: 'moved', space: to.spaceId, path: to.path, from: from.path, fromSpace: from.spaceId === to.spaceId ? undefined : from.spaceId, user: by });
    };
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(from.spaceId), LOCK.space(to.spaceId));
      if (from.spaceId === to.spaceId && from.path === to.path) throw new FerryError('PATH_CONFLICT', `"${to.path}" is where it is already.`);
      const file = await this.fileByPath(t, from.spaceId, from.path);
      const folder = !file && from.path !== '' && (await this.folderAt(t, from.spaceId, from.path));
      if (!file && !folder) throw new FerryError('NOT_FOUND', `No file or folder "${from.path}".`);
      if (folder && from.spaceId === to.spaceId && (to.path === from.path || to.path.startsWith(`${from.path}/`))) {
        throw new FerryError('BAD_PATH', `A folder cannot move into itself ("${from.path}" → "${to.path}").`);
      }
      if ((await this.fileByPath(t, to.spaceId, to.path)) || (await this.folderAt(t, to.spaceId, to.path))) {
        throw new FerryError('PATH_CONFLICT', `"${to.path}" exists already.`, { path: to.path });
      }
      await this.assertAncestorsFree(t, to.spaceId, to.path);
      const root = await this.checkE2eMove(t, from, to);
      const renamed = !!file && root !== undefined && baseName(from.path) !== baseName(to.path);
      if (reseal !== undefined && !renamed) throw new FerryError('E2E_NOT_ALLOWED', 'Only a file of an encrypted folder given a new name has its versions sealed again.');
      if (renamed) {
        // Each version's sealed facts name the file: a new name needs every one sealed anew.
        const nums = await t.column<number>('SELECT num FROM versions WHERE file_id = ? ORDER BY num', [file.id]);
        const given = new Map((reseal ?? []).map((r) => [r.version, r.sealed]));
        if (nums.length !== given.size || nums.some((n) => !given.has(n))) {
          throw new FerryError('E2E_REQUIRED', `A file of an encrypted folder given a new name needs each of its versions sealed again under it (${given.size} of ${nums.length} given).`, { versions: nums.length });
        }
        for (const n of nums) await t.run('UPDATE versions SET sealed = ? WHERE file_id = ? AND num = ?', [given.get(n)!, file.id, n]);
      }
      await this.keepParents(t, from.spaceId, from.path);
      if (file) {
        await t.run('UPDATE files SET space_id = ?, path = ?, parent = ?, name = ?, fold = ? WHERE id = ?', [to.spaceId, to.path, parentOf(to.path), baseName(to.path), foldName(baseName(to.path)), file.id]);
        await log(t);
        return { kind: 'file' as const, files: 1 };
      }
      const fileRows = (await t.value<number>('SELECT count(*) FROM files WHERE space_id = ? AND trash_id IS NULL AND path >= ? AND path < ?', [from.spaceId, `${from.path}/`, `${from.path}0`]))!;
      for (const table of ['files', 'folders'] as const) await this.rewritePrefixWhere(t, table, 'space_id = ? AND trash_id IS NULL', [from.spaceId], from.path, to.path, to.spaceId);
      // The folder stays a folder where it went even when it was only implied by its files.
      await this.folderStays(t, to.spaceId, to.path, Date.now());
      await log(t);
      return { kind: 'folder' as const, files: fileRows };
    });
  }

  private async rewritePrefixWhere(t: Sql, table: 'files' | 'folders', where: string, params: Param[], from: string, to: string, toSpace: number): Promise<void> {
    const fromLen = [...from].length;
    await t.run(
      `UPDATE ${table} SET space_id = ?, path = ? || substr(path, ? + 1), parent = ? || substr(parent, ? + 1)
       WHERE ${where} AND path >= ? AND path < ?`,
      [toSpace, to, fromLen, to, fromLen, ...params, `${from}/`, `${from}0`],
    );
    await t.run(`UPDATE ${table} SET space_id = ?, path = ?, parent = ?, name = ?, fold = ? WHERE ${where} AND path = ?`, [toSpace, to, parentOf(to), baseName(to), foldName(baseName(to)), ...params, from]);
  }

  trash(spaceId: number, path: string, userId: number, now: number, by?: string): Promise<TrashItem> {
    return this.sql.tx(async (t) => {
      await t.lock(LOCK.space(spaceId));
      const file = await this.fileByPath(t, spaceId, path);
      const folder = !file && path !== '' && (await this.folderAt(t, spaceId, path));
      if (!file && !folder) throw new FerryError('NOT_FOUND', `No file or folder "${path}".`);
      await this.keepParents(t, spaceId, path);
      const id = (await t.value<number>('INSERT INTO trash (space_id, path, kind, trashed_at, trashed_by) VALUES (?, ?, ?, ?, ?) RETURNING id', [spaceId, path, file ? 'file' : 'folder', now, userId]))!;
      if (file) await t.run('UPDATE files SET trash_id = ? WHERE id = ?', [id, file.id]);
      else {
        for (const table of ['files', 'folders']) {
          await t.run(`UPDATE ${table} SET trash_id = ? WHERE space_id = ? AND trash_id IS NULL AND (path = ? OR (path >= ? AND path < ?))`, [id, spaceId, path, `${path}/`, `${path}0`]);
        }
      }
      if (by !== undefined) await this.logChange(t, now, { kind: 'trashed', space: spaceId, path, user: by });
      return (await this.trashItem(t, id))!;
    });
  }

  async listTrash(spaceId: number): Promise<TrashItem[]> {
    return (await this.sql.all<TrashRow>(`${TRASH_SELECT} WHERE t.space_id = ? ORDER BY t.trashed_at DESC, t.id DESC`, [spaceId])).map(toTrash);
  }

  getTrashItem(id: number): Promise<TrashItem | undefined> {
    return this.trashItem(this.sql, id);
  }

  private async trashItem(t: Sql, id: number): Promise<TrashItem | undefined> {
    const r = await t.get<TrashRow>(`${TRASH_SELECT} WHERE t.id = ?`, [id]);
    return r && toTrash(r);
  }

  untrash(id: number, by?: string): Promise<{ path: string }> {
    return this.sql.tx(async (t) => {
      const space = await t.value<number>('SELECT space_id FROM trash WHERE id = ?', [id]);
      if (space !== undefined) await t.lock(LOCK.space(space));
      const item = await this.trashItem(t, id);
      if (!item) throw new FerryError('NOT_FOUND', 'That is no longer in the trash.');
      await this.assertAncestorsFree(t, space!, item.path);
      const taken = async (p: string) => !!(await this.fileByPath(t, space!, p)) || (await this.folderAt(t, space!, p));
      let path = item.path;
      if (item.path.split('/').some((s) => ENCRYPTED_NAME_RE.test(s))) {
        // Encrypted names only go back into their encrypted folder, under the same name.
        const root = await this.e2eRootAt(t, space!, parentOf(item.path));
        if (!root) throw new FerryError('E2E_NOT_ALLOWED', 'This comes from an encrypted folder that is gone: restore that folder first.');
        await this.checkE2ePath(t, space!, item.path);
        if (await taken(path)) throw new FerryError('PATH_CONFLICT', 'Something of the same name is there now; rename it first (in an encrypted folder the relay cannot pick another name).', { path });
      }
      for (let n = 2; await taken(path); n++) path = renamedPath(item.path, n);
      for (const table of ['files', 'folders'] as const) {
        if (path !== item.path) await this.rewritePrefixWhere(t, table, 'trash_id = ?', [id], item.path, path, space!);
        await t.run(`UPDATE ${table} SET trash_id = NULL WHERE trash_id = ?`, [id]);
      }
      await t.run('DELETE FROM trash WHERE id = ?', [id]);
      if (by !== undefined) await this.logChange(t, Date.now(), { kind: 'untrashed', space: space!, path, user: by });
      return { path };
    });
  }

  purgeTrash(which: { id: number } | { spaceId: number } | { before: number }, by?: string): Promise<{ items: number; files: number }> {
    return this.sql.tx(async (t) => {
      const item = 'id' in which ? await t.get<{ space_id: number; path: string }>('SELECT space_id, path FROM trash WHERE id = ?', [which.id]) : undefined;
      const [where, param] = 'id' in which ? ['id = ?', which.id] : 'spaceId' in which ? ['space_id = ?', which.spaceId] : ['trashed_at < ?', which.before];
      const files = (await t.value<number>(`SELECT count(*) FROM files WHERE trash_id IN (SELECT id FROM trash WHERE ${where})`, [param]))!;
      // Files, their versions and chunk lists, folders and links go with the item (foreign keys cascade).
      const items = await t.run(`DELETE FROM trash WHERE ${where}`, [param]);
      const space = item?.space_id ?? ('spaceId' in which ? which.spaceId : undefined);
      if (by !== undefined && space !== undefined) await this.logChange(t, Date.now(), { kind: 'purged', space, path: item?.path ?? '', user: by });
      return { items, files };
    });
  }

  async search(spaceIds: number[], text: string, limit: number): Promise<{ hits: SearchHit[]; truncated: boolean }> {
    if (spaceIds.length === 0 || text === '') return { hits: [], truncated: false };
    const spaces = spaceIds.map(() => '?').join(',');
    const needle = foldName(text);
    const rows = await this.sql.all<SearchHit & { size: number | null; modifiedAt: number | null }>(
      `SELECT * FROM (
         SELECT f.space_id AS "spaceId", 'file' AS kind, f.path, f.name, v.size, v.created_at AS "modifiedAt"
         FROM files f JOIN versions v ON v.id = f.current_version_id
         WHERE f.space_id IN (${spaces}) AND f.trash_id IS NULL AND ${this.d.instr}(f.fold, ?) > 0
         UNION ALL
         SELECT space_id, 'folder', path, name, NULL, NULL FROM folders
         WHERE space_id IN (${spaces}) AND trash_id IS NULL AND ${this.d.instr}(fold, ?) > 0
       ) AS hits ORDER BY name LIMIT ?`,
      [...spaceIds, needle, ...spaceIds, needle, limit + 1],
    );
    const hits = rows.slice(0, limit).map((r) => ({ ...r, size: r.size ?? undefined, modifiedAt: r.modifiedAt ?? undefined }));
    return { hits, truncated: rows.length > limit };
  }

  sha256ForContent(contentHash: string): Promise<string | undefined> {
    return this.sql.value<string>('SELECT sha256 FROM versions WHERE content_hash = ? AND sha256_verified = 1 LIMIT 1', [contentHash]);
  }

  async markSha256Verified(versionId: number): Promise<void> {
    await this.sql.run('UPDATE versions SET sha256_verified = 1 WHERE id = ?', [versionId]);
  }

  async referencedChunks(): Promise<Set<string>> {
    return new Set(await this.sql.column<string>('SELECT hash FROM version_chunks UNION SELECT hash FROM upload_chunks'));
  }

  async hasContent(contentHash: string): Promise<boolean> {
    return !!(await this.sql.get('SELECT 1 FROM versions WHERE content_hash = ? LIMIT 1', [contentHash]));
  }

  async isChunkReferenced(hash: string, sql: Sql = this.sql): Promise<boolean> {
    return !!(await sql.get('SELECT 1 FROM version_chunks WHERE hash = ? UNION ALL SELECT 1 FROM upload_chunks WHERE hash = ? LIMIT 1', [hash, hash]));
  }

  collectChunk(hash: string, remove: () => Promise<void>): Promise<boolean> {
    return this.sql.tx(async (t) => {
      // Held while the object is deleted: markChunksHeld on this chunk waits for it.
      await t.lock(LOCK.chunk(hash));
      if (await this.isChunkReferenced(hash, t)) return false;
      await remove();
      return true;
    });
  }

  takeLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return this.sql.tx(async (t) => {
      await t.run('INSERT INTO leases (name, holder, until) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [name, holder, now + ttlMs]);
      const taken = await t.run('UPDATE leases SET holder = ?, until = ? WHERE name = ? AND (holder = ? OR until < ?)', [holder, now + ttlMs, name, holder, now]);
      return taken > 0;
    });
  }

  async dropLease(name: string, holder: string): Promise<void> {
    await this.sql.run('DELETE FROM leases WHERE name = ? AND holder = ?', [name, holder]);
  }

  // ------------------------------------------------------------------ change log

  /**
   * Appends a change inside the transaction that made it, so the log never misses a
   * committed change nor records one that was rolled back. The append is serialized
   * (LOCK.changes, held to the commit), so positions grow in commit order and a reader
   * that has seen position N has seen everything before it.
   */
  private async logChange(t: Sql, at: number, change: LibraryChange): Promise<void> {
    await t.lock(LOCK.changes);
    const seq = await t.value<number>('INSERT INTO changes (space_id, from_space_id, at, body) VALUES (?, ?, ?, ?) RETURNING seq', [change.space, change.fromSpace ?? null, at, JSON.stringify(change)]);
    await t.notify(CHANGES_CHANNEL, String(seq));
  }

  async changesSince(after: number, limit: number, spaceIds?: number[]): Promise<ChangeRecord[]> {
    if (spaceIds?.length === 0) return [];
    const list = spaceIds?.map(() => '?').join(', ');
    const rows = await this.sql.all<{ seq: number; at: number; body: string }>(
      `SELECT seq, at, body FROM changes WHERE seq > ?${list ? ` AND (space_id IN (${list}) OR from_space_id IN (${list}))` : ''} ORDER BY seq LIMIT ?`,
      [after, ...(spaceIds ?? []), ...(spaceIds ?? []), limit],
    );
    return rows.map((r) => ({ ...(JSON.parse(r.body) as LibraryChange), seq: r.seq, at: r.at }));
  }

  async changeBounds(): Promise<{ oldest: number; newest: number }> {
    const r = await this.sql.get<{ oldest: number | null; newest: number | null }>('SELECT min(seq) AS oldest, max(seq) AS newest FROM changes');
    return { oldest: r?.oldest ?? 0, newest: r?.newest ?? 0 };
  }

  pruneChanges(before: number): Promise<number> {
    return this.sql.run('DELETE FROM changes WHERE at < ? AND seq < (SELECT max(seq) FROM changes)', [before]);
  }

  watchChanges(wake: () => void): Promise<() => Promise<void>> {
    return this.sql.listen(CHANGES_CHANNEL, () => wake());
  }

  // ------------------------------------------------------------------ shared log

  get sharedByRelays(): boolean {
    return this.d.name === 'postgres';
  }

  appendLogLines(relay: string, lines: { at: number; line: string }[]): Promise<void> {
    return this.sql.tx(async (t) => {
      await insertRows(t, 'log_lines', ['at', 'relay', 'line'], lines.map((l) => [l.at, relay, l.line]));
      await t.notify(LOG_CHANNEL, '');
    });
  }

  async logLines(after: number | undefined, limit: number): Promise<{ seq: number; relay: string; line: string }[]> {
    if (after !== undefined) return this.sql.all('SELECT seq, relay, line FROM log_lines WHERE seq > ? ORDER BY seq LIMIT ?', [after, limit]);
    const newest = await this.sql.all<{ seq: number; relay: string; line: string }>('SELECT seq, relay, line FROM log_lines ORDER BY seq DESC LIMIT ?', [limit]);
    return newest.reverse();
  }

  pruneLogLines(before: number): Promise<number> {
    return this.sql.run('DELETE FROM log_lines WHERE at < ?', [before]);
  }

  watchLog(wake: () => void): Promise<() => Promise<void>> {
    return this.sql.listen(LOG_CHANNEL, () => wake());
  }

  async announce(event: string): Promise<void> {
    if (Buffer.byteLength(event) > 7000) throw new Error('An announcement is at most 7,000 bytes.');
    await this.sql.notify(RELAYS_CHANNEL, event);
  }

  watchAnnouncements(listener: (event: string) => void): Promise<() => Promise<void>> {
    return this.sql.listen(RELAYS_CHANNEL, (payload) => payload !== undefined && listener(payload));
  }

  async sharedValue(name: string, make: () => string): Promise<string> {
    const found = await this.sql.value<string>('SELECT value FROM shared_values WHERE name = ?', [name]);
    if (found !== undefined) return found;
    // Two relays making it at once: the first one written is everybody's.
    await this.sql.run('INSERT INTO shared_values (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING', [name, make()]);
    return (await this.sql.value<string>('SELECT value FROM shared_values WHERE name = ?', [name]))!;
  }

  // ------------------------------------------------------------------ share links

  async createLink(link: Omit<ShareLink, 'downloads' | 'servedUnits' | 'revokedAt' | 'owner' | 'spaceId' | 'path' | 'trashed' | 'e2e'> & { e2e?: { key: string } }): Promise<void> {
    await this.sql.run(
      `INSERT INTO share_links (id, owner_id, file_id, path, version, created_at, expires_at, max_downloads, password_hash, message, e2e_key)
       VALUES (?, ?, ?, (SELECT path FROM files WHERE id = ?), ?, ?, ?, ?, ?, ?, ?)`,
      [link.id, link.ownerId, link.fileId, link.fileId, link.version ?? null, link.createdAt, link.expiresAt ?? null, link.maxDownloads ?? null, link.passwordHash ?? null, link.message ?? null, link.e2e?.key ?? null],
    );
  }

  async getLink(id: string): Promise<ShareLink | undefined> {
    const r = await this.sql.get<LinkRow>(`${LINK_SELECT} WHERE l.id = ?`, [id]);
    return r && toLink(r);
  }

  async listLinks(ownerId?: number): Promise<ShareLink[]> {
    const rows =
      ownerId === undefined
        ? await this.sql.all<LinkRow>(`${LINK_SELECT} ORDER BY l.created_at DESC`)
        : await this.sql.all<LinkRow>(`${LINK_SELECT} WHERE l.owner_id = ? ORDER BY l.created_at DESC`, [ownerId]);
    return rows.map(toLink);
  }

  async revokeLink(id: string, now: number): Promise<boolean> {
    return (await this.sql.run('UPDATE share_links SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id])) === 1;
  }

  reserveDownload(id: string, units: number): Promise<{ allowed: boolean; taken: number }> {
    return this.sql.tx(async (t) => {
      const r = await t.get<{ served_units: number; max_downloads: number | null }>(`SELECT served_units, max_downloads FROM share_links WHERE id = ?${this.d.forUpdate}`, [id]);
      if (!r) return { allowed: false, taken: 0 };
      const left = r.max_downloads === null ? Infinity : r.max_downloads * DOWNLOAD_UNITS - r.served_units;
      if (left <= 0) return { allowed: false, taken: 0 };
      const taken = Math.min(units, left);
      await t.run('UPDATE share_links SET served_units = served_units + ? WHERE id = ?', [taken, id]);
      return { allowed: true, taken };
    });
  }

  async refundDownload(id: string, units: number): Promise<void> {
    if (units > 0) await this.sql.run(`UPDATE share_links SET served_units = ${this.d.greatest}(0, served_units - ?) WHERE id = ?`, [units, id]);
  }

  // ------------------------------------------------------------------ devices

  async createDevice(tokenHash: string, userId: number, now: number): Promise<void> {
    await this.sql.run('INSERT INTO devices (token_hash, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [tokenHash, userId, now]);
  }

  async getDevice(tokenHash: string): Promise<{ userId: number } | undefined> {
    const id = await this.sql.value<number>('SELECT user_id FROM devices WHERE token_hash = ? AND revoked_at IS NULL', [tokenHash]);
    return id === undefined ? undefined : { userId: id };
  }

  async updateDevice(tokenHash: string, change: { name?: string; kind?: string; sync?: string; lastSeenAt: number }): Promise<void> {
    await this.sql.run(
      'UPDATE devices SET name = coalesce(?, name), kind = coalesce(?, kind), sync = coalesce(?, sync), last_seen_at = ? WHERE token_hash = ? AND revoked_at IS NULL',
      [change.name ?? null, change.kind ?? null, change.sync ?? null, change.lastSeenAt, tokenHash],
    );
  }

  async listDevices(userId: number | undefined): Promise<DeviceRow[]> {
    const rows = await this.sql.all<{ token_hash: string; user_id: number; user_name: string; name: string | null; kind: string | null; created_at: number; last_seen_at: number | null; revoked_at: number | null; sync: string | null }>(
      `SELECT d.*, u.name AS user_name FROM devices d JOIN users u ON u.id = d.user_id ${userId === undefined ? '' : 'WHERE d.user_id = ?'} ORDER BY coalesce(d.last_seen_at, d.created_at) DESC, d.token_hash`,
      userId === undefined ? [] : [userId],
    );
    return rows.map((r) => ({
      id: r.token_hash.slice(0, DEVICE_ID_LENGTH),
      tokenHash: r.token_hash,
      userId: r.user_id,
      user: r.user_name,
      name: r.name ?? undefined,
      kind: r.kind ?? undefined,
      createdAt: r.created_at,
      lastSeenAt: r.last_seen_at ?? undefined,
      revokedAt: r.revoked_at ?? undefined,
      sync: r.sync ?? undefined,
    }));
  }

  revokeDevice(id: string, userId: number | undefined, now: number): Promise<{ userId: number; sessions: string[] } | undefined> {
    if (!/^[0-9a-f]+$/.test(id) || id.length !== DEVICE_ID_LENGTH) return Promise.resolve(undefined);
    return this.sql.tx(async (t) => {
      const rows = await t.all<{ token_hash: string; user_id: number }>(
        `SELECT token_hash, user_id FROM devices WHERE substr(token_hash, 1, ${DEVICE_ID_LENGTH}) = ? ${userId === undefined ? '' : 'AND user_id = ?'}`,
        userId === undefined ? [id] : [id, userId],
      );
      // Two devices whose hashes start alike (2^-64) are refused rather than guessed between.
      if (rows.length !== 1) return undefined;
      const [d] = rows;
      await t.run('UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE token_hash = ?', [now, d.token_hash]);
      const sessions = (await t.all<{ token_hash: string }>('SELECT token_hash FROM sessions WHERE device_hash = ?', [d.token_hash])).map((r) => r.token_hash);
      await t.run('DELETE FROM sessions WHERE device_hash = ?', [d.token_hash]);
      return { userId: d.user_id, sessions };
    });
  }

  async counts(): Promise<{ files: number; versions: number; users: number }> {
    const n = async (sql: string) => (await this.sql.value<number>(sql))!;
    return { files: await n('SELECT count(*) FROM files WHERE trash_id IS NULL'), versions: await n('SELECT count(*) FROM versions'), users: await n('SELECT count(*) FROM users') };
  }

  async logicalBytes(): Promise<number> {
    return (await this.sql.value<number>('SELECT coalesce(sum(size), 0) FROM versions'))!;
  }
}
