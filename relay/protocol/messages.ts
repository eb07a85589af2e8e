/**
 * Wire protocol v3: every JSON control message, defined once as a runtime schema.
 * Every path lives in a space (`space`, a space id from `spaces`; absent means the
 * caller's My files).
 * The relay validates what clients send and clients validate what the relay sends
 * with these same schemas; TypeScript types are inferred from them.
 *
 * Requests carry a client-chosen `id` (so no request has a field of its own named
 * `id` or `type`); the relay answers each with exactly one
 * `reply` (same id, `op` echoing the request type) or one `error` (same id).
 * Chunk acknowledgements and refusals are unsolicited and keyed by upload handle.
 */
import { z } from 'zod';
import { ACCESS_LEVELS, CONFLICT_POLICIES, MAX_LINK_EXPIRY_MS, MAX_LINK_MESSAGE, MAX_LIST_CHUNKS, MAX_STAT_PATHS, ROLES } from './constants.js';
import { LONE_SURROGATE } from './paths.js';

const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const requestId = uint;
/** Upload session ids, link ids, device tokens: opaque, short. */
const opaqueId = z.string().max(64);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'lower-case hex SHA-256');
/** A device's name as a person gave it: shown in conflict copies, so no control characters or broken text. */
const deviceName = z.string().min(1).max(64).refine((s) => s.isWellFormed() && !/[\u0000-\u001f\u007f]/.test(s), 'a name without control characters');
/** Paths are checked in depth by `checkPath`; the schema bounds their type and length. */
const pathString = z.string().max(8192);
/** A space id from `spaces`; absent means the caller's My files. */
const spaceId = uint.optional();
const access = z.enum(ACCESS_LEVELS);

/** A space as its member sees it. */
export const SpaceInfo = z.object({
  id: uint,
  /** `home`: the caller's own My files; `shared`: a shared folder. */
  kind: z.enum(['home', 'shared']),
  /** The shared folder's name; for `home`, the owner's user name. */
  name: z.string(),
  access,
});
export type SpaceInfo = z.infer<typeof SpaceInfo>;

/** A shared folder as admins see it. */
export const FolderInfo = z.object({
  id: uint,
  name: z.string(),
  members: z.array(z.object({ user: z.string(), access })),
  files: uint,
  bytes: uint,
  createdAt: uint,
});
export type FolderInfo = z.infer<typeof FolderInfo>;

export const TrashInfo = z.object({
  /** The trash item's id (for `trash.restore` and `trash.purge`). */
  item: uint,
  path: z.string(),
  kind: z.enum(['file', 'folder']),
  trashedAt: uint,
  trashedBy: z.string(),
  files: uint,
  bytes: uint,
});
export type TrashInfo = z.infer<typeof TrashInfo>;

export const ChunkRef = z.object({
  offset: uint,
  /** Bounded by MAX_CHUNK_BYTES in the handler, so the refusal carries CHUNK_TOO_LARGE. */
  length: uint,
  sha256: sha256Hex,
});
export type ChunkRef = z.infer<typeof ChunkRef>;

export const UserInfo = z.object({ name: z.string(), role: z.enum(ROLES) });
export type UserInfo = z.infer<typeof UserInfo>;

/** A share link as clients see it. */
export const ShareLinkInfo = z.object({
  id: z.string(),
  /** Path of the link page on the relay: `/s/<id>`. */
  url: z.string(),
  /** The whole link, when the relay knows its public address (`--public-url`); else clients join `url` to the address they use. */
  href: z.string().optional(),
  /** The file's space and its path now (a link follows its file when it is renamed or moved). */
  space: uint,
  path: z.string(),
  version: uint.optional(),
  owner: z.string(),
  createdAt: uint,
  expiresAt: uint.optional(),
  maxDownloads: uint.optional(),
  downloads: uint,
  protected: z.boolean(),
  message: z.string().optional(),
  revoked: z.boolean(),
  /** The file is in the trash: the link serves nothing until it is restored. */
  trashed: z.boolean(),
  /**
   * An encrypted link (docs/encryption.md): `key` is the link's key wrapped for its owner,
   * `sealed` the sealed facts (name, size, SHA-256) of the copy it hands out.
   */
  e2e: z.object({ key: z.string(), sealed: z.string() }).optional(),
});
export type ShareLinkInfo = z.infer<typeof ShareLinkInfo>;

