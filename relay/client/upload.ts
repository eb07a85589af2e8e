/**
 * Uploading one file: hash its chunks, tell the relay the chunk list, send the
 * chunks it still needs with a bounded window of unacknowledged chunks, re-send
 * refused ones, commit. Survives reconnects: after a drop it begins again and the
 * relay answers with only the chunks it has not acknowledged yet.
 */
import {
  FerryError,
  MAX_LIST_CHUNKS,
  checkPath,
  contentHash,
  isErrorCode,
  type ChunkRef,
  type ConflictPolicy,
  type ReplyBody,
} from '../protocol/index.js';
import type { FerryClient } from './connection.js';
import { defaultHasher, type Hasher } from './hashers.js';
import { Wakeup } from './wait.js';
import { chunkFeed, completeFeed, type ChunkFeed } from './chunk-feed.js';

/** Where the bytes of the file being uploaded come from. */
export interface FileSource {
  readonly size: number;
  /** Modification time, ms since the epoch. */
  readonly mtime: number;
  /** Reads `length` bytes at `offset`. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * Takes back a buffer from `read` once its chunk was answered, for reuse. Not sooner:
   * a socket may still hold the buffer after `send` returned (browsers do).
   */
  release?(data: Uint8Array): void;
  /** The relay already holds the chunk at `offset`: drop whatever was read ahead for it. */
  notNeeded?(offset: number): void;
}

export type UploadPhase = 'hashing' | 'uploading' | 'committing' | 'done';

export interface UploadProgress {
  phase: UploadPhase;
  /** File size in bytes. */
  total: number;
  /** Bytes hashed so far. */
  hashed: number;
  /** Bytes the relay holds durably for this upload (acknowledged or already held). */
  done: number;
}

export interface UploadOptions {
  /** Destination space (from `spaces`); absent means My files. */
  space?: number;
  /** Destination path in the space. */
  path: string;
  conflict?: ConflictPolicy;
  hasher?: Hasher;
  chunkSize?: number;
  /** A chunk list computed earlier (e.g. from a checkpoint); skips hashing. */
  chunks?: ChunkRef[];
  /** A chunk list being computed (see chunkFeed); sending starts before hashing ends. */
  feed?: ChunkFeed;
  /** Most unacknowledged chunks in flight (default 8). */
  window?: number;
  /** Chunks hashed at once (default 2). */
  hashConcurrency?: number;
  /** Pause sending while the socket buffers more than this many bytes (default 16 MiB). */
  maxBuffered?: number;
  /** Times a refused chunk is re-sent before the upload fails (default 3). */
  maxChunkRetries?: number;
  onProgress?: (p: UploadProgress) => void;
  /** Called with the upload session id as soon as the relay assigned it (for checkpoints). */
  onSession?: (upload: string) => void;
  /** The session id of an earlier attempt at this same upload (from a checkpoint): resumed if the relay still has it. */
  resume?: string;
  /** Compare-and-swap: the content hash this change is based on ('' = no file); see `upload.commit`. */
  base?: string;
  /** This device's name, for conflict copies. */
  device?: string;
  /** The file is executable (POSIX `+x`): kept with the version. */
  executable?: boolean;
  /** In an encrypted folder: the version's sealed facts, made once the content hash of the chunk list is known. */
  seal?: (contentHash: string) => Promise<string>;
  signal?: AbortSignal;
}

export interface UploadStats {
  /** Chunk frames sent, re-sends included. */
  sentChunks: number;
  sentBytes: number;
  /** Chunks the relay already held when a leg began (not sent in that leg). */
  heldChunks: number;
  /** Chunks the relay refused (e.g. hash mismatch) and that were sent again. */
  refusedChunks: number;
  /** Times the upload had to begin again after the connection dropped. */
  reconnects: number;
}

export type UploadResult = ReplyBody<'upload.commit'> & { chunks: ChunkRef[]; stats: UploadStats };

/** Hashes a file's chunks with `hasher` as they are read from `source`. */
export function hashSource(
  source: FileSource,
  opts: { hasher?: Hasher; chunkSize?: number; concurrency?: number; signal?: AbortSignal; onHashed?: (bytes: number) => void } = {},
): ChunkFeed {
  const hasher = opts.hasher ?? defaultHasher();
  return chunkFeed(source.size, async (offset, length) => hasher.sha256(await source.read(offset, length)), opts);
}

