/**
 * The app's IndexedDB (idb): upload checkpoints, the client log ring buffer and the
 * signed-in session. The only module that imports idb. Rule kept everywhere: nothing
 * else is awaited inside a transaction.
 */
import { newId } from '../lib/ids';
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { ChunkRef, ConflictPolicy, UserInfo } from '../../../relay/protocol';

/** An unfinished upload, kept until the relay acknowledged its commit. */
export interface Checkpoint {
  id: string;
  /** The space it goes to (absent: My files, and every checkpoint from before spaces). */
  space?: number;
  path: string;
  name: string;
  size: number;
  /** File.lastModified, ms. */
  mtime: number;
  /** SHA-256 of the first chunk ('' for an empty file): with name, size and mtime it identifies the file. */
  firstChunk: string;
  /** The whole chunk list once hashing finished (a resume then skips hashing); empty before. */
  chunks: ChunkRef[];
  conflict: ConflictPolicy;
  /** The relay's upload session, once known. */
  upload?: string;
  addedAt: number;
}

export interface LogEntry {
  seq?: number;
  time: number;
  level: 'info' | 'warn' | 'error';
  message: string;
  data?: Record<string, unknown>;
}

/** A file waiting in this device's storage (OPFS) until the relay is reachable. */
export interface QueuedFile {
  id: string;
  name: string;
  size: number;
  mtime: number;
  /** The space and path it goes to (no space: My files). */
  space?: number;
  path: string;
  conflict: ConflictPolicy;
  /** Name of its copy in the Origin Private File System; absent when it did not fit. */
  opfsName?: string;
  /** Why it is still waiting, when it is not just the connection (e.g. no space). */
  problem?: string;
  addedAt: number;
}

/** A download to this device that has not been handed over yet. */
export interface DownloadCheckpoint {
  id: string;
  space?: number;
  path: string;
  /** Pinned so a resumed download continues the same content. */
  version: number;
  size: number;
  addedAt: number;
  /** The name to save it under, when the path's is not it (an encrypted folder's sealed names). */
  name?: string;
  /** The path as a person reads it, likewise. */
  label?: string;
}

/** A folder on this computer kept in sync with a relay folder (see web/src/sync). */
export interface SyncPairRecord {
  id: string;
  /** The picked folder; the browser keeps its permission across visits where it can. */
  handle: FileSystemDirectoryHandle;
  /** Space id (My files or a shared folder) and folder in it. */
  space: number;
  remote: string;
  mode: 'two-way' | 'upload-only' | 'download-only';
  addedAt: number;
}

/** The last synced state of one path of a pair (SyncStateStore's rows), or a value (`path` = `#name`). */
export interface SyncRow {
  pair: string;
  path: string;
  value: unknown;
}

interface FerryDB extends DBSchema {
  syncPairs: { key: string; value: SyncPairRecord };
  syncRows: { key: [string, string]; value: SyncRow };
  checkpoints: { key: string; value: Checkpoint };
  queue: { key: string; value: QueuedFile };
  downloads: { key: string; value: DownloadCheckpoint };
  log: { key: number; value: LogEntry };
  /** 'current': the signed-in session; `device:<user>`: the device token of that user's sign-ins here (kept after signing out). */
  session: { key: string; value: { token: string; user: UserInfo } | string };
}

/** Most log entries kept; older ones are dropped as new ones arrive. */
export const LOG_LIMIT = 2000;

let dbPromise: Promise<IDBPDatabase<FerryDB>> | undefined;

function db(): Promise<IDBPDatabase<FerryDB>> {
  dbPromise ??= openDB<FerryDB>('ferry', 4, {
    upgrade(d, oldVersion) {
      if (oldVersion < 1) {
        d.createObjectStore('checkpoints', { keyPath: 'id' });
        d.createObjectStore('log', { keyPath: 'seq', autoIncrement: true });
        d.createObjectStore('session');
      }
      if (oldVersion < 2) d.createObjectStore('queue', { keyPath: 'id' });
      if (oldVersion < 3) d.createObjectStore('downloads', { keyPath: 'id' });
      if (oldVersion < 4) {
        d.createObjectStore('syncPairs', { keyPath: 'id' });
        d.createObjectStore('syncRows', { keyPath: ['pair', 'path'] });
      }
    },
  });
  return dbPromise;
}

