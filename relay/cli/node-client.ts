/** A FerryClient over Node's `ws`. */
import WebSocket from 'ws';
import { FerryClient, type FerryClientOptions, type WebSocketLike } from '../client/index.js';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES } from '../protocol/index.js';

export function nodeSocketFactory(url: string, protocol: string): WebSocketLike {
  return new WebSocket(url, protocol, { maxPayload: MAX_CHUNK_BYTES + FRAME_HEADER_BYTES, perMessageDeflate: false }) as unknown as WebSocketLike;
}

/** Opens a connection to a relay (`ws://host/ws`) and authenticates when a token is given. */
export async function connectNode(opts: Omit<FerryClientOptions, 'createSocket'>): Promise<FerryClient> {
  const client = new FerryClient({ ...opts, createSocket: nodeSocketFactory });
  await client.connect();
  return client;
}
