/**
 * One worker of the hash pool: reads a slice of a File and hashes it. WebCrypto
 * where `crypto.subtle` exists, @noble/hashes where it does not (or when asked).
 * Slices are read into one reused buffer where the browser allows it, so hashing a
 * large file leaves no garbage behind.
 */
import * as Comlink from 'comlink';
import { nobleHasher, webCryptoHasher } from '../../../relay/client/hashers';

export type HasherKind = 'webcrypto' | 'noble';

let scratch = new ArrayBuffer(0);
/** The scratch buffer serves one slice at a time; overlapping calls get their own buffer. */
let scratchBusy = false;

/** Reads `blob` into the reused scratch buffer (BYOB), or into a new buffer where BYOB reads are not offered. */
async function readSlice(blob: Blob): Promise<Uint8Array> {
  let reader: ReadableStreamBYOBReader | undefined;
  try {
    reader = blob.stream().getReader({ mode: 'byob' });
  } catch {
    return new Uint8Array(await blob.arrayBuffer());
  }
  if (scratch.byteLength < blob.size) scratch = new ArrayBuffer(blob.size);
  let buffer = scratch;
  let filled = 0;
  while (filled < blob.size) {
    const { value, done } = await reader.read(new Uint8Array(buffer, filled, blob.size - filled));
    if (done || !value) break;
    buffer = value.buffer as ArrayBuffer;
    filled += value.byteLength;
  }
  scratch = buffer;
  return new Uint8Array(buffer, 0, filled);
}

const api = {
  /** Which hasher this worker uses when given the choice. */
  available(): HasherKind {
    return webCryptoHasher() ? 'webcrypto' : 'noble';
  },
  async hashSlice(blob: Blob, offset: number, length: number, kind?: HasherKind): Promise<string> {
    const slice = blob.slice(offset, offset + length);
    const hasher = kind === 'noble' ? nobleHasher : (webCryptoHasher() ?? nobleHasher);
    if (scratchBusy) return hasher.sha256(new Uint8Array(await slice.arrayBuffer()));
    scratchBusy = true;
    try {
      return await hasher.sha256(await readSlice(slice));
    } finally {
      scratchBusy = false;
    }
  },
};

export type HashWorkerApi = typeof api;
Comlink.expose(api);
