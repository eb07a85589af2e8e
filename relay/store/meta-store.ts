/**
 * Metadata of the relay: users, sessions, spaces and their members, upload sessions,
 * files, folders, versions and the trash. Every file lives in one space (a user's My
 * files, or a shared folder); paths are unique among a space's live (untrashed) entries.
 * The relay depends on this interface only; `tests/contract/meta-store.contract.ts`
 * is the suite every backend must pass.
 */
import type { ChunkRef, ConflictPolicy, LibraryEvent, Role } from '../protocol/index.js';
import type { AttemptLog } from '../auth/throttle.js';

/** A change to the library as the change log keeps it (an event without its position and time). */
export type LibraryChange = Omit<LibraryEvent, 'epoch' | 'seq' | 'at'>;

/** A change with its position in the change log and when it was made. */
export type ChangeRecord = LibraryChange & { seq: number; at: number };

export interface User {
  id: number;
  name: string;
  role: Role;
  passwordHash: string;
  disabled: boolean;
  createdAt: number;
}

/** What a member may do in a shared folder: `view` (list, download, share) or `edit` (also change). */
export type Access = 'view' | 'edit';

/**
 * A space: a user's private My files (`home`, one per user, named after its owner) or a
 * shared folder (`shared`, with members).
 */
export interface Space {
  id: number;
  /** `links`: a person's hidden space of the sealed copies their encrypted links hand out. */
  kind: 'home' | 'shared' | 'links';
  name: string;
  /** The owner of a home space. */
  ownerId?: number;
  createdAt: number;
}

/** Something in the trash: a file or a folder with everything that was in it. */
export interface TrashItem {
  id: number;
  spaceId: number;
  /** Where it was when it was trashed (and where a restore puts it back when that is free). */
  path: string;
  kind: 'file' | 'folder';
  trashedAt: number;
  trashedBy: string;
  /** Files in it (1 for a file) and the bytes of all their versions. */
  files: number;
  bytes: number;
}

/** A name search hit. */
export interface SearchHit {
  spaceId: number;
  kind: 'file' | 'folder';
  path: string;
  name: string;
  size?: number;
  modifiedAt?: number;
}

