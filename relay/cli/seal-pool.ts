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
import { createDecipheriv } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHUNK_SIZE, FerryError } from '../protocol/index.js';
import { PLAIN_CHUNK, cipherSize } from '../crypto/format.js';
import type { ChunkSealing } from '../crypto/folder.js';
import type { ChunkFeed } from '../client/chunk-feed.js';
import { sealedFeed } from '../client/e2e.js';
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
  const sealOne = (offset: number, length: number) => pool.seal(file, (offset / CHUNK_SIZE) * PLAIN_CHUNK, length - (CHUNK_SIZE - PLAIN_CHUNK), keys);
  return sealedFeed(cipherSize(size), mtime, sealOne, { ...opts, concurrency: pool.size });
}

/** Opens a sealed chunk with Node's crypto (what `openingSink` may use instead of WebCrypto): throws on anything altered. */
export function openChunkNode(sealed: Uint8Array, keys: ChunkSealing): Uint8Array {
  const body = sealed.subarray(12, sealed.length - 16);
  const d = createDecipheriv('aes-256-gcm', keys.chunkKey, sealed.subarray(0, 12));
  d.setAAD(keys.aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const out = d.update(body);
  d.final();
  return out;
}
