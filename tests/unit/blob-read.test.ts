import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SequentialBlobReader } from '../../web/src/workers/blob-read.js';

// Small sizes: Node's blob streams are slow, and the logic does not depend on size.
const UNIT = 128; // bytes

/** A blob that counts the streams and slices read from it. */
function countingBlob(bytes: Uint8Array<ArrayBuffer>) {
  const blob = new Blob([bytes]);
  const counts = { streams: 0, slices: 0 };
  const wrap = (b: Blob, whole: boolean): Blob =>
    ({
      size: b.size,
      slice: (start?: number, end?: number) => {
        const part = b.slice(start, end);
        // A slice to the end is what the reader streams from; any other is a one-off read.
        if (whole && end === undefined) counts.streams++;
        else counts.slices++;
        return wrap(part, false);
      },
      stream: () => b.stream(),
      arrayBuffer: () => b.arrayBuffer(),
    }) as unknown as Blob;
  return { blob: wrap(blob, true), counts };
}

const read = (r: SequentialBlobReader, offset: number, length: number) => r.read(offset, new Uint8Array(length)).then((v) => Buffer.from(v));

describe('SequentialBlobReader', () => {
  const bytes = randomBytes(1000 * UNIT + 123);
  const at = (offset: number, length: number) => Buffer.from(bytes.subarray(offset, offset + length));

  it('reads a blob front to back through one stream, the last piece shorter', async () => {
    const { blob, counts } = countingBlob(bytes);
    const r = new SequentialBlobReader(blob);
    for (let off = 0; off < bytes.length; off += 256 * UNIT) expect(await read(r, off, 256 * UNIT)).toEqual(at(off, 256 * UNIT));
    expect(counts).toEqual({ streams: 1, slices: 0 });
  });

  it('serves reads asked for at once in the order asked', async () => {
    const { blob, counts } = countingBlob(bytes);
    const r = new SequentialBlobReader(blob);
    const got = await Promise.all([0, 1, 2, 3].map((i) => read(r, i * 250 * UNIT, 250 * UNIT)));
    got.forEach((g, i) => expect(g).toEqual(at(i * 250 * UNIT, 250 * UNIT)));
    expect(counts).toEqual({ streams: 1, slices: 0 });
  });

  it('starts the stream where the first read is (a resumed upload), and serves a read elsewhere from a slice', async () => {
    const { blob, counts } = countingBlob(bytes);
    const r = new SequentialBlobReader(blob);
    expect(await read(r, 300 * UNIT, 100 * UNIT)).toEqual(at(300 * UNIT, 100 * UNIT));
    expect(await read(r, 0, 100 * UNIT)).toEqual(at(0, 100 * UNIT)); // going back
    expect(await read(r, 700 * UNIT, 100 * UNIT)).toEqual(at(700 * UNIT, 100 * UNIT)); // skipping ahead
    expect(await read(r, 400 * UNIT, 100 * UNIT)).toEqual(at(400 * UNIT, 100 * UNIT)); // the stream goes on
    expect(counts).toEqual({ streams: 1, slices: 2 });
  });

  it('reads with slices after close, and reads nothing past the end', async () => {
    const { blob, counts } = countingBlob(bytes);
    const r = new SequentialBlobReader(blob);
    expect(await read(r, 0, 10 * UNIT)).toEqual(at(0, 10 * UNIT));
    r.close();
    expect(await read(r, 10 * UNIT, 10 * UNIT)).toEqual(at(10 * UNIT, 10 * UNIT));
    expect(await read(r, bytes.length, 10)).toEqual(Buffer.alloc(0));
    expect(counts).toEqual({ streams: 1, slices: 1 });
  });

  it('fails a read with a readable message when the blob ends early (the file changed)', async () => {
    const short = new Blob([bytes.subarray(0, 100 * UNIT)]);
    const lying = { size: bytes.length, slice: (s?: number, e?: number) => short.slice(s, e), stream: () => short.stream() } as unknown as Blob;
    const r = new SequentialBlobReader(lying);
    expect(await read(r, 0, 64 * UNIT)).toEqual(at(0, 64 * UNIT));
    await expect(read(r, 64 * UNIT, 64 * UNIT)).rejects.toThrow(/to the end; was it changed or removed/);
  });
});