export interface UploadRecord {
  id: string;
  userId: number;
  /** The space the file is committed to. */
  spaceId: number;
  /**
   * The upload leg (one connection's attempt) that holds the session: only it may list
   * chunks, record held chunks or commit. A resume on another connection takes the
   * session over, which voids the earlier leg.
   */
  leg: string;
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
  spaceId: number;
  path: string;
  version: number;
  size: number;
  mtime: number;
  contentHash: string;
  sha256: string;
  /** True when `sha256` was computed from the stored bytes (or copied from a version whose was). */
  sha256Verified: boolean;
  uploader: string;
  createdAt: number;
  current: boolean;
  /** The device whose write made this version while the file had changed since what that device had (a sync conflict). */
  conflict?: string;
  /** The file was executable (POSIX `+x`) in this version. */
  executable?: boolean;
  /** In an encrypted folder: the version's facts, sealed by the client (the relay cannot read them). */
  sealed?: string;
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

export type TreeEntry = { kind: 'file'; path: string; size: number; mtime: number; version: number; contentHash: string; executable?: boolean; sealed?: string } | { kind: 'folder'; path: string };

export interface CommitInput {
  /**
   * The upload session this commit finishes, and the leg that holds it: the commit is
   * refused with UNKNOWN_UPLOAD unless that session is still open and held by that leg
   * (so one upload commits at most once), and with UPLOAD_CHANGED unless its content
   * hash is `contentHash`. It is removed in the same transaction.
   */
  upload?: { id: string; leg: string };
  userId: number;
  spaceId: number;
  path: string;
  conflict: ConflictPolicy;
  size: number;
  mtime: number;
  contentHash: string;
  sha256: string;
  /** True when `sha256` was computed from the bytes (see VersionRecord). */
  sha256Verified: boolean;
  chunks: ChunkRef[];
  /** Refuse with QUOTA_EXCEEDED when the user's versions would then add up to more bytes than this (0 = no quota). */
  quotaBytes?: number;
  /** When false, `overwrite` drops the replaced versions instead of keeping them in history. */
  keepReplaced: boolean;
  now: number;
  /** Who commits, by name: the new version goes into the change log in the same transaction. */
  by?: string;
  /**
   * Compare-and-swap: the content hash the writer based its change on ('' = it knew no
   * file at the path). When the path's current content is something else (and is not
   * the content being committed), the write is a conflict and loses nothing: it becomes
   * a version of the file marked as coming from `device`, not the current one, and a
   * sibling copy (see `conflictPath`) while the folder holds fewer than
   * MAX_CONFLICT_COPIES of them; if the file is gone (deleted or in the trash), the
   * write brings it back at its path, marked the same way. Without `base`, `conflict`
   * decides as always.
   */
  base?: string;
  /** The writing device's name (for conflict copies and marks). */
  device?: string;
  /** The file is executable (POSIX `+x`); a change of this alone is a new version. */
  executable?: boolean;
  /**
   * The version's facts sealed by the client: required inside an encrypted folder (whose
   * names below it must be encrypted too; E2E_REQUIRED), refused outside (E2E_NOT_ALLOWED).
   * A compare-and-swap conflict there stays in the history (no sibling copy: the relay
   * cannot name one), and the `rename` policy is refused.
   */
  sealed?: string;
}

/** Sibling conflict copies of one file kept at most; later conflicts are in its history only. */
export const MAX_CONFLICT_COPIES = 5;

/** What `commitVersion` did. */
export interface CommitResult {
  /** Where the content is now (a conflict copy's path when `conflict` is 'copy'). */
  path: string;
  version: number;
  removed: number;
  unchanged: boolean;
  /**
   * A compare-and-swap lost: 'copy' — kept in the file's history and at `path`, a sibling;
   * 'history' — kept in the file's history only (too many copies); 'revived' — the file
   * was gone, and is back at its path with this content.
   */
  conflict?: 'copy' | 'history' | 'revived';
  /** With `conflict`: the version the write became in the original file's history. */
  conflictVersion?: number;
}

export interface RetentionPolicy {
  /** Keep at most this many versions per file (the current one always stays); 0 = no limit. */
  keepVersions: number;
  /** Drop non-current versions older than this many days; 0 = keep forever. */
  keepDays: number;
}

/**
 * A share link: a public URL for one file (by its id, so the link follows renames and
 * moves), pinned to a version or following the latest.
 */
export interface ShareLink {
  id: string;
  ownerId: number;
  owner: string;
  fileId: number;
  spaceId: number;
  /** The file's path now. */
  path: string;
  /** True while the file is in the trash (the link serves nothing then). */
  trashed: boolean;
  /** Pinned version; undefined follows the latest. */
  version?: number;
  createdAt: number;
  expiresAt?: number;
  maxDownloads?: number;
  /** Whole downloads served: `servedUnits` / DOWNLOAD_UNITS, rounded down. */
  downloads: number;
  /**
   * Bytes served, in millionths of the file's size (DOWNLOAD_UNITS make one download), so
   * a download counts by what it sent however it is split over requests and resumes.
   */
  servedUnits: number;
  passwordHash?: string;
  /** What the sender wrote to go with the file (shown on the link's page once it is unlocked). */
  message?: string;
  revokedAt?: number;
  /**
   * An encrypted link: its file is a sealed copy in the owner's link space, opened in the
   * visitor's browser with the key in the link's fragment. `key` is that key wrapped for the
   * owner (so their devices can show the whole link again); `sealed`, the copy's sealed facts.
   */
  e2e?: { key: string; sealed: string };
}

/** A device as stored; `id` is the start of its token's hash (names it without revealing it). */
export interface DeviceRow {
  id: string;
  tokenHash: string;
  userId: number;
  user: string;
  name?: string;
  kind?: string;
  createdAt: number;
  lastSeenAt?: number;
  revokedAt?: number;
  /** JSON the device reported: the folders it syncs and their state. */
  sync?: string;
}

/** Characters of a device token's hash that name the device. */
export const DEVICE_ID_LENGTH = 16;

export interface MetaStore {
  // users and sessions
  /** Creates a user and their My files space, in one transaction. */
  createUser(input: { name: string; role: Role; passwordHash: string; now: number }): Promise<User>;
  /**
   * Removes a user with their My files (every file, version and trash item in it), their
   * sessions, devices, memberships, uploads and links. Versions they added to shared
   * folders stay (uploaded by "(deleted user)").
   */
  deleteUser(id: number): Promise<{ files: number; bytes: number }>;
  getUserByName(name: string): Promise<User | undefined>;
  getUser(id: number): Promise<User | undefined>;
  listUsers(): Promise<User[]>;
  countAdmins(): Promise<number>;
  /** `deviceHash`: the device it was opened on (revoking that device ends it). */
  createSession(tokenHash: string, userId: number, now: number, expiresAt: number, deviceHash?: string): Promise<void>;
  /** A session with its user, in one lookup (done before every request and chunk acknowledgement). */
  getSession(tokenHash: string): Promise<{ userId: number; expiresAt: number; user: User; deviceHash?: string } | undefined>;
  deleteSession(tokenHash: string): Promise<void>;
  /** Ends every session of a user except `keep` (a token hash); returns how many ended. */
  deleteUserSessions(userId: number, keep?: string): Promise<number>;
  deleteExpiredSessions(now: number): Promise<number>;
  /**
   * Changes a user's role, disabled flag or password hash (only those given). Throws
   * FORBIDDEN, changing nothing, when no enabled admin would be left.
   */
  updateUser(id: number, change: { role?: Role; disabled?: boolean; passwordHash?: string }): Promise<void>;
  createSetupToken(tokenHash: string, expiresAt: number): Promise<void>;
  /** True once per valid, unexpired token; the token is gone afterwards. */
  consumeSetupToken(tokenHash: string, now: number): Promise<boolean>;
  /** Keeps a one-time sign-in code (its hash) for `userId`; expired codes go. */
  createSigninCode(codeHash: string, userId: number, expiresAt: number, now: number): Promise<void>;
  /** The user of an unexpired code, once: the code is gone afterwards (expired or not). */
  consumeSigninCode(codeHash: string, now: number): Promise<number | undefined>;
  /** Forgets one unused sign-in code of `userId`; false when it was not theirs or is gone. */
  deleteSigninCode(codeHash: string, userId: number): Promise<boolean>;
  /** Forgets a user's unused sign-in codes; returns how many. */
  deleteSigninCodes(userId: number): Promise<number>;

