/**
 * Metadata of the relay: users, sessions, upload sessions, files and versions.
 * The relay depends on this interface only; `tests/contract/meta-store.contract.ts`
 * is the suite every backend must pass.
 */
import type { ChunkRef, ConflictPolicy, Role } from '../protocol/index.js';

export interface User {
  id: number;
  name: string;
  role: Role;
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
}

export interface UploadRecord {
  id: string;
  userId: number;
  path: string;
  size: number;
  mtime: number;
  conflict: ConflictPolicy;
  /** Content hash of the chunk list once it covers the whole file; '' while it is still growing. */
  contentHash: string;
  /** The chunks listed so far, from offset 0. */
  chunks: ChunkRef[];
  createdAt: number;
  updatedAt: number;
}

export interface VersionRecord {
  id: number;
  fileId: number;
  path: string;
  version: number;
  size: number;
  mtime: number;
  contentHash: string;
  sha256: string;
  uploader: string;
  createdAt: number;
  current: boolean;
}

export interface FileEntry {
  kind: 'file';
  path: string;
  name: string;
  versions: number;
  current: VersionRecord;
}

export interface FolderEntry {
  kind: 'folder';
  path: string;
  name: string;
}

export interface CommitInput {
  /** The upload session this commit finishes; it is removed in the same transaction. */
  uploadId?: string;
  userId: number;
  path: string;
  conflict: ConflictPolicy;
  size: number;
  mtime: number;
  contentHash: string;
  sha256: string;
  chunks: ChunkRef[];
  /** When false, `overwrite` drops the replaced versions instead of keeping them in history. */
  keepReplaced: boolean;
  now: number;
}

export interface RetentionPolicy {
  /** Keep at most this many versions per file (the current one always stays); 0 = no limit. */
  keepVersions: number;
  /** Drop non-current versions older than this many days; 0 = keep forever. */
  keepDays: number;
}

/** A share link: a public URL for one file, pinned to a version or following the latest. */
export interface ShareLink {
  id: string;
  ownerId: number;
  owner: string;
  path: string;
  /** Pinned version; undefined follows the latest. */
  version?: number;
  createdAt: number;
  expiresAt?: number;
  maxDownloads?: number;
  downloads: number;
  passwordHash?: string;
  revokedAt?: number;
}

export interface MetaStore {
  // users and sessions
  createUser(input: { name: string; role: Role; passwordHash: string; now: number }): User;
  getUserByName(name: string): User | undefined;
  getUser(id: number): User | undefined;
  listUsers(): User[];
  countAdmins(): number;
  createSession(tokenHash: string, userId: number, now: number, expiresAt: number): void;
  getSession(tokenHash: string): { userId: number; expiresAt: number } | undefined;
  deleteSession(tokenHash: string): void;
  /** Ends every session of a user except `keep` (a token hash); returns how many ended. */
  deleteUserSessions(userId: number, keep?: string): number;
  deleteExpiredSessions(now: number): number;
  /** Changes a user's role, disabled flag or password hash. */
  updateUser(id: number, change: { role?: Role; disabled?: boolean; passwordHash?: string }): void;
  createSetupToken(tokenHash: string, expiresAt: number): void;
  /** True once per valid, unexpired token; the token is gone afterwards. */
  consumeSetupToken(tokenHash: string, now: number): boolean;

  // upload sessions
  createUpload(upload: UploadRecord): void;
  getUpload(id: string): UploadRecord | undefined;
  /** Open uploads of this user for this path and size, most recently active first (resume candidates). */
  findUploads(userId: number, path: string, size: number): UploadRecord[];
  /**
   * Replaces an upload's chunk list (it grew, or its tail changed). Held chunks at
   * `dropHeldFrom` and after are forgotten (their content changed).
   */
  setUploadChunks(id: string, chunks: ChunkRef[], contentHash: string, dropHeldFrom?: number): void;
  /** Records that chunks of an upload are stored (acknowledged or already held). */
  markChunksHeld(uploadId: string, chunks: { index: number; hash: string }[], now: number): void;
  heldChunks(uploadId: string): Set<number>;
  deleteUpload(id: string): void;
  /** Uploads not touched since `before`. */
  staleUploads(before: number): UploadRecord[];
  /** Which of `hashes` this user already stored (in their versions or open uploads). Never looks at other users. */
  userChunks(userId: number, hashes: string[]): Set<string>;

  // files and versions
  /** Atomically adds a version according to the conflict policy. Throws PATH_CONFLICT or IS_FOLDER. */
  commitVersion(input: CommitInput): { path: string; version: number; removed: number };
  listFolder(folder: string): (FileEntry | FolderEntry)[];
  /** True when some file lives under `folder/`. */
  isFolder(path: string): boolean;
  listVersions(path: string): VersionRecord[];
  /** One version (the current one when `version` is undefined) with its chunk list. */
  getVersion(path: string, version?: number): (VersionRecord & { chunks: ChunkRef[] }) | undefined;
  /** Makes a copy of `version` the new current version. */
  restoreVersion(path: string, version: number, userId: number, now: number): { version: number };
  /** Deletes one version, or the whole file with every version when `version` is undefined. */
  deleteVersions(path: string, version?: number): number;
  /** Applies the retention policy to one file, or to all files when `path` is undefined. */
  applyRetention(policy: RetentionPolicy, now: number, path?: string): number;
  /** The plain SHA-256 of some version with this content hash, if any (same chunks ⇒ same bytes). */
  sha256ForContent(contentHash: string): string | undefined;
  /** Every chunk hash a version or an open upload references. */
  referencedChunks(): Set<string>;
  /** True when a version or an open upload references this chunk. */
  isChunkReferenced(hash: string): boolean;
  /** Logical bytes of all versions (before dedup). */
  logicalBytes(): number;
  /** How many files, versions and users there are. */
  counts(): { files: number; versions: number; users: number };

  // share links
  createLink(link: Omit<ShareLink, 'downloads' | 'revokedAt' | 'owner'>): void;
  getLink(id: string): ShareLink | undefined;
  /** Links of one owner, or everyone's when `ownerId` is undefined; newest first. */
  listLinks(ownerId?: number): ShareLink[];
  revokeLink(id: string, now: number): boolean;
  /**
   * Counts a download by `client` unless that client started one within the grant
   * period (a resumed download counts once). `allowed` is false once the limit is reached.
   */
  countDownload(id: string, client: string, now: number, grantMs: number): { counted: boolean; allowed: boolean };

  close(): void;
}