/** A version's facts sealed by the client in an encrypted folder: `m1.<epoch>.<base64url>` (docs/encryption.md). */
const sealedFacts = z.string().max(4096).regex(/^m1\.\d{1,9}\.[A-Za-z0-9_-]+$/, 'sealed facts (m1.<epoch>.<base64url>)');

/** One file or folder of a `tree` or `stat` reply; a file with its current version's facts. */
export const TreeEntry = z.object({
  kind: z.enum(['file', 'folder']),
  path: z.string(),
  size: uint.optional(),
  mtime: uint.optional(),
  version: uint.optional(),
  contentHash: sha256Hex.optional(),
  /** Files only, present when true: executable (POSIX `+x`). */
  executable: z.boolean().optional(),
  /** Files in an encrypted folder: the current version's sealed facts. */
  sealed: sealedFacts.optional(),
});

// ---------------------------------------------------------------- client → relay

/** Each request: its schema and the schema of its reply. */
/**
 * Something changed in a space. Sent to the signed-in clients that can see the space,
 * from whichever relay made the change. `seq` is the change's position in the library's
 * change log (shared by every relay on one database; it grows, with gaps where changes
 * were in spaces you cannot see); `epoch` names that log. A client that was away asks
 * `changes` for what came after the last `seq` it saw.
 */
export const LibraryEvent = z.object({
  epoch: uint,
  seq: uint,
  kind: z.enum(['file.added', 'version.added', 'version.restored', 'version.deleted', 'file.deleted', 'folder.added', 'moved', 'trashed', 'untrashed', 'purged']),
  /** The space it happened in; only its members (and, for a home space, its owner) are told. */
  space: uint,
  path: z.string(),
  /** `moved`: where it was (in `fromSpace` when that differs from `space`). */
  from: z.string().optional(),
  fromSpace: uint.optional(),
  /** The version added, restored or deleted (absent when a whole file was deleted). */
  version: uint.optional(),
  size: uint.optional(),
  contentHash: z.string().optional(),
  user: z.string(),
  at: uint,
});
export type LibraryEvent = z.infer<typeof LibraryEvent>;

/** A text a device reports about itself: bounded, well formed, no control characters. */
const reportText = (max: number) => z.string().max(max).refine((s) => s.isWellFormed() && !/[\u0000-\u0008\u000b-\u001f\u007f]/.test(s), 'text without control characters');

/** A folder a device keeps in sync, as it reports it (shown in the app's device list). */
export const SyncedFolderInfo = z.object({
  /** The folder on the device, as the device names it. */
  local: reportText(1024),
  space: uint.optional(),
  remote: reportText(8192),
  mode: z.enum(['two-way', 'upload-only', 'download-only']),
  state: z.enum(['up to date', 'syncing', 'paused', 'offline']),
  reason: reportText(2000).optional(),
  lastSyncAt: uint.optional(),
  conflicts: uint,
  /** What the current round still has to move. */
  files: uint.optional(),
  bytes: uint.optional(),
});
export type SyncedFolderInfo = z.infer<typeof SyncedFolderInfo>;

/** A device that signed in: a browser or a CLI (sync client). */
export const DeviceInfo = z.object({
  id: z.string(),
  user: z.string(),
  name: z.string().optional(),
  kind: z.enum(['app', 'cli']).optional(),
  createdAt: uint,
  lastSeenAt: uint.optional(),
  revoked: z.boolean(),
  /** The device this connection is. */
  current: z.boolean(),
  sync: z.array(SyncedFolderInfo),
});
export type DeviceInfo = z.infer<typeof DeviceInfo>;