  // spaces and members
  /** A user's My files. */
  homeSpace(userId: number): Promise<Space>;
  getSpace(id: number): Promise<Space | undefined>;
  /** A shared folder by name (case-insensitive). */
  getSharedSpace(name: string): Promise<Space | undefined>;
  /** Creates a shared folder; throws SPACE_EXISTS when the name is taken. */
  createSharedSpace(name: string, now: number): Promise<Space>;
  /** Every shared folder, by name. */
  listSharedSpaces(): Promise<Space[]>;
  /** Deletes a shared folder with everything in it, trash included. */
  deleteSpace(id: number): Promise<void>;
  /** The id of a person's space of encrypted link copies (made the first time). Never listed; only its owner has access. */
  linkSpace(userId: number): Promise<number>;
  /** Copies in link spaces that no live link points at any more. */
  deadLinkCopies(now: number): Promise<{ spaceId: number; path: string }[]>;
  /** Sets a member's access, or removes them with `undefined`. */
  setMember(spaceId: number, userId: number, access: Access | undefined): Promise<void>;
  members(spaceId: number): Promise<{ userId: number; name: string; access: Access }[]>;
  /** What `userId` may do in a space: `edit` for the owner of a home space, a member's access, else undefined. */
  accessOf(userId: number, spaceId: number): Promise<Access | undefined>;
  /** The spaces a user can see (their My files first, then shared folders by name) with their access. */
  spacesOf(userId: number): Promise<(Space & { access: Access })[]>;
  /** Files (live and trashed) and bytes of all their versions in a space. */
  spaceUsage(spaceId: number): Promise<{ files: number; bytes: number; trashBytes: number }>;

