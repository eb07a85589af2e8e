/**
 * The CLI's hash pool: worker threads that each read their own ranges of a file and
 * hash them with Node's SHA-256, so no chunk bytes cross threads and both cores hash.
 * (The web app's pool does the same with Web Workers and File slices.)
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
let buf = Buffer.alloc(0);
parentPort.on('message', ({ seq, file, offset, length }) => {
  try {
    if (buf.length < length) buf = Buffer.allocUnsafe(length);
    const fd = openSync(file, 'r');
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } finally { closeSync(fd); }
    if (got !== length) throw new Error('file shorter than expected');
    parentPort.postMessage({ seq, sha256: createHash('sha256').update(buf.subarray(0, length)).digest('hex') });
  } catch (err) {
    parentPort.postMessage({ seq, error: String(err && err.message || err) });
  }
});
`;

export class NodeHashPool {
  private readonly workers: Worker[];
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (h: string) => void; reject: (e: Error) => void }>();

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.on('message', (m: { seq: number; sha256?: string; error?: string }) => {
        const p = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        if (m.error) p?.reject(new Error(m.error));
        else p?.resolve(m.sha256!);
      });
      return w;
    });
  }

  /** Number of worker threads (hash this many chunks at once). */
  get size(): number {
    return this.workers.length;
  }

  /** SHA-256 of a byte range of a file, read and hashed by the next worker. */
  hashRange(file: string, offset: number, length: number): Promise<string> {
    const worker = this.workers[this.seq % this.workers.length];
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ seq, file, offset, length });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
