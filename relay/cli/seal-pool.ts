/**
 * Sealing chunks of a local file on worker threads, for uploads into encrypted folders
 * from the CLI: each worker reads its plaintext range itself, seals it exactly as
 * FolderCipher.sealChunk does (nonce = HMAC-SHA-256 of the plaintext, AES-256-GCM) with
 * Node's crypto, hashes the sealed bytes, and hands them back without a copy. Both cores
 * seal, and the event loop only sends.
 *
 * `sealedUpload` turns that into what the upload engine reads: a chunk feed (the sealed
 * chunks' hashes, in order, growing as they are sealed) and a source (the sealed bytes,
 * each sealed once: kept from the feed until sent, or sealed again if they were dropped),
 * with at most a few chunks sealed ahead of sending.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHUNK_SIZE, FerryError, planChunks, type ChunkRef } from '../protocol/index.js';
import { PLAIN_CHUNK, cipherSize } from '../crypto/format.js';
import type { ChunkSealing } from '../crypto/folder.js';
import type { ChunkFeed } from '../client/chunk-feed.js';
import type { FileSource } from '../client/upload.js';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createCipheriv, createHash, createHmac } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
let plain = Buffer.alloc(0);
parentPort.on('message', ({ seq, file, offset, length, chunkKey, macKey, aad }) => {
  try {
    if (plain.length < length) plain = Buffer.allocUnsafe(length);
    const fd = openSync(file, 'r');
    let got = 0;
    try {
      while (got < length) {
        const n = readSync(fd, plain, got, length - got, offset + got);
        if (n === 0) break;
        got += n;
      }
    } finally { closeSync(fd); }
    if (got !== length) throw new Error('file shorter than expected');
    const bytes = plain.subarray(0, length);
    const nonce = createHmac('sha256', Buffer.from(macKey)).update(bytes).digest().subarray(0, 12);
    const c = createCipheriv('aes-256-gcm', Buffer.from(chunkKey), nonce);
    c.setAAD(Buffer.from(aad));
    const out = new Uint8Array(new ArrayBuffer(12 + length + 16));
    out.set(nonce, 0);
    const body = c.update(bytes);
    out.set(body, 12);
    const tail = c.final();
    out.set(tail, 12 + body.length);
    out.set(c.getAuthTag(), 12 + length);
    const sha256 = createHash('sha256').update(out).digest('hex');
    parentPort.postMessage({ seq, sha256, sealed: out.buffer }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ seq, error: String(err && err.message || err) });
  }
});
`;

export class NodeSealPool {
  private readonly workers: Worker[];
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (r: { sha256: string; sealed: Uint8Array }) => void; reject: (e: Error) => void }>();

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.on('message', (m: { seq: number; sha256?: string; sealed?: ArrayBuffer; error?: string }) => {
        const p = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        if (m.error) p?.reject(new Error(m.error));
        else p?.resolve({ sha256: m.sha256!, sealed: new Uint8Array(m.sealed!) });
      });
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** Plaintext bytes [offset, offset + length) of `file`, sealed; with the sealed bytes' SHA-256. */
  seal(file: string, offset: number, length: number, keys: ChunkSealing): Promise<{ sha256: string; sealed: Uint8Array }> {
    const worker = this.workers[this.seq % this.workers.length];
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ seq, file, offset, length, chunkKey: keys.chunkKey, macKey: keys.macKey, aad: keys.aad });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** The feed and source of one upload of `file` (plaintext `size` bytes) into an encrypted folder. */
export function sealedUpload(pool: NodeSealPool, file: string, size: number, mtime: number, keys: ChunkSealing, opts: { ahead?: number; onHashed?: (bytes: number) => void } = {}): { feed: ChunkFeed; source: FileSource } {
  const plan = planChunks(cipherSize(size), CHUNK_SIZE);
  const ahead = opts.ahead ?? 12;
  const sealOne = (i: number) => pool.seal(file, i * PLAIN_CHUNK, plan[i].length - (CHUNK_SIZE - PLAIN_CHUNK), keys);
  /** Sealed bytes waiting to be sent, by chunk index. */
  const held = new Map<number, Uint8Array>();
  const chunks: ChunkRef[] = [];
  const results: (ChunkRef | undefined)[] = new Array(plan.length);
  let next = 0;
  let hashed = 0;
  let failure: unknown;
  let waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  /** Workers waiting for a held chunk to be taken (room to seal ahead again). */
  let room: (() => void)[] = [];
  const notify = () => {
    const w = waiters;
    waiters = [];
    for (const x of w) (failure ? x.reject(failure) : x.resolve());
  };
  const worker = async () => {
    while (next < plan.length && !failure) {
      while (held.size >= ahead) await new Promise<void>((r) => room.push(r));
      // Another worker may have taken the last chunks meanwhile.
      if (next >= plan.length || failure) break;
      const i = next++;
      const { sha256, sealed } = await sealOne(i);
      held.set(i, sealed);
      results[i] = { offset: plan[i].offset, length: plan[i].length, sha256 };
      hashed += plan[i].length;
      opts.onHashed?.(hashed);
      let grew = false;
      while (chunks.length < plan.length && results[chunks.length]) {
        chunks.push(results[chunks.length]!);
        grew = true;
      }
      if (grew || chunks.length === plan.length) notify();
    }
  };
  const take = (i: number) => {
    const b = held.get(i);
    held.delete(i);
    const waiting = room;
    room = [];
    for (const r of waiting) r();
    return b;
  };
  const done = Promise.all(Array.from({ length: pool.size }, () => worker())).then(
    () => {
      notify();
      return chunks as ChunkRef[];
    },
    (err) => {
      failure ??= err;
      notify();
      throw err;
    },
  );
  done.catch(() => {});
  const feed: ChunkFeed = {
    get chunks() {
      return chunks;
    },
    get complete() {
      return chunks.length === plan.length;
    },
    changed: () => (failure ? Promise.reject(failure) : chunks.length === plan.length ? Promise.resolve() : new Promise((resolve, reject) => waiters.push({ resolve, reject }))),
    done,
  };
  const source: FileSource = {
    size: cipherSize(size),
    mtime,
    async read(offset, length) {
      const i = offset / CHUNK_SIZE;
      if (!Number.isInteger(i) || plan[i]?.length !== length) throw new FerryError('BAD_CHUNK_LIST', `An encrypted file is read a chunk at a time (asked ${length} bytes at ${offset}).`);
      return take(i) ?? (await sealOne(i)).sealed;
    },
    notNeeded(offset) {
      take(offset / CHUNK_SIZE);
    },
  };
  return { feed, source };
}
