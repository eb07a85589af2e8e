/**
 * The engine's upload source for a picked File: the shared ReadOnceSource, reading
 * slices of the file (see relay/client/read-once.ts for why each chunk is read once).
 */
import { ReadOnceSource, type BufferHasher } from '../../../relay/client';
import { SequentialBlobReader } from './blob-read';

/**
 * Reads go to offset 0 of a scratch buffer and are copied behind the frame header:
 * Chromium's BYOB reads into a view that starts further into its buffer put some
 * pieces at the wrong place (chunks came out shifted by the header's size while their
 * hashes matched what was read).
 *
 * The file is read front to back through one stream (see SequentialBlobReader), which
 * ends with the file; call `close` when the upload ends early.
 */
export function fileSource(file: File, hash: BufferHasher): ReadOnceSource & { close(): void } {
  const scratch: ArrayBuffer[] = [];
  const reader = new SequentialBlobReader(file);
  const source = new ReadOnceSource(
    file.size,
    file.lastModified,
    async (offset, frame) => {
      let buffer = scratch.pop();
      if (!buffer || buffer.byteLength < frame.byteLength) buffer = new ArrayBuffer(frame.byteLength);
      const got = await reader.read(offset, new Uint8Array(buffer, 0, frame.byteLength));
      frame.set(got);
      scratch.push(got.buffer as ArrayBuffer);
      return frame.subarray(0, got.byteLength);
    },
    hash,
  );
  return Object.assign(source, { close: () => reader.close() });
}
