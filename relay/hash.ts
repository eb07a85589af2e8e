/**
 * SHA-256 for the relay. WebCrypto's digest runs on libuv's thread pool, so many
 * clients' chunks are verified without blocking the event loop.
 */
import { webcrypto } from 'node:crypto';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

/** SHA-256 of `data` as lower-case hex, computed off the event loop. */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await webcrypto.subtle.digest('SHA-256', data)));
}
