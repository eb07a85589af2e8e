/**
 * An upload source that reads every chunk once: the bytes read for hashing are the
 * bytes sent. Where reading is the costly step (a browser reading a picked file: the
 * browser process reads it and copies it into the page), reading twice, once to hash
 * and once to send, cost a large share of the throughput.
 *
 * Hashing runs a bounded distance ahead of sending: hashed chunks wait in frame-sized
 * buffers until the upload sends them (or learns the relay already holds them). A
 * buffer is reused once the relay answered its chunk (not when `send` returns: a
 * browser's socket may still be reading it), so memory stays flat whatever the size.
 */
import { adoptFrameBuffer } from './connection.js';
import type { FileSource } from './upload.js';
import type { Hasher } from './hashers.js';
import { chunkFeed, type ChunkFeed, type ChunkFeedOptions } from './chunk-feed.js';
import { FRAME_HEADER_BYTES } from '../protocol/index.js';

/** Hashes `data` and hands back a view of the same bytes (possibly in a new ArrayBuffer object). */
export type BufferHasher = (data: Uint8Array) => Promise<{ sha256: string; data: Uint8Array }>;

/** A BufferHasher from a Hasher that hashes in place (the bytes stay where they are). */
export function inPlace(hasher: Hasher): BufferHasher {
  return async (data) => ({ sha256: await hasher.sha256(data), data });
}

/** Reads `frame.byteLength` bytes at `offset` into `frame`; returns the part filled. */
export type ChunkReader = (offset: number, frame: Uint8Array) => Promise<Uint8Array>;

export class ReadOnceSource implements FileSource {
  /** Hashed chunks waiting to be sent, by offset. */
  private readonly ready = new Map<number, Uint8Array>();
  private reserved = 0;
  private readonly spare: ArrayBuffer[] = [];
  private slotWaiters: (() => void)[] = [];

  /**
   * @param ahead most chunks hashed and not yet sent; must exceed the upload's
   *   listing batch (8), or the upload would wait for chunks that wait for it.
   */
  constructor(
    readonly size: number,
    readonly mtime: number,
    private readonly readChunkInto: ChunkReader,
    private readonly hash: BufferHasher,
    private readonly ahead = 12,
  ) {}

  /** The file's chunk list, hashed by this source (each chunk read once, kept for sending). */
  feed(opts: ChunkFeedOptions = {}): ChunkFeed {
    return chunkFeed(this.size, (offset, length) => this.hashChunk(offset, length), opts);
  }

  /** Reads and hashes one chunk, keeping its bytes for `read`. */
  async hashChunk(offset: number, length: number): Promise<string> {
    while (this.reserved >= this.ahead) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.reserved++;
    try {
      const { sha256, data } = await this.hash(await this.readChunk(offset, length));
      this.ready.set(offset, adoptFrameBuffer(data.buffer as ArrayBuffer, data.byteLength));
      return sha256;
    } catch (err) {
      this.freeSlot();
      throw err;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const kept = this.take(offset);
    if (kept?.byteLength === length) return kept;
    if (kept) this.release(kept);
    return this.readChunk(offset, length);
  }

  release(data: Uint8Array): void {
    if (this.spare.length < this.ahead + 4) this.spare.push(data.buffer as ArrayBuffer);
  }

  notNeeded(offset: number): void {
    const kept = this.take(offset);
    if (kept) this.release(kept);
  }

  private take(offset: number): Uint8Array | undefined {
    const kept = this.ready.get(offset);
    if (!kept) return undefined;
    this.ready.delete(offset);
    this.freeSlot();
    return kept;
  }

  private freeSlot(): void {
    this.reserved--;
    this.slotWaiters.shift()?.();
  }

  /** Reads a range into a reused frame buffer. */
  private async readChunk(offset: number, length: number): Promise<Uint8Array> {
    let buffer = this.spare.pop();
    if (!buffer || buffer.byteLength < FRAME_HEADER_BYTES + length) buffer = new ArrayBuffer(FRAME_HEADER_BYTES + length);
    return this.readChunkInto(offset, adoptFrameBuffer(buffer, length));
  }
}
