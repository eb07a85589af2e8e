/**
 * Failures of the disk or the database underneath a store, told apart from bugs: they
 * become STORAGE_FAILED (the request is refused, nothing half-written is kept, the relay
 * goes on serving) instead of INTERNAL.
 */
import { FerryError } from '../protocol/errors.js';

const FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
const BROKEN = new Set(['EIO', 'S3_FAILED', 'EROFS', 'EMFILE', 'ENFILE', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT', 'SQLITE_NOMEM', 'SQLITE_BUSY']);

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : '';
}

/** True when `err` comes from the disk or the database engine, not from the relay's own logic. */
export function isStorageError(err: unknown): boolean {
  const code = codeOf(err);
  return FULL.has(code) || BROKEN.has(code) || code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_FULL');
}

/** True when `err` says the disk (or the quota of the file system) is full. */
export function isDiskFull(err: unknown): boolean {
  return FULL.has(codeOf(err));
}

/**
 * `err` as a FerryError: FerryErrors pass through, storage failures become STORAGE_FAILED
 * with a readable reason; anything else is returned as it is (a bug: INTERNAL).
 */
export function storageError(err: unknown, what = 'The relay could not store the data'): unknown {
  if (err instanceof FerryError || !isStorageError(err)) return err;
  const reason = isDiskFull(err) ? 'the disk is full' : `${codeOf(err)} from the storage`;
  return new FerryError('STORAGE_FAILED', `${what}: ${reason}. Nothing was lost; try again later.`, { cause: codeOf(err) });
}