  // upload sessions
  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | undefined>;
  /** This user's open uploads, least recently active first: how many and their declared bytes. */
  openUploads(userId: number): Promise<{ id: string; size: number; updatedAt: number }[]>;
  /**
   * Gives the session to `leg` (a resume on a new connection); the leg that held it is
   * void from now on. Undefined when the session is gone.
   */
  claimUpload(id: string, leg: string, now: number): Promise<UploadRecord | undefined>;
  /**
   * Sets the chunks of an upload from index `from` on (it grew, or its tail changed) and
   * its content hash. Held chunks at `dropHeldFrom` and after are forgotten (their
   * content changed). Throws UNKNOWN_UPLOAD unless `leg` holds the session.
   */
  setUploadChunks(id: string, leg: string, from: number, chunks: ChunkRef[], contentHash: string, dropHeldFrom?: number): Promise<void>;
  /** Records that chunks of an upload are stored (acknowledged or already held). Throws UNKNOWN_UPLOAD unless `leg` holds the session. */
  markChunksHeld(uploadId: string, leg: string, chunks: { index: number; hash: string }[], now: number): Promise<void>;
  heldChunks(uploadId: string): Promise<Set<number>>;
  /** Forgets that these chunks of an upload are held (they were found missing), so a resume asks for them again. */
  forgetHeldChunks(uploadId: string, indices: number[]): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  /** Uploads not touched since `before`. */
  staleUploads(before: number): Promise<UploadRecord[]>;
  /** Which of `hashes` this user already stored (in their versions or open uploads). Never looks at other users. */
  userChunks(userId: number, hashes: string[]): Promise<Set<string>>;

  // files and versions
  /**
   * Atomically adds a version according to the conflict policy; content equal to the
   * path's current version adds none (`unchanged`, with that version's number). Throws
   * PATH_CONFLICT or IS_FOLDER.
   */
  commitVersion(input: CommitInput): Promise<CommitResult>;
  /** The live files and folders directly in `folder` of a space. */
  listFolder(spaceId: number, folder: string): Promise<(FileEntry | FolderEntry)[]>;
  /** True when `path` is a live folder of the space: made with `makeFolder`, or some file lives under it. */
  isFolder(spaceId: number, path: string): Promise<boolean>;
  listVersions(spaceId: number, path: string): Promise<VersionRecord[]>;
  /** One version (the current one when `version` is undefined) of a live file, with its chunk list. */
  getVersion(spaceId: number, path: string, version?: number): Promise<(VersionRecord & { chunks: ChunkRef[] }) | undefined>;
  /** The same, by file id; undefined while the file is in the trash. */
  getFileVersion(fileId: number, version?: number): Promise<(VersionRecord & { chunks: ChunkRef[] }) | undefined>;
  /** Makes a copy of `version` the new current version. */
  restoreVersion(spaceId: number, path: string, version: number, userId: number, now: number, quotaBytes?: number, by?: string): Promise<{ version: number }>;
  /** A new version of `to` (an existing file) with the current content of `from`, in the same space. */
  copyContent(spaceId: number, from: string, to: string, userId: number, now: number, quotaBytes?: number, by?: string): Promise<{ version: number }>;
  /** Deletes one version, or the whole file with every version when `version` is undefined. */
  deleteVersions(spaceId: number, path: string, version?: number, by?: string): Promise<number>;
  /** Applies the retention policy to one file, or to all files when `at` is undefined. */
  applyRetention(policy: RetentionPolicy, now: number, at?: { spaceId: number; path: string }): Promise<number>;
  /** Every live file under `folder` of a space (`''`: all of them) with its current version's size and mtime, by path. */
  filesUnder(spaceId: number, folder: string): Promise<{ fileId: number; path: string; size: number; mtime: number }[]>;
  /** Creates an empty folder (and its missing parents); throws PATH_CONFLICT when a file is in the way. */
  /**
   * Live files (with their current version) and folders under `folder` at any depth,
   * paths after `after`, in path order (code points), at most `limit`. Folders are the
   * ones kept as their own (made, or left by a move); the others are in the files' paths.
   */
  tree(spaceId: number, folder: string, after: string | undefined, limit: number): Promise<TreeEntry[]>;
  /**
   * What is at each of `paths` now, as `tree` gives it: a file (its current version), a
   * folder (also one that exists only as part of its files' paths), or nothing (left out).
   * In code point order.
   */
  entriesAt(spaceId: number, paths: string[]): Promise<TreeEntry[]>;

