/**
 * The few operations every end-to-end format is built from, all WebCrypto (AES-256-GCM,
 * HKDF-SHA-256, HMAC-SHA-256, ECDH P-256) except Argon2id, which WebCrypto lacks, from
 * hash-wasm (one WASM build for the browser and Node). No Node or DOM imports: WebCrypto
 * is `globalThis.crypto` in both.
 */
import { FerryError } from '../protocol/errors.js';
import { NONCE_BYTES, TAG_BYTES } from './format.js';

type Bytes = Uint8Array<ArrayBuffer>;

/** WebCrypto, or a clear refusal where the page is not a secure context. */
export function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!s) throw new FerryError('E2E_UNAVAILABLE', 'Encrypted folders need a secure context (https, or localhost): this page has no WebCrypto.');
  return s;
}

export function randomBytes(n: number): Bytes {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}

/** A copy with its own ArrayBuffer, as WebCrypto wants its inputs. */
function own(b: Uint8Array): Bytes {
  return b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b as Bytes) : new Uint8Array(b);
}

export function aesKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', own(raw), { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

export function hmacKey(raw: Uint8Array): Promise<CryptoKey> {
  return subtle().importKey('raw', own(raw), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
}

/** 32 bytes from HKDF-SHA-256 of `ikm` with `info` (and an empty salt). */
export async function hkdf(ikm: Uint8Array, info: Uint8Array): Promise<Bytes> {
  const key = await subtle().importKey('raw', own(ikm), 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: own(info) }, key, 256));
}

export async function hmac(key: CryptoKey, data: Uint8Array): Promise<Bytes> {
  return new Uint8Array(await subtle().sign('HMAC', key, own(data)));
}

/** AES-256-GCM: nonce ‖ ciphertext ‖ tag. A random nonce unless one is given. */
export async function seal(key: CryptoKey, plain: Uint8Array, aad: Uint8Array, nonce: Uint8Array = randomBytes(NONCE_BYTES)): Promise<Bytes> {
  const ct = new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: own(nonce), additionalData: own(aad), tagLength: TAG_BYTES * 8 }, key, own(plain)));
  const out = new Uint8Array(NONCE_BYTES + ct.length);
  out.set(nonce, 0);
  out.set(ct, NONCE_BYTES);
  return out;
}

/** Opens what `seal` made; anything altered (or the wrong key or associated data) is E2E_TAMPERED. */
export async function open(key: CryptoKey, sealed: Uint8Array, aad: Uint8Array, what: string): Promise<Bytes> {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new FerryError('E2E_TAMPERED', `${what} is too short to be sealed.`);
  try {
    return new Uint8Array(
      await subtle().decrypt({ name: 'AES-GCM', iv: own(sealed.subarray(0, NONCE_BYTES)), additionalData: own(aad), tagLength: TAG_BYTES * 8 }, key, own(sealed.subarray(NONCE_BYTES))),
    );
  } catch {
    throw new FerryError('E2E_TAMPERED', `${what} does not open with its key: it was altered, or is not what it claims to be.`);
  }
}

/** 32 bytes from a passphrase with Argon2id. */
export async function argon2(passphrase: string, salt: Uint8Array, p: { memoryKiB: number; iterations: number; parallelism: number }): Promise<Bytes> {
  // Loaded when first needed: it is large, and only unlocking and key changes use it.
  const { argon2id } = await import('hash-wasm');
  const out = await argon2id({
    password: passphrase.normalize('NFC'),
    salt,
    memorySize: p.memoryKiB,
    iterations: p.iterations,
    parallelism: p.parallelism,
    hashLength: 32,
    outputType: 'binary',
  });
  return new Uint8Array(out);
}

export { type Bytes };
