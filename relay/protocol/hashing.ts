/**
 * Hash facts shared by every side: hex encoding, the content hash, the chunk plan.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { CHUNK_SIZE } from './constants.js';
import { FerryError } from './errors.js';
import type { ChunkRef } from './messages.js';

export { bytesToHex, hexToBytes };

/**
 * The file's content hash: SHA-256 of the concatenated binary SHA-256 digests of
 * its chunks, in order (with 4 MiB chunks this is Dropbox's `content_hash`).
 */
export function contentHash(chunks: readonly { sha256: string }[]): string {
  const all = new Uint8Array(chunks.length * 32);
  chunks.forEach((c, i) => all.set(hexToBytes(c.sha256), i * 32));
  return bytesToHex(sha256(all));
}

/** Offsets and lengths of the reference chunker's chunks for a file of `size` bytes. */
export function planChunks(size: number, chunkSize = CHUNK_SIZE): { offset: number; length: number }[] {
  const plan: { offset: number; length: number }[] = [];
  for (let offset = 0; offset < size; offset += chunkSize) plan.push({ offset, length: Math.min(chunkSize, size - offset) });
  return plan;
}

/**
 * Checks that chunks continue a list at byte `start`: contiguous, in order, none
 * empty, ending at or before `size`. Returns the byte where they end. Throws
 * BAD_CHUNK_LIST or SIZE_MISMATCH.
 */
export function checkChunkRun(size: number, chunks: readonly ChunkRef[], start = 0, firstIndex = 0): number {
  let expected = start;
  for (const [i, c] of chunks.entries()) {
    if (c.length === 0) throw new FerryError('BAD_CHUNK_LIST', `Chunk ${firstIndex + i} is empty.`);
    if (c.offset !== expected) throw new FerryError('BAD_CHUNK_LIST', `Chunk ${firstIndex + i} starts at ${c.offset}, expected ${expected}.`);
    expected += c.length;
  }
  if (expected > size) throw new FerryError('SIZE_MISMATCH', `Chunks add up to ${expected} bytes, the file is declared as ${size}.`);
  return expected;
}

/**
 * Checks that a chunk list tiles [0, size) exactly: contiguous, in order, no empty
 * chunks. Throws SIZE_MISMATCH or BAD_CHUNK_LIST.
 */
export function checkChunkList(size: number, chunks: readonly ChunkRef[]): void {
  const end = checkChunkRun(size, chunks);
  if (end !== size) throw new FerryError('SIZE_MISMATCH', `Chunks add up to ${end} bytes, the file is declared as ${size}.`);
}

/** Byte where a chunk list ends. */
export function chunkListEnd(chunks: readonly ChunkRef[]): number {
  const last = chunks[chunks.length - 1];
  return last ? last.offset + last.length : 0;
}

/** True when two chunk lists agree wherever both have a chunk. */
export function agreeOnOverlap(a: readonly ChunkRef[], b: readonly ChunkRef[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i].offset !== b[i].offset || a[i].length !== b[i].length || a[i].sha256 !== b[i].sha256) return false;
  return true;
}
