/** Types shared by the engine worker and the page (no runtime code). */
import type { ShareLinkInfo } from '../../../relay/protocol/messages';
import type { ChunkRef, ConflictPolicy, LibraryEvent, ReplyBody, RequestBody, RequestType, UserInfo } from '../../../relay/protocol';
import type { ConnectionState, UploadPhase } from '../../../relay/client';
import type { HasherKind } from './hash.worker';
import type { SyncMode, SyncStatus } from '../../../relay/sync/engine';

export type { HasherKind };

/** Events the engine worker sends to the page (versioned names keep old listeners honest). */
export type EngineEvent =
  | { type: 'connection.v1'; state: ConnectionState; detail?: string }
  | { type: 'upload.progress.v1'; id: string; phase: UploadPhase; hashed: number; done: number; total: number }
  | { type: 'upload.session.v1'; id: string; upload: string }
  /**
   * Hashing reached a point worth a checkpoint: the first chunk (which identifies the
   * file when it is picked again), and later the whole chunk list.
   */
  | { type: 'upload.hashed.v1'; id: string; firstChunk: string; chunks?: ChunkRef[] }
  | { type: 'download.progress.v1'; id: string; done: number; total: number }
  | { type: 'log.v1'; level: 'info' | 'warn' | 'error'; message: string; data?: Record<string, unknown> }
  /** Something changed in the library (any user, any client). */
  | { type: 'library.v1'; event: LibraryEvent }
  /** A relay log line (admins who subscribed). */
  | { type: 'relay.log.v1'; line: Record<string, unknown> }
  /** One of my share links changed (a download counted, revoked). */
  | { type: 'link.v1'; link: ShareLinkInfo }
  /** My spaces, or my access in one, changed. */
  | { type: 'spaces.v1' }
  /** A synced folder's state (after every round, and every second during one); `error` when it stopped. */
  | { type: 'sync.v1'; id: string; status: SyncStatus; error?: { code: string; message: string } };

/** A folder on this computer to keep in sync (see web/src/state/sync.svelte.ts). */
export interface SyncPairRequest {
  id: string;
  handle: FileSystemDirectoryHandle;
  space: number;
  remote: string;
  mode: SyncMode;
  /** This device's name, shown in conflict copies. */
  device: string;
  /** Which names the computer's file system can hold (see SyncOptions.names). */
  names: 'posix' | 'windows' | 'macos';
}

export interface UploadRequest {
  id: string;
  file: File;
  /** Destination space; absent: My files. */
  space?: number;
  path: string;
  conflict: ConflictPolicy;
  /** Chunk list from a checkpoint: skips hashing, or the part of it already hashed when it does not cover the file. */
  chunks?: ChunkRef[];
  hasher?: HasherKind;
  /** The relay's session id from a checkpoint: that session is resumed if it is still open. */
  resume?: string;
}

export interface UploadOutcome {
  space: number;
  path: string;
  version: number;
  size: number;
  contentHash: string;
  sha256: string;
  chunks: ChunkRef[];
  sentBytes: number;
  /** The content was the file's current version already: no version was added. */
  unchanged: boolean;
  sentChunks: number;
  heldChunks: number;
}

export interface EngineApi {
  setListener(listener: (e: EngineEvent) => void): void;
  connect(url: string, token?: string): Promise<UserInfo | undefined>;
  login(user: string, password: string, device?: string): Promise<{ token: string; user: UserInfo; expiresAt: number; device: string }>;
  /** Signs in with a one-time code from another device's QR code. */
  loginWithCode(code: string, device?: string): Promise<{ token: string; user: UserInfo; expiresAt: number; device: string }>;
  logout(): Promise<void>;
  request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<ReplyBody<T>>;
  /** Chunk list of a file, or of its first `limit` bytes. */
  hash(file: Blob, opts?: { kind?: HasherKind; limit?: number }): Promise<ChunkRef[]>;
  hasherKind(): Promise<HasherKind>;
  upload(req: UploadRequest): Promise<UploadOutcome>;
  /** Stops an upload or download; it can be started again and resumes. */
  stop(id: string): void;
  /**
   * Downloads into this device's storage (OPFS), resuming from what an earlier attempt
   * with the same id verified. Resolves when the file is complete and verified.
   */
  downloadToDevice(id: string, space: number | undefined, path: string, version: number): Promise<{ sha256: string; version: number; fetchedBytes: number; keptChunks: number }>;
  /** Starts keeping a folder in sync (the same engine as `ferry sync`) until `syncStop` or sign-out. */
  syncStart(pair: SyncPairRequest): Promise<void>;
  syncStop(id: string): void;
  /** A paused pair goes on: the deletes the breaker held back are made. */
  syncResume(id: string): Promise<void>;
  /** A round now. */
  syncNow(id: string): void;