export const REQUESTS = {
  login: {
    request: z.object({
      user: z.string().min(1).max(128),
      password: z.string().max(1024),
      /**
       * The device token an earlier sign-in of this user on this device returned. A known
       * device is not held back by failed sign-ins from elsewhere (see docs/limits.md).
       */
      device: opaqueId.optional(),
    }),
    reply: z.object({
      token: z.string(),
      user: UserInfo,
      expiresAt: uint,
      /** The device token to keep (across sign-outs) and send with later sign-ins. */
      device: z.string(),
    }),
  },
  /**
   * Signs in with a one-time code from `signin.code` (a QR code shown on a signed-in
   * device) instead of a password; allowed before sign-in. Replies like `login`.
   */
  'login.code': {
    request: z.object({ code: z.string().min(1).max(256), device: opaqueId.optional() }),
    reply: z.object({ token: z.string(), user: UserInfo, expiresAt: uint, device: z.string() }),
  },
  /** A one-time sign-in code for me, good for a few minutes, for another device of mine. */
  'signin.code': {
    request: z.object({}),
    reply: z.object({ code: z.string(), expiresAt: uint }),
  },
  /** Withdraws an unused code of mine before it expires; `cancelled` is false when it was used or gone. */
  'signin.code.cancel': {
    request: z.object({ code: z.string().min(1).max(256) }),
    reply: z.object({ cancelled: z.boolean() }),
  },
  /**
   * This device says who it is and what it syncs (`sync` replaces what it said before);
   * also marks it seen. Replies with its id in `device.list`.
   */
  'device.report': {
    request: z.object({ name: deviceName.optional(), kind: z.enum(['app', 'cli']).optional(), sync: z.array(SyncedFolderInfo).max(100).optional() }),
    reply: z.object({ device: z.string() }),
  },
  /** My devices; every user's with `all` (admins). */
  'device.list': {
    request: z.object({ all: z.boolean().optional() }),
    reply: z.object({ devices: z.array(DeviceInfo) }),
  },
  /** Revokes a device of mine (admins: anyone's): its sessions end at once, on every relay. */
  'device.revoke': {
    request: z.object({ device: z.string().min(1).max(64) }),
    reply: z.object({ endedSessions: uint }),
  },
  auth: {
    request: z.object({ token: z.string().max(256) }),
    reply: z.object({ user: UserInfo, expiresAt: uint }),
  },
  logout: {
    request: z.object({}),
    reply: z.object({}),
  },
  /** Liveness check; allowed before sign-in. */
  ping: {
    request: z.object({}),
    reply: z.object({}),
  },
  /** The spaces I can see: my My files first, then the shared folders I am a member of. */
  spaces: {
    request: z.object({}),
    reply: z.object({ spaces: z.array(SpaceInfo) }),
  },
  /** My key record (docs/encryption.md), when I made one. The relay cannot open it. */
  'e2e.keys': {
    request: z.object({}),
    reply: z.object({ record: z.string().optional() }),
  },
  /**
   * Stores my key record. `replace`: over the one there (a new passphrase); the public
   * key must stay the same, else BAD_MESSAGE. Without it, E2E_KEYS_EXIST when one is there.
   */
  'e2e.keys.put': {
    request: z.object({ record: z.string().min(1).max(4096), replace: z.boolean().default(false) }),
    reply: z.object({}),
  },
  /**
   * Makes an empty end-to-end encrypted folder: `folderId` (16 random bytes, base64url,
   * picked by the client) and the folder key of epoch 1 wrapped for me. Edit access.
   */
  'e2e.mkdir': {
    request: z.object({ space: spaceId, path: pathString, folderId: z.string().regex(/^[A-Za-z0-9_-]{22}$/), envelope: z.string().min(1).max(512).regex(/^[A-Za-z0-9_-]+$/) }),
    reply: z.object({ space: uint, path: z.string() }),
  },
  /**
   * The encrypted folder that `path` is in (or is), and my wrapped keys of it by epoch
   * (`from`: who wrapped it for me; absent: I did, for myself); `root` absent when `path`
   * is in no encrypted folder. In a shared folder also `people`: its members and whoever
   * else holds or gave a key of it, with their public keys (from their key records) and
   * the epochs they hold — what a member's client needs to share the key with members who
   * lack it, and to replace it when one who holds it left.
   */
  'e2e.folder': {
    request: z.object({ space: spaceId, path: pathString }),
    reply: z.object({
      space: uint,
      root: z.string().optional(),
      folderId: z.string().optional(),
      keys: z.array(z.object({ epoch: uint, envelope: z.string(), from: z.string().optional() })),
      people: z.array(z.object({ user: z.string(), member: z.boolean(), publicKey: z.string().optional(), epochs: z.array(uint) })).optional(),
    }),
  },
  /** Keys of an encrypted folder wrapped by me for members who lack them (edit access; each a member). */
  'e2e.grant': {
    request: z.object({ space: spaceId, folderId: z.string().max(64), keys: z.array(z.object({ user: z.string().max(64), epoch: uint, envelope: z.string().min(1).max(512).regex(/^[A-Za-z0-9_-]+$/) })).min(1).max(1000) }),
    reply: z.object({ added: uint }),
  },
  /**
   * A new key for an encrypted folder (the next epoch) after a member who held the current
   * one left, wrapped for every member (edit access). New versions are sealed with it;
   * PATH_CONFLICT when another client made the next epoch first.
   */
  'e2e.rotate': {
    request: z.object({ space: spaceId, folderId: z.string().max(64), epoch: uint, keys: z.array(z.object({ user: z.string().max(64), envelope: z.string().min(1).max(512).regex(/^[A-Za-z0-9_-]+$/) })).min(1).max(1000) }),
    reply: z.object({}),
  },
  'upload.begin': {
    request: z.object({
      space: spaceId,
      path: pathString,
      /** Bounded by MAX_FILE_BYTES in the handler, so the refusal carries FILE_TOO_LARGE. */
      size: uint,
      mtime: uint,
      /** At most MAX_LIST_CHUNKS; list the rest with `upload.extend` (`partial: true`). */
      chunks: z.array(ChunkRef).max(MAX_LIST_CHUNKS),
      conflict: z.enum(CONFLICT_POLICIES).default('version'),
      /**
       * True when `chunks` lists only the start of the file (hashing is still going
       * on); `upload.extend` adds the rest. Sending can start at once.
       */
      partial: z.boolean().default(false),
      /**
       * The session id an earlier `upload.begin` of this same upload returned: the relay
       * continues that session (when its chunk list agrees with this one) and the earlier
       * connection's handle on it becomes void. Without it a new session is opened; chunks
       * this user already stored are still not asked for again.
       */
      resume: opaqueId.optional(),
    }),
    reply: z.object({
      upload: z.string(),
      handle: uint,
      /** Indices of the chunks the relay still needs; everything else it already holds for this user. */
      need: z.array(uint),
    }),
  },
  /** Lists more chunks of a partial upload, continuing at index `from`. */
  'upload.extend': {
    request: z.object({ handle: uint, from: uint, chunks: z.array(ChunkRef).min(1).max(MAX_LIST_CHUNKS) }),
    reply: z.object({ need: z.array(uint) }),
  },
  'upload.commit': {
    request: z.object({
      upload: opaqueId,
      /** Content hash of the chunk list this client listed; the commit is refused (UPLOAD_CHANGED) unless the session's is the same. */
      contentHash: sha256Hex,
      /**
       * Compare-and-swap (sync): the content hash of the version this change is based on,
       * '' when the writer knew no file at the path. If the path's current content is
       * another, the write is a conflict and is kept as one (see `conflict` below) instead
       * of replacing what is there. Equal contents are no change; a base equal to the
       * current content is an ordinary new version.
       */
      base: z.union([sha256Hex, z.literal('')]).optional(),
      /** The writing device's name, shown in conflict copies and marks. */
      device: deviceName.optional(),
      /** The file is executable (POSIX `+x`). A version differing from the current one only in this is still a new version. */
      executable: z.boolean().optional(),
      /** Required inside an encrypted folder, refused outside: the version's facts, sealed by this client. */
      sealed: sealedFacts.optional(),
    }),
    reply: z.object({
      space: uint,
      path: z.string(),
      version: uint,
      size: uint,
      contentHash: sha256Hex,
      sha256: sha256Hex,
      /** The content was the path's current version already: no version was added (`version` is that one). */
      unchanged: z.boolean().default(false),
      /**
       * The `base` was stale. 'copy': kept as version `conflictVersion` in the history of the
       * file at `conflictOf` (not its current one) and as a sibling copy at `path`;
       * 'history': in the history only (the folder has many copies already); 'revived':
       * the file had been deleted, and is back at `path` with this content.
       */
      conflict: z.enum(['copy', 'history', 'revived']).optional(),
      conflictOf: z.string().optional(),
      conflictVersion: uint.optional(),
    }),
  },
  'upload.cancel': {
    request: z.object({ upload: opaqueId }),
    reply: z.object({}),
  },
  list: {
    request: z.object({ space: spaceId, folder: pathString.default('') }),
    reply: z.object({
      space: uint,
      folder: z.string(),
      entries: z.array(
        z.object({
          kind: z.enum(['file', 'folder']),
          name: z.string(),
          path: z.string(),
          /** Files only: the current version's facts. */
          size: uint.optional(),
          mtime: uint.optional(),
          modifiedAt: uint.optional(),
          uploader: z.string().optional(),
          version: uint.optional(),
          versions: uint.optional(),
          contentHash: sha256Hex.optional(),
          sha256: sha256Hex.optional(),
          /** Folders: this folder is end-to-end encrypted (its id). */
          encrypted: z.string().optional(),
        }),
      ),
      /** The listed folder is in (or is) an encrypted folder: that folder's path and id. */
      encrypted: z.object({ root: z.string(), id: z.string() }).optional(),
    }),
  },
  history: {
    request: z.object({ space: spaceId, path: pathString }),
    reply: z.object({
      path: z.string(),
      versions: z.array(
        z.object({
          version: uint,
          size: uint,
          mtime: uint,
          createdAt: uint,
          uploader: z.string(),
          contentHash: sha256Hex,
          sha256: sha256Hex,
          current: z.boolean(),
          /** The device whose write conflicted with another and was kept as this version. */
          conflict: z.string().optional(),
          executable: z.boolean().optional(),
          sealed: sealedFacts.optional(),
        }),
      ),
    }),
  },
  /**
   * Everything under `folder`, files and folders at any depth, in path order (code
   * points), a page at a time: what a sync client compares its folder with. Continue
   * with `after` = the last path of the previous page while `more` is true.
   */
  tree: {
    request: z.object({ space: spaceId, folder: pathString.default(''), after: z.string().max(4096).optional(), limit: uint.min(1).max(5000).optional() }),
    reply: z.object({
      space: uint,
      folder: z.string(),
      entries: z.array(TreeEntry),
      more: z.boolean(),
    }),
  },
  /**
   * What is at each of `paths` now (files with their current version, folders — also one
   * that exists only as part of its files' paths); paths with nothing there are left out.
   * What a sync client looks up for the paths the change log names.
   */
  stat: {
    request: z.object({ space: spaceId, paths: z.array(pathString).min(1).max(MAX_STAT_PATHS) }),
    reply: z.object({ space: uint, entries: z.array(TreeEntry) }),
  },
  'download.begin': {
    request: z.object({ space: spaceId, path: pathString, version: uint.optional() }),
    reply: z.object({
      handle: uint,
      path: z.string(),
      version: uint,
      size: uint,
      mtime: uint,
      contentHash: sha256Hex,
      sha256: sha256Hex,
      chunks: z.array(ChunkRef),
      executable: z.boolean().optional(),
      sealed: sealedFacts.optional(),
    }),
  },
  /** Ask for chunk frames; the relay sends one binary frame per index (no reply message). */
  'download.read': {
    request: z.object({ handle: uint, indices: z.array(uint).min(1).max(256) }),
    reply: z.object({}),
  },
  'download.end': {
    request: z.object({ handle: uint }),
    reply: z.object({}),
  },
  verify: {
    request: z.object({ space: spaceId, path: pathString, version: uint.optional() }),
    reply: z.object({
      path: z.string(),
      version: uint,
      ok: z.boolean(),
      /** Indices of chunks whose stored bytes no longer match their SHA-256 (or are missing). */
      badChunks: z.array(uint),
      sha256: sha256Hex,
      sha256Ok: z.boolean(),
    }),
  },
  restore: {
    request: z.object({ space: spaceId, path: pathString, version: uint }),
    reply: z.object({ path: z.string(), version: uint, restoredFrom: uint }),
  },
  /**
   * Settles a conflict copy (`path`, a name like `report (conflict from laptop 2026-12-01
   * 14.03).pdf`): keep the `original`, keep the `copy` (its content becomes the file's
   * newest version), or keep `both` (the copy gets an ordinary name). What goes is trashed.
   */
  'conflict.resolve': {
    request: z.object({ space: spaceId, path: pathString, keep: z.enum(['original', 'copy', 'both']) }),
    reply: z.object({ path: z.string(), kept: z.array(z.string()) }),
  },
  /** Admins: deletes one version, or a file with every version, for good (everyone else uses `trash`). */
  delete: {
    request: z.object({ space: spaceId, path: pathString, version: uint.optional() }),
    reply: z.object({ path: z.string(), deletedVersions: uint }),
  },
  /** Creates an empty folder (and its missing parents). Needs edit. */
  mkdir: {
    request: z.object({ space: spaceId, path: pathString }),
    reply: z.object({ space: uint, path: z.string() }),
  },
  /**
   * Renames or moves a file or a folder with everything in it, in one step: versions and
   * links follow. `toSpace` moves it to another space (edit needed on both).
   */
  move: {
    request: z.object({
      space: spaceId,
      path: pathString,
      toSpace: spaceId,
      to: pathString,
      /**
       * A file of an encrypted folder given a new name: every version's facts sealed again
       * under it by the client (the relay cannot), applied with the move in one step.
       * Required there (E2E_REQUIRED without it); refused anywhere else.
       */
      reseal: z.array(z.object({ version: uint, sealed: z.string().min(1).max(4096).regex(/^[A-Za-z0-9_.-]+$/) })).max(100_000).optional(),
    }),
    reply: z.object({ space: uint, path: z.string(), kind: z.enum(['file', 'folder']), files: uint }),
  },
  /** Moves a file or a folder to its space's trash. Needs edit. */
  trash: {
    request: z.object({ space: spaceId, path: pathString }),
    reply: z.object({ space: uint, trashed: TrashInfo }),
  },
  /** A space's trash, newest first. */
  'trash.list': {
    request: z.object({ space: spaceId }),
    reply: z.object({ space: uint, items: z.array(TrashInfo), purgeAfterDays: uint }),
  },
  /** Puts a trash item back with every version (at its old path, or `name_vN` when that is taken). Needs edit. */
  'trash.restore': {
    request: z.object({ space: spaceId, item: uint }),
    reply: z.object({ space: uint, path: z.string() }),
  },
  /** Admins: deletes one trash item, or the whole trash of the space, for good. */
  'trash.purge': {
    request: z.object({ space: spaceId, item: uint.optional() }),
    reply: z.object({ space: uint, items: uint, files: uint }),
  },
  /**
   * A URL (`/zip/<ticket>`, plain HTTP, no sign-in: it is the capability) that downloads
   * these files and folders of a space as one zip. It works once, within 5 minutes.
   */
  'zip.ticket': {
    request: z.object({ space: spaceId, paths: z.array(pathString).min(1).max(1000) }),
    reply: z.object({ url: z.string(), name: z.string(), files: uint, bytes: uint }),
  },
  /**
   * A key for `/media/<key>?space=S&path=P[&v=N][&thumb=1]`: the app's thumbnails, and
   * files opened in its viewer (Range works, so video seeks). It works while this
   * session lasts, for `expiresAt` at most; ask again before.
   */
  'media.key': {
    request: z.object({}),
    reply: z.object({ key: z.string(), expiresAt: uint }),
  },
  /**
   * What changed in the spaces I can see after position `since` of the change log (0:
   * from its start), oldest first. `position` is where to continue; `more` says there is
   * more after it. `reset`: changes right after `since` are no longer kept (or `epoch` is
   * not the one `since` came from), so list the folders again. `since` absent: only the
   * current position, to start from.
   */
  changes: {
    request: z.object({ since: uint.optional(), epoch: uint.optional(), limit: uint.min(1).max(1000).optional() }),
    reply: z.object({ epoch: uint, position: uint, events: z.array(LibraryEvent), more: z.boolean(), reset: z.boolean() }),
  },
  /** Files and folders whose name contains `text` (case-insensitive), in one space, or every space I can see when `space` is absent. */
  search: {
    request: z.object({ text: z.string().min(1).max(256), space: spaceId }),
    reply: z.object({
      hits: z.array(
        z.object({ space: uint, kind: z.enum(['file', 'folder']), path: z.string(), name: z.string(), size: uint.optional(), modifiedAt: uint.optional() }),
      ),
      truncated: z.boolean(),
    }),
  },
  /** Admins: every user. */
  'user.list': {
    request: z.object({}),
    reply: z.object({
      users: z.array(
        z.object({
          name: z.string(),
          role: z.enum(ROLES),
          disabled: z.boolean(),
          createdAt: uint,
          /** Bytes of all versions in their My files (trash included); admins see the size, not the files. */
          homeBytes: uint,
          homeFiles: uint,
        }),
      ),
    }),
  },
  /** Admins: removes a user with their My files; what they added to shared folders stays. */
  'user.remove': {
    request: z.object({ name: z.string().min(1).max(64) }),
    reply: z.object({ name: z.string(), files: uint, bytes: uint }),
  },
  /** Admins: every shared folder with its members. */
  'folder.list': {
    request: z.object({}),
    reply: z.object({ folders: z.array(FolderInfo) }),
  },
  /** Admins: creates a shared folder. */
  'folder.create': {
    request: z.object({ name: z.string().min(1).max(64), members: z.array(z.object({ user: z.string().max(64), access })).max(1000).default([]) }),
    reply: FolderInfo,
  },
  /** Admins: adds members, changes their access, or removes them (`access: 'none'`). */
  'folder.members': {
    request: z.object({ folder: uint, set: z.array(z.object({ user: z.string().max(64), access: z.enum([...ACCESS_LEVELS, 'none']) })).min(1).max(1000) }),
    reply: FolderInfo,
  },
  /** Admins: deletes a shared folder with everything in it, for good. */
  'folder.remove': {
    request: z.object({ folder: uint }),
    reply: z.object({ name: z.string(), files: uint }),
  },
  /** Admins: add a user. */
  'user.add': {
    request: z.object({ name: z.string().min(1).max(64), role: z.enum(ROLES), password: z.string().max(1024) }),
    reply: z.object({ name: z.string(), role: z.enum(ROLES) }),
  },
  /** Admins: change a user's role, disable or enable them, or reset their password. Disabling ends their sessions at once. */
  'user.update': {
    request: z.object({ name: z.string().min(1).max(64), role: z.enum(ROLES).optional(), disabled: z.boolean().optional(), password: z.string().max(1024).optional() }),
    reply: z.object({ name: z.string(), role: z.enum(ROLES), disabled: z.boolean() }),
  },
  /** Anyone: change my own password; my other sessions end. */
  'password.change': {
    request: z.object({ current: z.string().max(1024), password: z.string().max(1024) }),
    reply: z.object({ endedSessions: uint }),
  },
  /** Admins: storage used. */
  stats: {
    request: z.object({}),
    reply: z.object({ logicalBytes: uint, storedBytes: uint, chunks: uint, files: uint, versions: uint, users: uint }),
  },
  /**
   * Admins: runs the relay's sweep now (it also runs hourly): drops expired upload
   * sessions, applies retention, empties old trash, deletes unreferenced chunks.
   * `collectorBusy`: another relay's collector was running, so this one deleted none.
   */
  sweep: {
    request: z.object({}),
    reply: z.object({ expiredUploads: uint, prunedVersions: uint, purgedTrash: uint, collectedChunks: uint, collectorBusy: z.boolean() }),
  },
  /** Admins: the last few hundred log lines; then every new line arrives as a `log.line` message. */
  'log.subscribe': {
    request: z.object({}),
    reply: z.object({ lines: z.array(z.record(z.string(), z.unknown())) }),
  },
  'log.unsubscribe': {
    request: z.object({}),
    reply: z.object({}),
  },
  /** Admins: log lines between two times (ms), oldest first, from every kept log file. */
  'log.read': {
    request: z.object({ from: uint, to: uint }),
    reply: z.object({ lines: z.array(z.record(z.string(), z.unknown())), truncated: z.boolean() }),
  },
  /** Creates a share link: `/s/<id>` on the relay, usable without an account. */
  'link.create': {
    request: z.object({
      space: spaceId,
      path: pathString,
      /** Pin a version; absent follows the latest. */
      version: uint.optional(),
      expiresInMs: uint.max(MAX_LINK_EXPIRY_MS).optional(),
      maxDownloads: uint.min(1).optional(),
      password: z.string().min(1).max(1024).optional(),
      /** A note shown with the file on the link's page (after its password, if any). */
      message: z.string().max(MAX_LINK_MESSAGE).refine((s) => !LONE_SURROGATE.test(s), 'a lone surrogate is not text').optional(),
      /**
       * An encrypted link: `path` is a sealed copy in the space `link.space` names, sealed by the
       * client under a new link key; `key` is that key wrapped for the owner's account key.
       */
      e2e: z.object({ key: z.string().min(1).max(1024).regex(/^[A-Za-z0-9_-]+$/, 'base64url') }).optional(),
    }),
    reply: ShareLinkInfo,
  },
  /** The caller's space of encrypted link copies (made the first time): sealed uploads only, never listed among spaces. */
  'link.space': {
    request: z.object({}),
    reply: z.object({ space: uint }),
  },
  /** My links, or everyone's with `all` (admins only). */
  'link.list': {
    request: z.object({ all: z.boolean().default(false) }),
    reply: z.object({ links: z.array(ShareLinkInfo) }),
  },
  'link.revoke': {
    request: z.object({ link: opaqueId }),
    reply: z.object({ link: z.string() }),
  },
} as const;

