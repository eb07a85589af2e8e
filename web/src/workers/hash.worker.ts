/**
 * One worker of the hash pool: reads a slice of a File and hashes it. WebCrypto
 * where `crypto.subtle` exists, @noble/hashes where it does not (or when asked).
 * Slices are read into one reused buffer where the browser allows it, so hashing a
 * large file leaves no garbage behind.
 */
import * as Comlink from 'comlink';
import { nobleHasher, webCryptoHasher } from '../../../relay/client/hashers';
import { readInto } from './blob-read';
import { createSHA256 } from 'hash-wasm';

export type HasherKind = 'webcrypto' | 'noble';


let scratch = new ArrayBuffer(0);
/** The scratch buffer serves one slice at a time; overlapping calls get their own buffer. */
let scratchBusy = false;

/** Reads `blob` into the reused scratch buffer. */
async function readSlice(blob: Blob): Promise<Uint8Array> {
  if (scratch.byteLength < blob.size) scratch = new ArrayBuffer(blob.size);
  const got = await readInto(blob, new Uint8Array(scratch, 0, blob.size));
  scratch = got.buffer as ArrayBuffer;
  return got;
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
  /** The SHA-256 of a whole file, streamed in order (hash-wasm: WebCrypto cannot hash in pieces). */
  async wholeSha256(blob: Blob): Promise<string> {
    const h = await createSHA256();
    const reader = blob.stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      h.update(value);
    }
    return h.digest('hex');
  },
  /** Hashes bytes the caller read (and transferred here); the buffer goes back with the digest. */
  async hashBuffer(buffer: ArrayBuffer, offset: number, length: number, kind?: HasherKind) {
    const hasher = kind === 'noble' ? nobleHasher : (webCryptoHasher() ?? nobleHasher);
    const sha256 = await hasher.sha256(new Uint8Array(buffer, offset, length));
    return Comlink.transfer({ sha256, buffer }, [buffer]);
  },
};

export type HashWorkerApi = typeof api;
Comlink.expose(api);
