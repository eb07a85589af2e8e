/** A bare protocol client for sending malformed or out-of-order messages. */
import WebSocket from 'ws';
import { SUBPROTOCOL, encodeChunkFrame, FRAME_UPLOAD_CHUNK } from '../../relay/protocol/index.js';

export interface RawClient {
  ws: WebSocket;
  /** Sends a JSON text frame (or a raw string) and resolves with the next text message. */
  request(msg: object | string): Promise<any>;
  /** Sends a chunk frame and resolves with the next text message. */
  chunk(handle: number, index: number, data: Uint8Array): Promise<any>;
  /**
   * Sends a chunk frame as one message in fragments, cut at the given offsets of the
   * frame (header included), as browsers send large messages; resolves with the next
   * text message.
   */
  chunkInFragments(handle: number, index: number, data: Uint8Array, cuts: number[]): Promise<any>;
  close(): void;
}

export async function rawClient(url: string, headers: Record<string, string> = {}, opts: WebSocket.ClientOptions = {}): Promise<RawClient> {
  const ws = new WebSocket(url, SUBPROTOCOL, { headers, ...opts });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const queue: any[] = [];
  const waiting: ((m: any) => void)[] = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const msg = JSON.parse(data.toString());
    // Broadcasts (library events) are not answers to what this client sent.
    if (msg.type === 'library.event' || msg.type === 'log.line') return;
    const w = waiting.shift();
    if (w) w(msg);
    else queue.push(msg);
  });
  const next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
  return {
    ws,
    request(msg) {
      ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
      return next();
    },
    chunk(handle, index, data) {
      ws.send(encodeChunkFrame(FRAME_UPLOAD_CHUNK, handle, index, data));
      return next();
    },
    chunkInFragments(handle, index, data, cuts) {
      const frame = encodeChunkFrame(FRAME_UPLOAD_CHUNK, handle, index, data);
      const at = [0, ...cuts, frame.length];
      for (let i = 0; i + 1 < at.length; i++) ws.send(frame.subarray(at[i], at[i + 1]), { binary: true, fin: i + 2 === at.length });
      return next();
    },
    close: () => ws.close(),
  };
}

/** The HTTP status a WebSocket upgrade to `url` gets with these headers and subprotocol (101 when it opens). */
export function upgradeStatus(url: string, headers: Record<string, string>, protocol?: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocol, { headers });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', () => {});
  });
}