/** Computes the whole chunk list of a file: offset, length and SHA-256 of each chunk. */
export function hashFile(source: FileSource, opts: Parameters<typeof hashSource>[1] = {}): Promise<ChunkRef[]> {
  return hashSource(source, opts).done;
}

/**
 * Uploads one file and resolves with the relay's commit answer. Sending starts as
 * soon as the first chunks are hashed: the chunk list is extended while hashing goes on.
 */
export async function uploadFile(client: FerryClient, source: FileSource, opts: UploadOptions): Promise<UploadResult> {
  const path = checkPath(opts.path);
  const progress: UploadProgress = { phase: 'hashing', total: source.size, hashed: 0, done: 0 };
  const report = () => opts.onProgress?.({ ...progress });
  report();
  const feed =
    (opts.chunks && completeFeed(opts.chunks)) ??
    opts.feed ??
    hashSource(source, {
      hasher: opts.hasher,
      chunkSize: opts.chunkSize,
      concurrency: opts.hashConcurrency,
      signal: opts.signal,
      onHashed: (n) => {
        progress.hashed = n;
        report();
      },
    });
  if (opts.chunks) progress.hashed = source.size;
  const stats: UploadStats = { sentChunks: 0, sentBytes: 0, heldChunks: 0, refusedChunks: 0, reconnects: 0 };
  const retries = new Map<number, number>();
  let missingRounds = 0;
  let changedRounds = 0;
  let resume = opts.resume;

  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      // Begin with whatever is hashed; wait for the first chunk of a non-empty file.
      while (feed.chunks.length === 0 && !feed.complete) await feed.changed();
      await client.ready();
      // Long lists go in several messages (the rest with upload.extend).
      const listed = feed.chunks.slice(0, MAX_LIST_CHUNKS);
      const begin = await client.request('upload.begin', {
        space: opts.space,
        path,
        size: source.size,
        mtime: source.mtime,
        chunks: listed,
        conflict: opts.conflict ?? 'version',
        partial: !feed.complete || listed.length < feed.chunks.length,
        resume,
      });
      // A later leg of this same upload (after a dropped connection) continues this session.
      resume = begin.upload;
      opts.onSession?.(begin.upload);
      progress.phase = 'uploading';
      progress.done = 0;
      const countHeld = (from: number, to: number, need: number[]) => {
        const needed = new Set(need);
        for (let i = from; i < to; i++) {
          if (needed.has(i)) continue;
          source.notNeeded?.(feed.chunks[i].offset);
          stats.heldChunks++;
          progress.done += feed.chunks[i].length;
        }
      };
      countHeld(0, listed.length, begin.need);
      report();
      await sendChunks(client, source, feed, begin.handle, listed.length, begin.need, opts, stats, retries, countHeld, (bytes) => {
        progress.done += bytes;
        report();
      });
      progress.phase = 'committing';
      report();
      const expected = contentHash(feed.chunks);
      const sealed = opts.seal ? await opts.seal(expected) : undefined;
      const committed = await client.request('upload.commit', {
        upload: begin.upload,
        contentHash: expected,
        base: opts.base,
        device: opts.device,
        ...(opts.executable ? { executable: true } : {}),
        ...(sealed !== undefined ? { sealed } : {}),
      });
      // What the relay recorded must be what this client listed.
      if (committed.contentHash !== expected || committed.size !== source.size) {
        throw new FerryError('INTEGRITY_FAILED', `The relay recorded content ${committed.contentHash} (${committed.size} bytes); this file is ${expected} (${source.size} bytes).`);
      }
      progress.phase = 'done';
      progress.done = source.size;
      progress.hashed = source.size;
      report();
      return { ...committed, chunks: [...feed.chunks], stats };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const code = (err as FerryError).code;
      if (code === 'CONNECTION_LOST' && client.state !== 'closed') {
        stats.reconnects++;
        continue;
      }
      // The relay lost some chunks between acks and commit (e.g. a damaged disk): send them again.
      if (code === 'CHUNKS_MISSING' && ++missingRounds <= 2) continue;
      // The session went to another connection or is gone: begin a session of our own.
      if ((code === 'UPLOAD_CHANGED' || code === 'UNKNOWN_UPLOAD') && ++changedRounds <= 2) {
        resume = undefined;
        continue;
      }
      throw err;
    }
  }
}

