/** Reading slices of picked files into buffers the caller owns. */

/**
 * Blob streams being read. Chromium can collect a blob stream whose only references
 * are its own pending read (the page holds just the promise), and that read then never
 * settles: uploads stalled at random chunks until every stream in use was kept here.
 */
const reading = new Set<ReadableStreamBYOBReader>();

/**
 * Reads `blob` into `view` (as long as the blob) with a BYOB reader, so no buffer is
 * allocated per read; the bytes come back in a view of the same memory (its ArrayBuffer
 * object is new: BYOB reads transfer it).
 */
export async function readInto(blob: Blob, view: Uint8Array): Promise<Uint8Array> {
  let reader: ReadableStreamBYOBReader;
  try {
    reader = blob.stream().getReader({ mode: 'byob' });
  } catch {
    // No byte streams here: read a copy.
    const got = new Uint8Array(await blob.arrayBuffer());
    view.set(got);
    return view.subarray(0, got.byteLength);
  }
  reading.add(reader);
  try {
    return await fill(reader, view, blob.size);
  } finally {
    reading.delete(reader);
    reader.releaseLock();
  }
}

/**
 * Reads from `reader` into `view` until `want` bytes or the end of the stream; returns
 * the filled part, a view of the same memory in the ArrayBuffer object the last read
 * handed back.
 */
async function fill(reader: ReadableStreamBYOBReader, view: Uint8Array, want: number): Promise<Uint8Array> {
  let buffer = view.buffer as ArrayBuffer;
  let filled = 0;
  while (filled < want) {
    const { value, done } = await reader.read(new Uint8Array(buffer, view.byteOffset + filled, want - filled));
    if (value) buffer = value.buffer as ArrayBuffer;
    if (done || !value) break;
    filled += value.byteLength;
  }
  return new Uint8Array(buffer, view.byteOffset, filled);
}

/**
 * Reads a blob front to back through one byte stream, chunk by chunk. Chromium serves
 * each blob stream from the browser process through a new shared-memory pipe, and on
 * a virtual machine fresh memory is dear: reading a 1 GiB file as 256 slices cost
 * about 1.5 CPU-seconds more (browser and page together) than one stream over it.
 *
 * Reads are served one at a time, in the order asked. A read where the stream is not
 * (going back, or skipping ahead) is served from a slice of its own, so a stray re-read
 * does not restart the stream.
 */
export class SequentialBlobReader {
  private reader?: ReadableStreamBYOBReader;
  private position = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly blob: Blob) {}

  /**
   * Reads `view.byteLength` bytes at `offset` (fewer at the end of the blob) into
   * `view`; resolves to the filled part, a view of the same memory in a possibly new
   * ArrayBuffer object (as `readInto`).
   */
  read(offset: number, view: Uint8Array): Promise<Uint8Array> {
    const run = this.tail.then(() => this.readNow(offset, view));
    this.tail = run.catch(() => {});
    return run;
  }

  /** Ends the stream (if open); later reads use slices. */
  close(): void {
    this.closed = true;
    this.release();
  }

  private async readNow(offset: number, view: Uint8Array): Promise<Uint8Array> {
    const want = Math.max(0, Math.min(view.byteLength, this.blob.size - offset));
    if (want === 0) return view.subarray(0, 0);
    const slice = () => readInto(this.blob.slice(offset, offset + want), view.subarray(0, want));
    if (this.closed || (this.reader && offset !== this.position)) return slice();
    if (!this.reader) {
      try {
        this.reader = this.blob.slice(offset).stream().getReader({ mode: 'byob' });
      } catch {
        this.closed = true; // no byte streams here
        return slice();
      }
      reading.add(this.reader);
      this.position = offset;
    }
    let got: Uint8Array;
    try {
      got = await fill(this.reader, view, want);
    } catch (err) {
      this.release();
      throw err;
    }
    if (got.byteLength < want) {
      this.release();
      throw new Error(`Could not read ${this.blob instanceof File ? `"${this.blob.name}"` : 'the file'} to the end; was it changed or removed?`);
    }
    this.position += want;
    if (this.position >= this.blob.size) this.release();
    return got;
  }

  private release(): void {
    const reader = this.reader;
    if (!reader) return;
    this.reader = undefined;
    reading.delete(reader);
    reader.cancel().catch(() => {});
  }
}
