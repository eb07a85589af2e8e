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
 * Checks that a chunk list tiles [0, size) exactly: contiguous, in order, no empty
 * chunks. Throws SIZE_MISMATCH or BAD_CHUNK_LIST.
 */
export function checkChunkList(size: number, chunks: readonly ChunkRef[]): void {
  let expected = 0;
  for (const [i, c] of chunks.entries()) {
    if (c.length === 0) throw new FerryError('BAD_CHUNK_LIST', `Chunk ${i} is empty.`);
    if (c.offset !== expected) throw new FerryError('BAD_CHUNK_LIST', `Chunk ${i} starts at ${c.offset}, expected ${expected}.`);
    expected += c.length;
  }
  if (expected !== size) throw new FerryError('SIZE_MISMATCH', `Chunks add up to ${expected} bytes, the file is declared as ${size}.`);
}
