/**
 * A pool of hash workers (comlink). Each worker reads its own slice of the File, so
 * no bytes cross threads; the pool hashes as many chunks at once as it has workers.
 */
import * as Comlink from 'comlink';
import { chunkFeed, type ChunkFeed } from '../../../relay/client';
import type { HashWorkerApi, HasherKind } from './hash.worker';

export class HashPool {
  private readonly workers: Comlink.Remote<HashWorkerApi>[];
  private next = 0;

  /**
   * One worker hashes faster than a network link uploads; a second helps on devices
   * with cores to spare, and more would only take CPU from sending.
   */
  constructor(size = Math.max(1, Math.min(2, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1))) {
    this.workers = Array.from({ length: size }, () =>
      Comlink.wrap<HashWorkerApi>(new Worker(new URL('./hash.worker.ts', import.meta.url), { type: 'module' })),
    );
  }

  /** The hasher the workers use by default here. */
  available(): Promise<HasherKind> {
    return this.workers[0].available();
  }

  /** Hashes bytes already read, moving the buffer to a worker and back (no copy). */
  async hashBuffer(data: Uint8Array, kind?: HasherKind): Promise<{ sha256: string; data: Uint8Array }> {
    const buffer = data.buffer as ArrayBuffer;
    const worker = this.workers[this.next++ % this.workers.length];
    const r = await worker.hashBuffer(Comlink.transfer(buffer, [buffer]), data.byteOffset, data.byteLength, kind);
    return { sha256: r.sha256, data: new Uint8Array(r.buffer, data.byteOffset, data.byteLength) };
  }

  /** The SHA-256 of a whole file, read and hashed in order by one worker (off the caller's thread). */
  wholeSha256(file: Blob): Promise<string> {
    return this.workers[this.next++ % this.workers.length].wholeSha256(file);
  }

  /** Starts hashing a file; the feed grows as chunks are hashed (in order). */
  feed(file: Blob, opts: { kind?: HasherKind; limit?: number; signal?: AbortSignal; onHashed?: (bytes: number) => void } = {}): ChunkFeed {
    const size = opts.limit === undefined ? file.size : Math.min(file.size, opts.limit);
    return chunkFeed(
      size,
      (offset, length) => this.workers[this.next++ % this.workers.length].hashSlice(file, offset, length, opts.kind),
      { concurrency: this.workers.length, signal: opts.signal, onHashed: opts.onHashed },
    );
  }
}
