/**
 * A pool of hash workers (comlink). Each worker reads its own slice of the File, so
 * no bytes cross threads; the pool hashes as many chunks at once as it has workers.
 */
import * as Comlink from 'comlink';
import { CHUNK_SIZE, planChunks, type ChunkRef } from '../../../relay/protocol';
import type { HashWorkerApi, HasherKind } from './hash.worker';

export class HashPool {
  private readonly workers: Comlink.Remote<HashWorkerApi>[];

  constructor(size = Math.max(2, Math.min(4, (globalThis.navigator?.hardwareConcurrency ?? 2)))) {
    this.workers = Array.from({ length: size }, () =>
      Comlink.wrap<HashWorkerApi>(new Worker(new URL('./hash.worker.ts', import.meta.url), { type: 'module' })),
    );
  }

  /** The hasher the workers use by default here. */
  available(): Promise<HasherKind> {
    return this.workers[0].available();
  }

  /** The chunk list of a file (offset, length, SHA-256 of each chunk). */
  async hashFile(
    file: Blob,
    opts: { kind?: HasherKind; chunkSize?: number; limit?: number; signal?: AbortSignal; onHashed?: (bytes: number) => void } = {},
  ): Promise<ChunkRef[]> {
    let plan = planChunks(file.size, opts.chunkSize ?? CHUNK_SIZE);
    if (opts.limit !== undefined) plan = plan.slice(0, opts.limit);
    const out: ChunkRef[] = new Array(plan.length);
    let next = 0;
    let hashed = 0;
    await Promise.all(
      this.workers.map(async (w) => {
        while (next < plan.length) {
          opts.signal?.throwIfAborted();
          const i = next++;
          const { offset, length } = plan[i];
          out[i] = { offset, length, sha256: await w.hashSlice(file, offset, length, opts.kind) };
          hashed += length;
          opts.onHashed?.(hashed);
        }
      }),
    );
    return out;
  }
}