/** Chunks listed per `upload.extend` while hashing is still going on. */
const EXTEND_BATCH = 8;

async function sendChunks(
  client: FerryClient,
  source: FileSource,
  feed: ChunkFeed,
  handle: number,
  listedAtBegin: number,
  need: number[],
  opts: UploadOptions,
  stats: UploadStats,
  retries: Map<number, number>,
  countHeld: (from: number, to: number, need: number[]) => void,
  onAcked: (bytes: number) => void,
): Promise<void> {
  const window = opts.window ?? 8;
  const maxBuffered = opts.maxBuffered ?? 16 * 1024 * 1024;
  const maxRetries = opts.maxChunkRetries ?? 3;
  const generation = client.generation;
  const queue = [...need].sort((a, b) => a - b);
  const inFlight = new Map<number, Uint8Array>();
  const wakeup = new Wakeup();
  let failure: Error | undefined;
  let stopped = false;
  let listing = true;
  // Ends the lister's wait for more hashed chunks when this leg stops: a source that
  // hashes only a bounded distance ahead of sending would otherwise never grow the feed.
  let stopListing!: () => void;
  const listingStopped = new Promise<void>((resolve) => (stopListing = resolve));

  // Lists the rest of the chunks as hashing produces them, a few at a time.
  const extend = async () => {
    let listed = listedAtBegin;
    for (;;) {
      if (stopped) return;
      const available = feed.chunks.length - listed;
      if (available >= EXTEND_BATCH || (available > 0 && feed.complete)) {
        const batch = feed.chunks.slice(listed, listed + 1024);
        const r = await client.request('upload.extend', { handle, from: listed, chunks: batch });
        if (stopped) return;
        countHeld(listed, listed + batch.length, r.need);
        listed += batch.length;
        queue.push(...r.need);
        wakeup.wake();
        continue;
      }
      if (feed.complete) return;
      await Promise.race([feed.changed(), listingStopped]);
    }
  };
  const extending = extend().then(
    () => {
      listing = false;
      wakeup.wake();
    },
    (err) => {
      failure ??= err;
      wakeup.wake();
    },
  );

  const stop = client.onChunkEvents(handle, (ev) => {
    const sent = inFlight.get(ev.index);
    if (!sent) return;
    inFlight.delete(ev.index);
    // Answered means the frame left long ago: its buffer can be reused.
    source.release?.(sent);
    if (ev.type === 'chunk.ack') {
      onAcked(feed.chunks[ev.index].length);
    } else {
      stats.refusedChunks++;
      const n = (retries.get(ev.index) ?? 0) + 1;
      retries.set(ev.index, n);
      if (ev.code === 'CHUNK_HASH_MISMATCH' && n <= maxRetries) queue.unshift(ev.index);
      else if (ev.code === 'CHUNK_HASH_MISMATCH')
        failure = new FerryError('CHUNK_HASH_MISMATCH', `Chunk ${ev.index} was refused ${n} times: did the file change while it was uploading?`, { index: ev.index });
      // The relay's own code and words (STORAGE_FAILED when its disk is full, …).
      else failure = new FerryError(isErrorCode(ev.code) ? ev.code : 'INTERNAL', ev.message, { index: ev.index });
    }
    wakeup.wake();
  });
  try {
    while (listing || queue.length > 0 || inFlight.size > 0) {
      if (failure) throw failure;
      opts.signal?.throwIfAborted();
      if (client.generation !== generation || client.state !== 'open') throw new FerryError('CONNECTION_LOST');
      if (queue.length > 0 && inFlight.size < window && client.bufferedAmount < maxBuffered) {
        const index = queue.shift()!;
        const { offset, length } = feed.chunks[index];
        const data = await source.read(offset, length);
        if (data.byteLength !== length) {
          throw new FerryError('SIZE_MISMATCH', `The file is shorter than when it was hashed (chunk ${index}).`);
        }
        if (client.generation !== generation) throw new FerryError('CONNECTION_LOST');
        inFlight.set(index, data);
        client.sendChunk(handle, index, data);
        stats.sentChunks++;
        stats.sentBytes += length;
        continue;
      }
      await wakeup.wait(inFlight.size < window ? 5 : 100);
    }
    if (failure) throw failure;
  } finally {
    stopped = true;
    stopListing();
    stop();
    await extending;
  }
}