  // End-to-end encryption: the relay keeps what clients sealed and enforces where it goes.
  /** A person's key record (opaque JSON), if they made one. */
  getKeyRecord(userId: number): Promise<string | undefined>;
  /** Stores it; E2E_KEYS_EXIST when one is there and `replace` is false. */
  putKeyRecord(userId: number, record: string, now: number, replace: boolean): Promise<void>;
  /**
   * Makes an empty encrypted folder at `path` (and its parents), with the creator's
   * wrapped key of epoch 1. PATH_CONFLICT when something is there; E2E_NOT_ALLOWED
   * inside another encrypted folder.
   */
  makeEncryptedFolder(spaceId: number, path: string, e2eId: string, userId: number, envelope: string, now: number, by?: string): Promise<void>;
  /** The encrypted folder that is `path` or holds it. */
  encryptionRoot(spaceId: number, path: string): Promise<{ path: string; id: string } | undefined>;
  /** The encrypted folders under `folder` (path → id). */
  encryptedFoldersIn(spaceId: number, folder: string): Promise<Map<string, string>>;
  /** The wrapped keys of an encrypted folder for one person, by epoch, with who wrapped each (none: they did, for themselves). */
  folderKeys(e2eId: string, userId: number): Promise<{ epoch: number; envelope: string; from?: string }[]>;
  /** Who holds a key of which epoch of an encrypted folder. */
  folderKeyHolders(e2eId: string): Promise<{ userId: number; epoch: number }[]>;
  /** Where an encrypted folder is (live). */
  encryptedFolderById(e2eId: string): Promise<{ spaceId: number; path: string } | undefined>;
  /**
   * Keys wrapped by `byUserId` for others (or themselves): of epochs that exist (a grant), or
   * all of epoch `rotateTo`, which must be the next one (a new key after a member left;
   * PATH_CONFLICT when another client made it first). Keys already held stay. Returns how
   * many were added.
   */
  addFolderKeys(e2eId: string, byUserId: number, keys: { userId: number; epoch: number; envelope: string }[], now: number, rotateTo?: number): Promise<number>;
  makeFolder(spaceId: number, path: string, now: number, by?: string): Promise<void>;
  /**
   * Renames or moves a file or a folder (with everything in it) in one transaction; the
   * files keep their ids, versions and links. Throws NOT_FOUND, PATH_CONFLICT (the target
   * exists, or a file is in its way) or BAD_PATH (a folder into itself).
   */
  move(from: { spaceId: number; path: string }, to: { spaceId: number; path: string }, by?: string, reseal?: { version: number; sealed: string }[]): Promise<{ kind: 'file' | 'folder'; files: number }>;
  /** Moves a file or a folder to the trash; throws NOT_FOUND. */
  trash(spaceId: number, path: string, userId: number, now: number, by?: string): Promise<TrashItem>;
  /** A space's trash, newest first. */
  listTrash(spaceId: number): Promise<TrashItem[]>;
  getTrashItem(id: number): Promise<TrashItem | undefined>;
  /**
   * Puts a trash item back with every version: at its old path, or when that is taken at
   * the first free `name_vN`. Returns the path. Throws NOT_FOUND or PATH_CONFLICT (a file
   * now stands where one of its parent folders was).
   */
  untrash(id: number, by?: string): Promise<{ path: string }>;
  /** Deletes trash items for good: one, a space's whole trash, or those trashed before `before`. */
  purgeTrash(which: { id: number } | { spaceId: number } | { before: number }, by?: string): Promise<{ items: number; files: number }>;
  /** Live files and folders whose name contains `text` (case- and width-insensitive), in the given spaces. */
  search(spaceIds: number[], text: string, limit: number): Promise<{ hits: SearchHit[]; truncated: boolean }>;
  /**
   * The plain SHA-256 of some version with this content hash whose SHA-256 was computed
   * from its bytes, if any (same chunks ⇒ same bytes). Unverified ones are never a source.
   */
  sha256ForContent(contentHash: string): Promise<string | undefined>;
  /** Records that a version's SHA-256 was checked against its bytes (a `verify` that passed). */
  markSha256Verified(versionId: number): Promise<void>;
  /** Bytes of every version this user uploaded or restored (what a quota counts). */
  userBytes(userId: number): Promise<number>;
  /** Every chunk hash a version or an open upload references. */
  referencedChunks(): Promise<Set<string>>;
  /** True when any version (in the trash too) has this content hash. */
  hasContent(contentHash: string): Promise<boolean>;
  /** True when a version or an open upload references this chunk. */
  isChunkReferenced(hash: string): Promise<boolean>;
  /**
   * The collector's last word on one chunk: when nothing references it, runs `remove`
   * (which deletes the stored object) before anything can reference it again, and
   * returns true. A reference being recorded at the same moment (`markChunksHeld`, on
   * any relay) waits for `remove` to finish, so the uploader's check before its commit
   * sees the chunk gone; a reference recorded first keeps the chunk.
   */
  collectChunk(hash: string, remove: () => Promise<void>): Promise<boolean>;
  /**
   * Takes (or renews) the lease `name` for `holder` until `now + ttlMs` when it is free,
   * expired or already theirs; returns whether `holder` holds it. One garbage collector
   * per deployment runs under such a lease.
   */
  takeLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>;
  /** Gives a lease back (when `holder` still holds it). */
  dropLease(name: string, holder: string): Promise<void>;
  /** Logical bytes of all versions (before dedup). */
  logicalBytes(): Promise<number>;
  /** How many files, versions and users there are. */
  counts(): Promise<{ files: number; versions: number; users: number }>;

