/**
 * End-to-end encryption formats, version 1: the sizes, labels and encodings every client
 * (CLI, app, sync) writes and reads. No Node or DOM imports. docs/encryption.md explains
 * the design; tests/unit/e2e-formats.test.ts pins each format with known answers, so an
 * accidental change breaks the build.
 */
import { base64urlnopad } from '@scure/base';
import { CHUNK_SIZE } from '../protocol/constants.js';

/** The one format version this code writes (and the only one it reads). */
export const E2E_FORMAT = 1;

/** AES-256-GCM: a 12-byte nonce before, a 16-byte tag after the ciphertext. */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * Plaintext bytes per chunk: a sealed chunk (nonce, ciphertext, tag) is exactly the
 * relay's chunk size, so an encrypted file is chunked, verified, resumed and
 * deduplicated by the relay like any other.
 */
export const PLAIN_CHUNK = CHUNK_SIZE - SEAL_OVERHEAD;

/** Encrypted names: `e1.` then base64url of nonce, ciphertext and tag. */
export const NAME_PREFIX = 'e1.';
/** Sealed version facts: `m1.<epoch>.` then base64url of nonce, ciphertext and tag. */
export const SEALED_PREFIX = 'm1.';
/**
 * Longest plaintext name in an encrypted folder, in UTF-8 bytes: its encrypted form
 * must fit the relay's 255-byte names.
 */
export const MAX_PLAIN_NAME_BYTES = 160;
/** Longest sealed version facts the relay keeps (characters). */
export const MAX_SEALED_CHARS = 4096;

/** An encrypted name as the relay checks it (shape only: it cannot read it). */
export const ENCRYPTED_NAME_RE = /^e1\.[A-Za-z0-9_-]{38,220}$/;
/** A folder id: 16 random bytes, base64url. */
export const FOLDER_ID_RE = /^[A-Za-z0-9_-]{22}$/;

/** Labels bound into every key derivation and every AEAD's associated data. */
export const LABEL = {
  passphrase: 'ferry/account-key/passphrase/v1',
  recovery: 'ferry/account-key/recovery/v1',
  privateKey: 'ferry/private-key/v1',
  folderKeyWrap: 'ferry/folder-key/wrap/v1',
  folderKey: 'ferry/folder-key/v1',
  folderKeyShare: 'ferry/folder-key/share/v1',
  linkKey: 'ferry/link-key/v1',
  chunkKey: 'ferry/chunk-key/v1',
  nameKey: 'ferry/name-key/v1',
  metaKey: 'ferry/meta-key/v1',
  macKey: 'ferry/mac-key/v1',
  chunk: 'ferry/chunk/v1',
  name: 'ferry/name/v1',
  meta: 'ferry/meta/v1',
} as const;

/** Argon2id settings for new passphrases (kept with each key record, so they can be raised). */
export const KDF_DEFAULTS = { algorithm: 'argon2id' as const, memoryKiB: 65_536, iterations: 3, parallelism: 1 };

/** Number of chunks of a plaintext of `size` bytes (none for an empty file). */
export function plainChunks(size: number): number {
  return Math.ceil(size / PLAIN_CHUNK);
}

/** Size on the relay of an encrypted file of `plainSize` bytes. */
export function cipherSize(plainSize: number): number {
  return plainSize + plainChunks(plainSize) * SEAL_OVERHEAD;
}

/** Plaintext size of an encrypted file of `cipherSize` bytes on the relay. */
export function plainSize(cipherSize: number): number {
  return cipherSize - Math.ceil(cipherSize / CHUNK_SIZE) * SEAL_OVERHEAD;
}

/** base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/** Reads base64url without padding; throws on anything else. */
export function fromBase64Url(text: string): Uint8Array {
  return base64urlnopad.decode(text);
}

/** UTF-8 bytes of a label and parts, each part length-prefixed so no two lists encode alike. */
export function bind(label: string, ...parts: (string | number | Uint8Array)[]): Uint8Array {
  const enc = new TextEncoder();
  const pieces = [label, ...parts].map((p) => (p instanceof Uint8Array ? p : enc.encode(String(p))));
  const total = pieces.reduce((n, p) => n + 4 + p.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of pieces) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}
