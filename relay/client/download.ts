/**
 * Downloading one version: ask for its chunk list, keep what an earlier attempt
 * already wrote and still verifies, fetch the rest with a bounded window, verify
 * every chunk's SHA-256 before writing it, and check the content hash at the end.
 * Survives reconnects like uploads do.
 */
import { FerryError, contentHash, type ChunkRef, type ReplyBody } from '../protocol/index.js';
import type { FerryClient } from './connection.js';
import { defaultHasher, type Hasher } from './hashers.js';
import { Wakeup } from './wait.js';

export type DownloadMeta = ReplyBody<'download.begin'>;

/** Where downloaded bytes go. */
export interface FileSink {
  /** Bytes an earlier attempt left at [offset, offset+length), if any; they are re-verified. */
  readExisting?(offset: number, length: number): Promise<Uint8Array | undefined>;
  /**
   * Instead of `readExisting`: fills the sink with what this device holds already (an
   * earlier attempt's bytes, the same chunks in other files) and answers which chunks it
   * holds, each checked by the sink against its SHA-256. The rest is fetched.
   */
  prefill?(meta: DownloadMeta): Promise<number[]>;
  /** Called once with the version's facts before any write. */
  start?(meta: DownloadMeta): Promise<void>;
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Called once every chunk is written and verified. */
  finish(meta: DownloadMeta): Promise<void>;
}

export interface DownloadProgress {
  total: number;
  /** Verified bytes, including those kept from an earlier attempt. */
  done: number;
}

export interface DownloadOptions {
  /** The file's space (from `spaces`); absent means My files. */
  space?: number;
  path: string;
  version?: number;
  hasher?: Hasher;
  /** Most chunks requested and not yet received (default 8). */
  window?: number;
  /** Times a chunk that fails verification is fetched again (default 2). */
  maxChunkRetries?: number;
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

export interface DownloadStats {
  /** Chunks fetched over the wire (re-fetches included). */
  fetchedChunks: number;
  fetchedBytes: number;
  /** Chunks kept from an earlier attempt. */
  keptChunks: number;
  reconnects: number;
}

export async function downloadFile(
  client: FerryClient,
  sink: FileSink,
  opts: DownloadOptions,
): Promise<{ meta: DownloadMeta; stats: DownloadStats }> {
  const hasher = opts.hasher ?? defaultHasher();
  const stats: DownloadStats = { fetchedChunks: 0, fetchedBytes: 0, keptChunks: 0, reconnects: 0 };
  const verified = new Set<number>();
  const retries = new Map<number, number>();
  let pinned: { version: number; contentHash: string } | undefined;
  let started = false;

  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      await client.ready();
      const meta = await client.request('download.begin', { space: opts.space, path: opts.path, version: pinned?.version ?? opts.version });
      if (pinned && meta.contentHash !== pinned.contentHash) throw new FerryError('NOT_FOUND', 'The version changed while downloading.');
      if (contentHash(meta.chunks) !== meta.contentHash) throw new FerryError('INTEGRITY_FAILED', 'The chunk list does not match the content hash.');
      pinned = { version: meta.version, contentHash: meta.contentHash };
      const progress: DownloadProgress = { total: meta.size, done: 0 };
      if (!started) {
        started = true;
        await sink.start?.(meta);
        if (sink.prefill) {
          for (const i of await sink.prefill(meta)) {
            verified.add(i);
            stats.keptChunks++;
          }
        } else if (sink.readExisting) {
          for (const [i, c] of meta.chunks.entries()) {
            const existing = await sink.readExisting(c.offset, c.length);
            if (existing && existing.byteLength === c.length && (await hasher.sha256(existing)) === c.sha256) {
              verified.add(i);
              stats.keptChunks++;
            }
          }
        }
      }
      for (const i of verified) progress.done += meta.chunks[i].length;
      opts.onProgress?.({ ...progress });
      const todo = meta.chunks.map((_, i) => i).filter((i) => !verified.has(i));
      await fetchChunks(client, sink, meta, todo, verified, retries, hasher, opts, stats, (bytes) => {
        progress.done += bytes;
        opts.onProgress?.({ ...progress });
      });
      client.request('download.end', { handle: meta.handle }).catch(() => {});
      await sink.finish(meta);
      return { meta, stats };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if ((err as FerryError).code === 'CONNECTION_LOST' && client.state !== 'closed') {
        stats.reconnects++;
        continue;
      }
      throw err;
    }
  }
}

async function fetchChunks(
  client: FerryClient,
  sink: FileSink,
  meta: DownloadMeta,
  todo: number[],
  verified: Set<number>,
  retries: Map<number, number>,
  hasher: Hasher,
  opts: DownloadOptions,
  stats: DownloadStats,
  onVerified: (bytes: number) => void,
): Promise<void> {
  const window = opts.window ?? 8;
  const maxRetries = opts.maxChunkRetries ?? 2;
  const generation = client.generation;
  const requested = new Set<number>();
  const wakeup = new Wakeup();
  let failure: Error | undefined;
  // Writes run one after another so a sink never sees overlapping writes.
  let writes = Promise.resolve();

  const check = async (index: number, data: Uint8Array) => {
    const chunk: ChunkRef = meta.chunks[index];
    const ok = data.byteLength === chunk.length && (await hasher.sha256(data)) === chunk.sha256;
    if (!ok) {
      const n = (retries.get(index) ?? 0) + 1;
      retries.set(index, n);
      if (n > maxRetries) throw new FerryError('DOWNLOAD_HASH_MISMATCH', `Chunk ${index} failed verification ${n} times.`, { index });
      todo.unshift(index);
      return;
    }
    writes = writes.then(() => sink.write(chunk.offset, data));
    await writes;
    verified.add(index);
    onVerified(chunk.length);
  };

  const processing = new Set<number>();
  const stop = client.onDownloadFrames(meta.handle, (index, data) => {
    if (!requested.delete(index)) return;
    stats.fetchedChunks++;
    stats.fetchedBytes += data.byteLength;
    processing.add(index);
    // The frame's buffer belongs to us: keep a view, no copy.
    check(index, data)
      .catch((err) => (failure ??= err))
      .finally(() => {
        processing.delete(index);
        wakeup.wake();
      });
  });
  try {
    while (verified.size < meta.chunks.length) {
      if (failure) throw failure;
      opts.signal?.throwIfAborted();
      if (client.generation !== generation || client.state !== 'open') throw new FerryError('CONNECTION_LOST');
      const inFlight = requested.size + processing.size;
      if (todo.length > 0 && inFlight < window) {
        const batch = todo.splice(0, window - inFlight);
        for (const i of batch) requested.add(i);
        client.request('download.read', { handle: meta.handle, indices: batch }).catch((err) => {
          failure ??= err;
          wakeup.wake();
        });
        continue;
      }
      await wakeup.wait(100);
    }
    await writes;
  } finally {
    stop();
  }
}
