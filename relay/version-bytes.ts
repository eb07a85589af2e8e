/**
 * Sends a byte range of a stored version over HTTP, straight from its chunks: two
 * buffers taken in turn, each reused once its write is out, so a response that is not
 * read holds two pieces and a fast one makes no garbage. Share links and the app's
 * media URLs both serve bytes this way.
 */
import type { ServerResponse } from 'node:http';
import { FerryError, type ChunkRef } from './protocol/index.js';
import type { ChunkStore } from './store/chunk-store.js';
import { LINK_READ_BYTES } from './limits.js';

/** The chunks of `chunks` that hold any byte of `start..end` (inclusive). */
export function chunksIn(chunks: ChunkRef[], start: number, end: number): ChunkRef[] {
  return chunks.filter((c) => c.offset <= end && c.offset + c.length > start);
}

/**
 * The first chunk holding bytes `start..end` that is gone from storage, if any: checked
 * before any header is sent, so a damaged file fails its request whole.
 */
export async function missingChunk(store: ChunkStore, chunks: ChunkRef[], start: number, end: number): Promise<ChunkRef | undefined> {
  const wanted = chunksIn(chunks, start, end);
  // Several lookups at once: on S3 each is a request, and a 1 GiB file has 256 chunks.
  const missing: (ChunkRef | undefined)[] = new Array(wanted.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(CHECKS_AT_ONCE, wanted.length) }, async () => {
    while (next < wanted.length) {
      const i = next++;
      if (!(await store.has(wanted[i].sha256))) missing[i] = wanted[i];
    }
  }));
  return missing.find((c) => c !== undefined);
}

/** Chunk lookups `missingChunk` runs at once. */
const CHECKS_AT_ONCE = 16;

/**
 * Chunks opened ahead of the one being sent: on S3 opening is a GET whose first bytes
 * take a round trip, so the next chunk's request is under way while this one streams
 * (an open stream holds only its socket's buffer until it is read).
 */
const OPEN_AHEAD = 2;

type Reader = Awaited<ReturnType<NonNullable<ChunkStore['openChunk']>>>;

function openReader(store: ChunkStore, hash: string): Promise<Reader> {
  return store.openChunk ? store.openChunk(hash) : Promise.resolve({ read: (o: number, l: number, into?: Uint8Array) => store.getRange(hash, o, l, into), close: async () => {} });
}

/**
 * Writes bytes `start..end` of `chunks` to `res` (headers already sent), counting what
 * it wrote in `progress.sent` as it goes (so a caller knows how much went out even when
 * it fails); stops early when the response closes. Throws INTEGRITY_FAILED when a chunk
 * is shorter than its length.
 */
export async function writeRange(store: ChunkStore, res: ServerResponse, chunks: ChunkRef[], start: number, end: number, progress = { sent: 0 }): Promise<void> {
  let closed = res.destroyed;
  const gone = new Promise<void>((resolve) => res.once('close', () => {
    closed = true;
    resolve();
  }));
  const buffers = [Buffer.allocUnsafe(LINK_READ_BYTES), Buffer.allocUnsafe(LINK_READ_BYTES)];
  const flushed: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
  let turn = 0;
  const wanted = chunksIn(chunks, start, end);
  // One open per chunk where the store allows it, not one per piece; OPEN_AHEAD ahead.
  const opening: Promise<Reader>[] = [];
  const openUpTo = (i: number) => {
    while (opening.length <= Math.min(i, wanted.length - 1)) {
      const p = openReader(store, wanted[opening.length].sha256);
      p.catch(() => {}); // awaited when its turn comes; not an unhandled rejection before
      opening.push(p);
    }
  };
  try {
    for (const [i, c] of wanted.entries()) {
      if (closed) break;
      openUpTo(i + OPEN_AHEAD);
      const reader = await opening[i];
      try {
        for (let at = Math.max(start, c.offset); at <= Math.min(end, c.offset + c.length - 1) && !closed; at += LINK_READ_BYTES) {
          await Promise.race([flushed[turn], gone]);
          if (closed) break;
          const piece = await reader.read(at - c.offset, Math.min(LINK_READ_BYTES, end - at + 1, c.offset + c.length - at), buffers[turn]);
          if (piece.byteLength === 0) throw new FerryError('INTEGRITY_FAILED', `Chunk ${c.sha256} is shorter than its length.`);
          progress.sent += piece.byteLength;
          flushed[turn] = new Promise((resolve) => res.write(piece, resolve));
          turn = 1 - turn;
        }
      } finally {
        await reader.close();
        delete opening[i];
      }
    }
  } finally {
    // Chunks opened ahead and not sent (the response closed, or a read failed).
    for (const p of opening) if (p) void p.then((r) => r.close(), () => {});
  }
  if (!closed) res.end();
}