  // End-to-end encryption (docs/encryption.md). The account key stays in this worker.
  /** Whether I have keys, whether they are unlocked here, and their fingerprint. */
  e2eState(): Promise<E2eState>;
  /** Makes my keys; answers the recovery key (shown once) and unlocks them here for this session. */
  e2eSetup(passphrase: string): Promise<{ recoveryKey: string; fingerprint: string }>;
  /** Unlocks with the passphrase (or the recovery key); `keep`: until the page closes, or until sign-out. */
  e2eUnlock(secret: string, opts: { recovery?: boolean; keep: 'session' | 'signout' }): Promise<void>;
  e2eLock(): Promise<void>;
  /** The names (last segments) of entries of an encrypted folder, opened; null for one that does not open. */
  e2eOpenNames(space: number | undefined, folder: string, names: string[]): Promise<(string | null)[]>;
  /** A path relative to `folder` as the relay stores it (sealed when `folder` is in an encrypted folder). */
  e2eSealPath(space: number | undefined, folder: string, rel: string): Promise<string>;
  /** Renames or moves an item within an encrypted folder (paths as the relay stores them); a renamed file's versions are sealed again under its new name. */
  e2eMove(space: number | undefined, from: string, to: string): Promise<void>;
  /** Makes an empty end-to-end encrypted folder. */
  e2eMkdir(space: number | undefined, path: string): Promise<void>;
  /** The file name and fragment (`k=…`) of my encrypted links, opened with my key; null for one that does not open (or while locked). */
  e2eOpenLinks(links: { copyId: string; key: string; sealed: string }[]): Promise<({ name: string; fragment: string } | null)[]>;
  /**
   * An encrypted link to a file of an encrypted folder (`path` as the relay stores it): the
   * file is downloaded and opened here, sealed again under a new link key, sent to my space
   * of link copies, and linked. Answers the link and its fragment (`k=…`, the key).
   */
  e2eLinkCreate(id: string, space: number | undefined, path: string, opts: { version?: number; expiresInMs?: number; maxDownloads?: number; password?: string; message?: string }): Promise<{ link: ShareLinkInfo; name: string; fragment: string }>;
  /** Who holds (or may get) the key of the encrypted folder `folder` is in, with their public keys' fingerprints as the relay gives them and as this browser pinned them. */
  e2ePeople(space: number | undefined, folder: string): Promise<E2ePerson[]>;
  /** The fingerprints pinned on this browser for others. */
  e2ePins(): Promise<{ user: string; fingerprint: string }[]>;
  /** Pins `fingerprint` for `user` (after the person compared it with them); undefined forgets the pin. */
  e2eTrust(user: string, fingerprint: string | undefined): Promise<void>;
}

/** A person of an encrypted folder, as `e2ePeople` answers. */
export interface E2ePerson {
  user: string;
  /** The signed-in person. */
  me: boolean;
  /** A member of the shared folder now (others once held a key of it). */
  member: boolean;
  /** Of the public key the relay gives now; absent when they have no keys. */
  fingerprint?: string;
  /** Pinned on this browser when first seen (absent: not seen before; never for me). */
  pinned?: string;
  /** The key epochs of the folder they hold. */
  epochs: number[];
}

export interface E2eState {
  /** WebCrypto is there (a secure context). */
  available: boolean;
  keys: boolean;
  unlocked: boolean;
  fingerprint?: string;
}