export type RequestType = keyof typeof REQUESTS;
export type RequestBody<T extends RequestType> = z.input<(typeof REQUESTS)[T]['request']>;
export type ParsedRequest<T extends RequestType> = z.output<(typeof REQUESTS)[T]['request']>;
export type ReplyBody<T extends RequestType> = z.output<(typeof REQUESTS)[T]['reply']>;

/** A request as it travels: `{ type, id, ...body }`. */
export type ClientMessage = { [T in RequestType]: { type: T; id: number } & ParsedRequest<T> }[RequestType];

// ---------------------------------------------------------------- relay → client

export const ReplyMessage = z.object({
  type: z.literal('reply'),
  id: requestId,
  op: z.string(),
  body: z.record(z.string(), z.unknown()),
});

export const ErrorMessage = z.object({
  type: z.literal('error'),
  /** The request this answers; absent for errors about the connection itself. */
  id: requestId.optional(),
  code: z.string(),
  message: z.string(),
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type ErrorMessage = z.infer<typeof ErrorMessage>;

/** A chunk is stored durably and matched its SHA-256. */
export const ChunkAckMessage = z.object({ type: z.literal('chunk.ack'), handle: uint, index: uint });

/** A chunk was refused (e.g. CHUNK_HASH_MISMATCH); the client sends it again. */
export const ChunkRefusedMessage = z.object({
  type: z.literal('chunk.refused'),
  handle: uint,
  index: uint,
  code: z.string(),
  message: z.string(),
});


export const LibraryEventMessage = z.object({ type: z.literal('library.event'), event: LibraryEvent });

/** A relay log line, to admins who subscribed. */
export const LogLineMessage = z.object({ type: z.literal('log.line'), line: z.record(z.string(), z.unknown()) });

/** One of my share links changed (a download counted or given back, revoked): to the owner's connections. */
export const LinkChangedMessage = z.object({ type: z.literal('link.changed'), link: ShareLinkInfo });

/** The spaces I can see, or my access in one, changed (a folder made, removed, members changed): ask `spaces` again. */
export const SpacesChangedMessage = z.object({ type: z.literal('spaces.changed') });

export const RelayMessage = z.discriminatedUnion('type', [
  ReplyMessage,
  ErrorMessage,
  ChunkAckMessage,
  ChunkRefusedMessage,
  LogLineMessage,
  LinkChangedMessage,
  LibraryEventMessage,
  SpacesChangedMessage,
]);
export type RelayMessage = z.infer<typeof RelayMessage>;