/**
 * Checkpoint writes wait a moment and go in one transaction, the last write of each
 * upload winning: a thousand small uploads otherwise made thousands of transactions,
 * half of what the page did. Resolves once the write is stored.
 */
const CHECKPOINT_BATCH_MS = 20;
const checkpointWrites = new Map<string, Checkpoint | null>();
let checkpointBatch: Promise<void> | undefined;

function writeCheckpoint(id: string, c: Checkpoint | null): Promise<void> {
  checkpointWrites.set(id, c);
  checkpointBatch ??= new Promise((resolve) => setTimeout(resolve, CHECKPOINT_BATCH_MS)).then(async () => {
    // Writes from now on make the next batch, a transaction opened after this one.
    checkpointBatch = undefined;
    const batch = [...checkpointWrites];
    checkpointWrites.clear();
    const tx = (await db()).transaction('checkpoints', 'readwrite');
    await Promise.all([...batch.map(([key, value]) => (value ? tx.store.put(value) : tx.store.delete(key))), tx.done]);
  });
  return checkpointBatch;
}

export function saveCheckpoint(c: Checkpoint): Promise<void> {
  return writeCheckpoint(c.id, c);
}

export function deleteCheckpoint(id: string): Promise<void> {
  return writeCheckpoint(id, null);
}

export async function listCheckpoints(): Promise<Checkpoint[]> {
  return (await db()).getAll('checkpoints');
}

export async function appendLog(entries: LogEntry[]): Promise<void> {
  const d = await db();
  const tx = d.transaction('log', 'readwrite');
  // Every request is issued before anything is awaited, as IndexedDB wants.
  const added = entries.map((e) => tx.store.add(e));
  const counted = tx.store.count();
  const [count] = await Promise.all([counted, ...added]);
  if (count > LOG_LIMIT) {
    let cursor = await tx.store.openCursor();
    for (let extra = count - LOG_LIMIT; cursor && extra > 0; extra--) {
      await cursor.delete();
      cursor = await cursor.continue();
    }
  }
  await tx.done;
}

export async function readLog(): Promise<LogEntry[]> {
  return (await db()).getAll('log');
}

export async function clearLog(): Promise<void> {
  await (await db()).clear('log');
}

export async function saveSession(s: { token: string; user: UserInfo }): Promise<void> {
  await (await db()).put('session', s, 'current');
}

export async function loadSession(): Promise<{ token: string; user: UserInfo } | undefined> {
  const s = await (await db()).get('session', 'current');
  return typeof s === 'object' ? s : undefined;
}

/** The device token a sign-in of `user` on this browser got (the relay then keeps this device working when others guess). */
export async function loadDevice(user: string): Promise<string | undefined> {
  const d = await (await db()).get('session', `device:${user.toLowerCase()}`);
  return typeof d === 'string' ? d : undefined;
}

export async function saveDevice(user: string, device: string): Promise<void> {
  await (await db()).put('session', device, `device:${user.toLowerCase()}`);
}

export async function clearSession(): Promise<void> {
  await (await db()).delete('session', 'current');
}

/**
 * The account key of `user`'s end-to-end encryption, kept unlocked on this browser until
 * sign-out (only when the person chose that when unlocking; see docs/encryption.md).
 */
export async function loadUnlockedKey(user: string): Promise<string | undefined> {
  const k = await (await db()).get('session', `e2e:${user.toLowerCase()}`);
  return typeof k === 'string' ? k : undefined;
}

/** The public key fingerprint pinned for a person on this browser (encrypted shared folders), and pinning one. */
export async function loadPin(user: string): Promise<string | undefined> {
  const p = await (await db()).get('session', `pin:${user.toLowerCase()}`);
  return typeof p === 'string' ? p : undefined;
}

export async function savePin(user: string, fingerprint: string): Promise<void> {
  await (await db()).put('session', fingerprint, `pin:${user.toLowerCase()}`);
}

