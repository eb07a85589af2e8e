/**
 * One worker of the hash pool: reads a slice of a File and hashes it. WebCrypto
 * where `crypto.subtle` exists, @noble/hashes where it does not (or when asked).
 */
import * as Comlink from 'comlink';
import { nobleHasher, webCryptoHasher } from '../../../relay/client/hashers';

export type HasherKind = 'webcrypto' | 'noble';

const api = {
  /** Which hasher this worker uses when given the choice. */
  available(): HasherKind {
    return webCryptoHasher() ? 'webcrypto' : 'noble';
  },
  async hashSlice(blob: Blob, offset: number, length: number, kind?: HasherKind): Promise<string> {
    const data = new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    const hasher = kind === 'noble' ? nobleHasher : (webCryptoHasher() ?? nobleHasher);
    return hasher.sha256(data);
  },
};

export type HashWorkerApi = typeof api;
Comlink.expose(api);
