/**
 * One client's WebSocket on the relay: decodes and validates every inbound frame,
 * enforces sign-in, dispatches requests to their handlers, turns every thrown
 * error into exactly one error message, and applies back-pressure (pauses reading
 * the socket while too many chunk writes are pending).
 */
import type { WebSocket } from 'ws';
import {
  FRAME_UPLOAD_CHUNK,
  FerryError,
  decodeChunkFrameParts,
  decodeClientMessage,
  encodeChunkHeader,
  errorMessage,
  FRAME_HEADER_BYTES,
  type ClientMessage,
  type RequestType,
} from './protocol/index.js';
import type { ActiveUpload } from './library.js';
import type { User } from './store/meta-store.js';
import type { RelayContext } from './context.js';
import { HANDLERS } from './handlers/index.js';

/** Pause reading the socket while this many chunk writes are pending; resume below half. */
const MAX_PENDING_WRITES = 6;

/** Requests a connection may send before signing in. */
const PUBLIC_REQUESTS: ReadonlySet<RequestType> = new Set(['login', 'auth', 'ping']);

export class ClientConnection {
  user?: User;
  tokenHash?: string;
  sessionExpiresAt = 0;
  readonly uploads = new Map<number, ActiveUpload>();
  readonly downloads = new Map<number, { path: string; version: number }>();
  private nextHandle = 1;
  /** Ends this connection's live log subscription, if any. */
  logSubscription?: () => void;
  private pendingWrites = 0;
  private paused = false;
  readonly connectedAt = Date.now();
  bytesIn = 0;

  constructor(
    readonly ctx: RelayContext,
    readonly ws: WebSocket,
    readonly address: string,
  ) {
    // Binary messages arrive as their fragments (browsers split a 4 MiB message into
    // ~30): the chunk is copied from them into a hash slot once, not joined first.
    ws.binaryType = 'fragments';
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer | Buffer[], isBinary));
    ws.on('close', () => {
      this.logSubscription?.();
      for (const upload of this.uploads.values()) ctx.library.releaseUpload(upload);
      this.uploads.clear();
    });
  }

  /** A fresh handle for an upload or download on this connection. */
  handle(): number {
    return this.nextHandle++;
  }

  send(message: object): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Sends a download chunk frame; resolves when `ws` has taken it (for back-pressure). */
  sendChunk(kind: number, handle: number, index: number, data: Uint8Array): Promise<void> {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + data.byteLength);
    frame.set(encodeChunkHeader(kind, handle, index), 0);
    frame.set(data, FRAME_HEADER_BYTES);
    return new Promise((resolve, reject) => this.ws.send(frame, (err) => (err ? reject(err) : resolve())));
  }

  /** The signed-in user; throws AUTH_REQUIRED or SESSION_EXPIRED. */
  requireUser(): User {
    if (!this.user) throw new FerryError('AUTH_REQUIRED');
    if (this.sessionExpiresAt <= Date.now()) {
      this.user = undefined;
      throw new FerryError('SESSION_EXPIRED');
    }
    return this.user;
  }

  private onFrame(data: Buffer | Buffer[], isBinary: boolean): void {
    if (isBinary) {
      const parts = Array.isArray(data) ? data : [data];
      for (const p of parts) this.bytesIn += p.byteLength;
      this.onChunkFrame(parts);
      return;
    }
    const text = data as Buffer;
    this.bytesIn += text.byteLength;
    let msg: ClientMessage;
    try {
      msg = decodeClientMessage(text.toString('utf8'));
    } catch (err) {
      const e = err as FerryError;
      this.ctx.log.warn({ event: 'refused', code: e.code, user: this.user?.name, addr: this.address }, e.message);
      this.send(errorMessage(e.code, e.message, e.detail?.id as number | undefined));
      return;
    }
    void this.dispatch(msg);
  }

  private async dispatch(msg: ClientMessage): Promise<void> {
    try {
      if (!PUBLIC_REQUESTS.has(msg.type)) this.requireUser();
      const handler = HANDLERS[msg.type] as (conn: ClientConnection, msg: ClientMessage) => Promise<object>;
      const body = await handler(this, msg);
      this.send({ type: 'reply', id: msg.id, op: msg.type, body });
    } catch (err) {
      this.sendError(err, msg.id, msg.type);
    }
  }

  private sendError(err: unknown, id: number | undefined, op: string): void {
    if (err instanceof FerryError) {
      if (err.code !== 'LOGIN_FAILED') this.ctx.log.info({ event: 'refused', op, code: err.code, user: this.user?.name, addr: this.address }, err.message);
      this.send(errorMessage(err.code, err.message, id, err.detail));
    } else {
      this.ctx.log.error({ event: 'error', op, err, user: this.user?.name, addr: this.address }, 'request failed');
      this.send(errorMessage('INTERNAL', 'The relay hit an unexpected error. Nothing was lost; try again.', id));
    }
  }

  private onChunkFrame(parts: Buffer[]): void {
    let handle = 0;
    let index = 0;
    try {
      this.requireUser();
      const frame = decodeChunkFrameParts(parts);
      handle = frame.handle;
      index = frame.index;
      if (frame.kind !== FRAME_UPLOAD_CHUNK) throw new FerryError('BAD_MESSAGE', `Unexpected frame kind ${frame.kind}.`);
      const upload = this.uploads.get(handle);
      if (!upload) throw new FerryError('UNKNOWN_UPLOAD', `No upload with handle ${handle} on this connection.`);
      this.pendingWrites++;
      if (this.pendingWrites >= MAX_PENDING_WRITES && !this.paused) {
        this.paused = true;
        this.ws.pause();
      }
      this.ctx.library
        .storeChunk(upload, index, frame.data)
        .then(
          () => this.send({ type: 'chunk.ack', handle, index }),
          (err) => this.refuseChunk(handle, index, err),
        )
        .finally(() => {
          this.pendingWrites--;
          if (this.paused && this.pendingWrites <= MAX_PENDING_WRITES / 2) {
            this.paused = false;
            this.ws.resume();
          }
        });
    } catch (err) {
      this.refuseChunk(handle, index, err);
    }
  }

  private refuseChunk(handle: number, index: number, err: unknown): void {
    const e = err instanceof FerryError ? err : new FerryError('STORAGE_FAILED');
    if (!(err instanceof FerryError)) this.ctx.log.error({ event: 'error', op: 'chunk', err, user: this.user?.name }, 'storing a chunk failed');
    else this.ctx.log.warn({ event: 'chunk.refused', code: e.code, handle, index, user: this.user?.name, addr: this.address }, e.message);
    if (e.code === 'AUTH_REQUIRED' || e.code === 'SESSION_EXPIRED' || e.code === 'BAD_MESSAGE') {
      this.send(errorMessage(e.code, e.message));
      return;
    }
    this.send({ type: 'chunk.refused', handle, index, code: e.code, message: e.message });
  }
}