/** Every public key fingerprint pinned on this browser, by user name (lower case). */
export async function listPins(): Promise<{ user: string; fingerprint: string }[]> {
  const range = IDBKeyRange.bound('pin:', 'pin:\uffff');
  // One transaction, so the two lists are of the same moment.
  const tx = (await db()).transaction('session');
  const [names, values] = await Promise.all([tx.store.getAllKeys(range), tx.store.getAll(range), tx.done]);
  return names.map((k, i) => ({ user: String(k).slice(4), fingerprint: String(values[i]) }));
}

/** Forgets the key pinned for a person: the next one the relay gives is pinned on first use again. */
export async function forgetPin(user: string): Promise<void> {
  await (await db()).delete('session', `pin:${user.toLowerCase()}`);
}

export async function saveUnlockedKey(user: string, key: string | undefined): Promise<void> {
  if (key === undefined) await (await db()).delete('session', `e2e:${user.toLowerCase()}`);
  else await (await db()).put('session', key, `e2e:${user.toLowerCase()}`);
}

// ---------------------------------------------------------------- offline queue (OPFS)

async function opfsDir(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return root.getDirectoryHandle('queue', { create: true });
}

/**
 * Keeps a file on this device until it can be uploaded: copies it into the Origin
 * Private File System and records it in IndexedDB. A file that does not fit is still
 * recorded, with the problem, so nothing is dropped silently.
 */
