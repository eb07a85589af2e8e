/**
 * SHA-256 providers for the transfer engine. WebCrypto where it exists (native and
 * fast: Node, and browsers in secure contexts); @noble/hashes where it does not
 * (a page served over plain http from a LAN address has no `crypto.subtle`).
 * Both give identical digests; tests check that.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

export interface Hasher {
  /** Which implementation this is, for logs and tests. */
  readonly kind: 'webcrypto' | 'noble';
  /** SHA-256 of `data`, as lower-case hex. */
  sha256(data: Uint8Array): Promise<string>;
}

export const nobleHasher: Hasher = {
  kind: 'noble',
  async sha256(data) {
    return bytesToHex(sha256(data));
  },
};

/** A WebCrypto hasher, or undefined where `crypto.subtle` is missing. */
export function webCryptoHasher(): Hasher | undefined {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (!subtle) return undefined;
  return {
    kind: 'webcrypto',
    async sha256(data) {
      return bytesToHex(new Uint8Array(await subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>)));
    },
  };
}

/** The best hasher this environment offers. */
export function defaultHasher(): Hasher {
  return webCryptoHasher() ?? nobleHasher;
}
