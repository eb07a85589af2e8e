/**
 * The app's IndexedDB (idb): upload checkpoints, the client log ring buffer and the
 * signed-in session. The only module that imports idb. Rule kept everywhere: nothing
 * else is awaited inside a transaction.
 */
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { ChunkRef, ConflictPolicy, UserInfo } from '../../../relay/protocol';

/** An unfinished upload, kept until the relay acknowledged its commit. */
export interface Checkpoint {
  id: string;
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

interface FerryDB extends DBSchema {
  checkpoints: { key: string; value: Checkpoint };
  log: { key: number; value: LogEntry };
  session: { key: 'current'; value: { token: string; user: UserInfo } };
}

/** Most log entries kept; older ones are dropped as new ones arrive. */
export const LOG_LIMIT = 2000;

let dbPromise: Promise<IDBPDatabase<FerryDB>> | undefined;

function db(): Promise<IDBPDatabase<FerryDB>> {
  dbPromise ??= openDB<FerryDB>('ferry', 1, {
    upgrade(d) {
      d.createObjectStore('checkpoints', { keyPath: 'id' });
      d.createObjectStore('log', { keyPath: 'seq', autoIncrement: true });
      d.createObjectStore('session');
    },
  });
  return dbPromise;
}

export async function saveCheckpoint(c: Checkpoint): Promise<void> {
  await (await db()).put('checkpoints', c);
}

export async function deleteCheckpoint(id: string): Promise<void> {
  await (await db()).delete('checkpoints', id);
}

export async function listCheckpoints(): Promise<Checkpoint[]> {
  return (await db()).getAll('checkpoints');
}

export async function appendLog(entry: LogEntry): Promise<void> {
  const d = await db();
  const tx = d.transaction('log', 'readwrite');
  // Both requests are issued before anything is awaited, as IndexedDB wants.
  const added = tx.store.add(entry);
  const counted = tx.store.count();
  const [, count] = await Promise.all([added, counted]);
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
  return (await db()).get('session', 'current');
}

export async function clearSession(): Promise<void> {
  await (await db()).delete('session', 'current');
}