export async function enqueueFile(file: File, space: number | undefined, path: string, conflict: ConflictPolicy): Promise<QueuedFile> {
  const entry: QueuedFile = { id: newId(), name: file.name, size: file.size, mtime: file.lastModified, space, path, conflict, addedAt: Date.now() };
  // Not a secure context (plain http on a LAN address): the browser offers no storage to keep it in.
  const { usage = 0, quota = 0 } = navigator.storage ? await navigator.storage.estimate() : {};
  if (!navigator.storage?.getDirectory) {
    entry.problem = `This page is not secure (plain http), so the browser cannot keep a copy of ${file.name}: keep the page open until the relay is back, or open Ferry over https.`;
  } else if (quota && file.size > quota - usage) {
    entry.problem = `Not enough space on this device to keep ${file.name}: ${file.size} bytes needed, ${quota - usage} free.`;
  } else {
    // The estimate is only an estimate: the write itself can still run out of quota.
    const dir = await opfsDir();
    try {
      const writable = await (await dir.getFileHandle(entry.id, { create: true })).createWritable();
      await file.stream().pipeTo(writable);
      entry.opfsName = entry.id;
    } catch (err) {
      await dir.removeEntry(entry.id).catch(() => {});
      const e = err as DOMException;
      entry.problem =
        e?.name === 'QuotaExceededError'
          ? `Not enough space on this device to keep ${file.name} (${file.size} bytes): the browser's storage quota is used up.`
          : `Could not keep a copy of ${file.name} on this device: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
    }
  }
  await (await db()).put('queue', entry);
  return entry;
}

/** Whether an entry is still in the queue (not uploaded and removed by someone else). */
export async function isQueued(id: string): Promise<boolean> {
  return (await (await db()).getKey('queue', id)) !== undefined;
}

export async function listQueue(): Promise<QueuedFile[]> {
  return (await db()).getAll('queue');
}

/** The stored copy of a queued file, with its original name and time. */
export async function queuedFile(entry: QueuedFile): Promise<File | undefined> {
  if (!entry.opfsName) return undefined;
  const stored = await (await (await opfsDir()).getFileHandle(entry.opfsName)).getFile();
  return new File([stored], entry.name, { lastModified: entry.mtime });
}

/** Forgets a queued file and removes its stored copy (after the relay acknowledged the commit). */
export async function dequeue(entry: QueuedFile): Promise<void> {
  if (entry.opfsName) await (await opfsDir()).removeEntry(entry.opfsName).catch(() => {});
  await (await db()).delete('queue', entry.id);
}

/** Names of the copies in the queue folder (for diagnostics and tests). */
export async function storedCopies(): Promise<string[]> {
  const names: string[] = [];
  // keys() is in browsers but not yet in TypeScript's DOM types.
  const dir = (await opfsDir()) as FileSystemDirectoryHandle & { keys(): AsyncIterable<string> };
  for await (const key of dir.keys()) names.push(key);
  return names;
}

// ---------------------------------------------------------------- downloads (OPFS)

export async function saveDownload(d: DownloadCheckpoint): Promise<void> {
  await (await db()).put('downloads', d);
}

export async function listDownloads(): Promise<DownloadCheckpoint[]> {
  return (await db()).getAll('downloads');
}

/** Forgets a download's checkpoint only (its file may still be open). */
export async function dropDownload(id: string): Promise<void> {
  await (await db()).delete('downloads', id);
}

/** Forgets a download; its stored file goes after `keepFileMs` (the browser may still be saving it). */
export async function forgetDownload(id: string, keepFileMs = 0): Promise<void> {
  await (await db()).delete('downloads', id);
  const remove = async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('downloads', { create: true });
    await dir.removeEntry(id).catch(() => {});
  };
  if (keepFileMs) setTimeout(() => void remove(), keepFileMs);
  else await remove();
}

/**
 * Removes stored download files no checkpoint refers to: a download cancelled or
 * finished just before a reload leaves its file behind (the file was still open, or
 * its removal was still waiting).
 */
export async function removeOrphanDownloads(): Promise<void> {
  const known = new Set((await listDownloads()).map((d) => d.id));
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('downloads', { create: true });
  const names: string[] = [];
  for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) if (!known.has(name)) names.push(name);
  for (const name of names) await dir.removeEntry(name).catch(() => {});
}

/** The finished (or partial) downloaded file. */
export async function downloadedFile(id: string): Promise<File> {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('downloads', { create: true });
  return (await dir.getFileHandle(id)).getFile();
}

interface SyncHandle {
  getSize(): number;
  read(buffer: Uint8Array, opts: { at: number }): number;
  write(buffer: Uint8Array, opts: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/**
 * The OPFS file a download writes, as a sink for the engine (dedicated workers only:
 * it uses a synchronous access handle). Bytes an earlier attempt left are offered back
 * for verification, so a reload resumes from the last verified chunk.
 */
export async function downloadSink(id: string) {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('downloads', { create: true });
  const file = await dir.getFileHandle(id, { create: true });
  const handle = (await (file as unknown as { createSyncAccessHandle(): Promise<SyncHandle> }).createSyncAccessHandle());
  return {
    async readExisting(offset: number, length: number): Promise<Uint8Array | undefined> {
      if (handle.getSize() < offset + length) return undefined;
      const buf = new Uint8Array(length);
      return handle.read(buf, { at: offset }) === length ? buf : undefined;
    },
    async write(offset: number, data: Uint8Array): Promise<void> {
      handle.write(data, { at: offset });
    },
    async finish(meta: { size: number }): Promise<void> {
      handle.truncate(meta.size);
      handle.flush();
      handle.close();
    },
    close(): void {
      try {
        handle.close();
      } catch {
        /* already closed */
      }
    },
  };
}

// ------------------------------------------------------------------ folder sync

export async function syncPairs(): Promise<SyncPairRecord[]> {
  return (await db()).getAll('syncPairs');
}

export async function saveSyncPair(p: SyncPairRecord): Promise<void> {
  await (await db()).put('syncPairs', p);
}

/** Forgets a pair and its state (the folders on both sides stay as they are). */
export async function deleteSyncPair(id: string): Promise<void> {
  const d = await db();
  const tx = d.transaction(['syncPairs', 'syncRows'], 'readwrite');
  await Promise.all([tx.objectStore('syncPairs').delete(id), tx.objectStore('syncRows').delete(IDBKeyRange.bound([id], [id, []])), tx.done]);
}

/** Every row of a pair. */
export async function syncRows(pair: string): Promise<SyncRow[]> {
  return (await db()).getAll('syncRows', IDBKeyRange.bound([pair], [pair, []]));
}

export async function syncRow(pair: string, path: string): Promise<SyncRow | undefined> {
  return (await db()).get('syncRows', [pair, path]);
}

export async function putSyncRow(row: SyncRow): Promise<void> {
  await (await db()).put('syncRows', row);
}

export async function deleteSyncRow(pair: string, path: string): Promise<void> {
  await (await db()).delete('syncRows', [pair, path]);
}
