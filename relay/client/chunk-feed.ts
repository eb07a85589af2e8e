/**
 * A chunk list that grows while the file is being hashed, so an upload can start
 * sending before the last chunk is hashed. Chunks are hashed out of order by a pool
 * and exposed as an in-order prefix.
 */
import { CHUNK_SIZE, planChunks, type ChunkRef } from '../protocol/index.js';

export interface ChunkFeed {
  /** Chunks hashed so far, in order from offset 0 (grows; never changes what it holds). */
  readonly chunks: readonly ChunkRef[];
  /** True once `chunks` covers the whole file. */
  readonly complete: boolean;
  /** Resolves when `chunks` grew or completed; rejects if hashing failed. */
  changed(): Promise<void>;
  /** Resolves with the whole list once hashing finished. */
  readonly done: Promise<ChunkRef[]>;
}

/** A feed that is already complete. */
export function completeFeed(chunks: ChunkRef[]): ChunkFeed {
  return { chunks, complete: true, changed: () => Promise.resolve(), done: Promise.resolve(chunks) };
}

export interface ChunkFeedOptions {
  chunkSize?: number;
  /** Chunks hashed at once (default 2). */
  concurrency?: number;
  signal?: AbortSignal;
  /** Bytes hashed so far, in completion order. */
  onHashed?: (bytes: number) => void;
  /**
   * Chunks hashed earlier (a checkpoint), from offset 0: the feed starts with them and
   * hashes only the rest. Ignored where they do not match this file's chunk plan.
   */
  known?: readonly ChunkRef[];
}

/**
 * Starts hashing a file of `size` bytes with `hashChunk` (which reads and hashes one
 * range, wherever it likes: a worker, WebCrypto, a thread pool).
 */
export function chunkFeed(size: number, hashChunk: (offset: number, length: number) => Promise<string>, opts: ChunkFeedOptions = {}): ChunkFeed {
  const plan = planChunks(size, opts.chunkSize ?? CHUNK_SIZE);
  const results: (ChunkRef | undefined)[] = new Array(plan.length);
  const known = opts.known ?? [];
  const fits = known.length <= plan.length && known.every((c, i) => c.offset === plan[i].offset && c.length === plan[i].length);
  const chunks: ChunkRef[] = fits ? known.map((c) => ({ ...c })) : [];
  let waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown;
  let next = chunks.length;
  let hashed = chunks.reduce((n, c) => n + c.length, 0);

  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const x of w) (failure ? x.reject(failure) : x.resolve());
  };

  const worker = async () => {
    while (next < plan.length && !failure) {
      opts.signal?.throwIfAborted();
      const i = next++;
      const { offset, length } = plan[i];
      results[i] = { offset, length, sha256: await hashChunk(offset, length) };
      hashed += length;
      opts.onHashed?.(hashed);
      let grew = false;
      while (chunks.length < plan.length && results[chunks.length]) {
        chunks.push(results[chunks.length]!);
        results[chunks.length - 1] = undefined;
        grew = true;
      }
      if (grew) notify();
    }
  };

  const done = Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker)).then(
    () => chunks,
    (err) => {
      failure = err;
      notify();
      throw err;
    },
  );
  done.catch(() => {
    /* reported through changed() and done to whoever waits */
  });

  return {
    chunks,
    get complete() {
      return chunks.length === plan.length;
    },
    changed() {
      if (failure) return Promise.reject(failure);
      if (chunks.length === plan.length) return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    done,
  };
}
