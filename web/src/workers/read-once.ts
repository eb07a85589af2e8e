/**
 * A picked File as an upload source that reads every chunk once: the bytes read for
 * hashing are the bytes sent. Reading a picked file is the costliest step of a browser
 * upload (the browser process reads it and copies it into the page), so reading it
 * twice, once to hash and once to send, cost a third of the throughput.
 *
 * Hashing runs a bounded distance ahead of sending: hashed chunks wait in frame-sized
 * buffers until the upload sends them (or learns the relay already holds them). A
 * buffer is reused once the relay answered its chunk (not when `send` returns: the
 * browser's socket may still be reading it), so memory stays flat whatever the file size.
 */
import { adoptFrameBuffer, type FileSource } from '../../../relay/client';
import { FRAME_HEADER_BYTES } from '../../../relay/protocol';
import { readInto } from './blob-read';

/** Hashes `data` and hands back a view of the same bytes (possibly in a new ArrayBuffer object). */
export type BufferHasher = (data: Uint8Array) => Promise<{ sha256: string; data: Uint8Array }>;

export class ReadOnceSource implements FileSource {
  readonly size: number;
  readonly mtime: number;
  /** Hashed chunks waiting to be sent, by offset. */
  private readonly ready = new Map<number, Uint8Array>();
  private reserved = 0;
  private readonly spare: ArrayBuffer[] = [];
  private slotWaiters: (() => void)[] = [];
  /** Buffers the file is read into (one per read in progress) before the copy into a frame. */
  private readonly scratch: ArrayBuffer[] = [];

  /**
   * @param ahead most chunks hashed and not yet sent; must exceed the upload's
   *   listing batch (8), or the upload would wait for chunks that wait for it.
   */
  constructor(
    private readonly file: File,
    private readonly hash: BufferHasher,
    private readonly ahead = 12,
  ) {
    this.size = file.size;
    this.mtime = file.lastModified;
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

  /**
   * Reads a range into a reused frame buffer. The read lands in a scratch buffer at
   * offset 0 and is copied behind the frame header: Chromium's BYOB reads into a view
   * that starts further into its buffer put some pieces at the wrong place (chunks came
   * out shifted by the header's size while their hashes matched what was read).
   */
  private async readChunk(offset: number, length: number): Promise<Uint8Array> {
    let buffer = this.spare.pop();
    if (!buffer || buffer.byteLength < FRAME_HEADER_BYTES + length) buffer = new ArrayBuffer(FRAME_HEADER_BYTES + length);
    const frame = adoptFrameBuffer(buffer, length);
    let scratch = this.scratch.pop();
    if (!scratch || scratch.byteLength < length) scratch = new ArrayBuffer(length);
    const got = await readInto(this.file.slice(offset, offset + length), new Uint8Array(scratch, 0, length));
    frame.set(got);
    this.scratch.push(got.buffer as ArrayBuffer);
    return frame.subarray(0, got.byteLength);
  }
}