  // share links
  createLink(link: Omit<ShareLink, 'downloads' | 'servedUnits' | 'revokedAt' | 'owner' | 'spaceId' | 'path' | 'trashed' | 'e2e'> & { e2e?: { key: string } }): Promise<void>;
  getLink(id: string): Promise<ShareLink | undefined>;
  /** Links of one owner, or everyone's when `ownerId` is undefined; newest first. */
  listLinks(ownerId?: number): Promise<ShareLink[]>;
  revokeLink(id: string, now: number): Promise<boolean>;
  /**
   * Takes up to `units` of a link's download budget for a response about to be sent (the
   * last response may take the rest of the budget and send more). Refused (`allowed`
   * false) when nothing is left. What is taken counts as served until `refundDownload`
   * gives back what the response did not send, so a crash errs on the owner's side.
   */
  reserveDownload(id: string, units: number): Promise<{ allowed: boolean; taken: number }>;
  refundDownload(id: string, units: number): Promise<void>;

  // devices: a device that signed in before is not held back by others' failed sign-ins
  createDevice(tokenHash: string, userId: number, now: number): Promise<void>;
  /** The user a device token was given to (undefined once revoked). */
  getDevice(tokenHash: string): Promise<{ userId: number } | undefined>;
  /** What a device says about itself, and when it was last heard from. */
  updateDevice(tokenHash: string, change: { name?: string; kind?: string; sync?: string; lastSeenAt: number }): Promise<void>;
  /** A user's devices (all users' when `userId` is undefined), newest first. */
  listDevices(userId: number | undefined): Promise<DeviceRow[]>;
  /**
   * Revokes the device whose id (see DeviceRow) is `id`, of `userId` (any user's when
   * undefined): its sessions end; its token no longer counts as known. The hashes of the
   * sessions ended, undefined when there is no such device.
   */
  revokeDevice(id: string, userId: number | undefined, now: number): Promise<{ userId: number; sessions: string[] } | undefined>;

