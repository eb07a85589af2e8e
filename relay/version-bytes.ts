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
  for (const c of chunksIn(chunks, start, end)) if (!(await store.has(c.sha256))) return c;
  return undefined;
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
  for (const c of chunksIn(chunks, start, end)) {
    if (closed) break;
    // One open per chunk where the store allows it, not one per piece.
    const reader = store.openChunk ? await store.openChunk(c.sha256) : { read: (o: number, l: number, into?: Uint8Array) => store.getRange(c.sha256, o, l, into), close: async () => {} };
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
    }
  }
  if (!closed) res.end();
}
