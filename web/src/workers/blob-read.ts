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
  let buffer = view.buffer as ArrayBuffer;
  let filled = 0;
  try {
    while (filled < blob.size) {
      const { value, done } = await reader.read(new Uint8Array(buffer, view.byteOffset + filled, blob.size - filled));
      if (done || !value) break;
      buffer = value.buffer as ArrayBuffer;
      filled += value.byteLength;
    }
  } finally {
    reading.delete(reader);
    reader.releaseLock();
  }
  return new Uint8Array(buffer, view.byteOffset, filled);
}