  // the change log: every change made with a `by` above, in commit order
  /** Changes after position `after`, oldest first, at most `limit`; only those in (or moved out of) `spaceIds` when given. */
  changesSince(after: number, limit: number, spaceIds?: number[]): Promise<ChangeRecord[]>;
  /** The positions of the oldest change kept and of the newest (0 and 0 when there is none). */
  changeBounds(): Promise<{ oldest: number; newest: number }>;
  /** Forgets changes made before `before`, always keeping the newest; returns how many went. */
  pruneChanges(before: number): Promise<number>;
  /**
   * Calls `wake` whenever any process (any relay on this database) appended changes,
   * and after a lost connection came back; resolves to the function that stops it.
   */
  watchChanges(wake: () => void): Promise<() => Promise<void>>;

  /**
   * True when other relays may share this database (PostgreSQL): what only one relay
   * would know (its log lines) is then written here too.
   */
  readonly sharedByRelays: boolean;
  /** Appends log lines of one relay to the log every relay shares, and wakes the others (`watchLog`). */
  appendLogLines(relay: string, lines: { at: number; line: string }[]): Promise<void>;
  /** Shared log lines after position `after`, oldest first, at most `limit`; with no `after`, the newest `limit`. */
  logLines(after: number | undefined, limit: number): Promise<{ seq: number; relay: string; line: string }[]>;
  /** Forgets shared log lines older than `before`; returns how many. */
  pruneLogLines(before: number): Promise<number>;
  /** Calls `wake` whenever a relay appends log lines; resolves to a function that stops. */
  watchLog(wake: () => void): Promise<() => Promise<void>>;
  /**
   * Tells every relay on this database about an event its connections should hear at
   * once (a user disabled, a sign-out, spaces changed): a hint, at most 7,000 bytes, lost
   * when a relay is not listening — what it says is already in the database, where every
   * request checks it. Nothing happens on SQLite (one relay).
   */
  announce(event: string): Promise<void>;
  /** Calls `listener` with every `announce` from any relay on this database; resolves to a function that stops. */
  watchAnnouncements(listener: (event: string) => void): Promise<() => Promise<void>>;

  /** Failed password attempts, counted for the throttle where every relay sees them. */
  readonly attempts: AttemptLog;
  /** Forgets attempts made before `before`; returns how many. */
  pruneAttempts(before: number): Promise<number>;

  /** A value shared by every relay on this database, made once by `make` (a secret, an id). */
  sharedValue(name: string, make: () => string): Promise<string>;

  close(): Promise<void>;
}

/** Units of a share link's download budget that make one whole download. */
export const DOWNLOAD_UNITS = 1_000_000;
