/** A FerryClient over Node's `ws`. */
import WebSocket from 'ws';
import { FerryClient, type FerryClientOptions, type WebSocketLike } from '../client/index.js';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES } from '../protocol/index.js';

/**
 * Frames from this client carry an all-zero masking key. Masking (RFC 6455 §10.3)
 * keeps scripts in a browser from choosing the bytes a proxy sees; the CLI runs no
 * one else's code, so it has nothing to protect. With a zero key `ws` sends each chunk
 * from our buffer as it is, where a random key makes it allocate and XOR a masked
 * copy of every 4 MiB chunk, and the relay skips unmasking.
 */
function zeroMask(mask: Buffer): void {
  mask.fill(0);
}

/** `ca`: the PEM certificate of the authority to trust for wss:// (instead of the system's). */
export function nodeSocketFactory(url: string, protocol: string, ca?: string): WebSocketLike {
  return new WebSocket(url, protocol, {
    maxPayload: MAX_CHUNK_BYTES + FRAME_HEADER_BYTES,
    perMessageDeflate: false,
    generateMask: zeroMask,
    ...(ca ? { ca } : {}),
  }) as unknown as WebSocketLike;
}

/**
 * Opens a connection to a relay (`ws://host/ws` or `wss://`) and authenticates when a token is given.
 * `ca`: the authority to trust, or one per address (with `alternates`).
 */
export async function connectNode(opts: Omit<FerryClientOptions, 'createSocket'> & { ca?: string | ((url: string) => string | undefined) }): Promise<FerryClient> {
  const { ca, ...rest } = opts;
  const client = new FerryClient({ ...rest, createSocket: (url, protocol) => nodeSocketFactory(url, protocol, typeof ca === 'function' ? ca(url) : ca) });
  await client.connect();
  return client;
}
