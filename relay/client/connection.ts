/**
 * FerryClient: the one owner of a client's WebSocket. Sends requests and matches
 * replies by id, routes chunk acks and download frames to the sessions that wait
 * for them, and reconnects with backoff (re-authenticating with its token) when
 * the connection drops. Works with the browser's WebSocket and Node's `ws` alike.
 */
import {
  FRAME_DOWNLOAD_CHUNK,
  FRAME_UPLOAD_CHUNK,
  FerryError,
  decodeChunkFrame,
  decodeRelayMessage,
  encodeChunkHeader,
  FRAME_HEADER_BYTES,
  isErrorCode,
  parseReply,
  SUBPROTOCOL,
  type ReplyBody,
  type RequestBody,
  type RequestType,
  type UserInfo,
  type LibraryEvent,
  type ShareLinkInfo,
} from '../protocol/index.js';

/** The subset of the WebSocket API the client uses (browser WebSocket and `ws` both have it). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error' | 'message', listener: (ev: any) => void): void;
}

export type WebSocketFactory = (url: string, protocol: string) => WebSocketLike;

export type ChunkEvent =
  | { type: 'chunk.ack'; index: number }
  | { type: 'chunk.refused'; index: number; code: string; message: string };

export interface FerryClientOptions {
  /** ws:// or wss:// URL of the relay's `/ws` endpoint. */
  url: string;
  /**
   * Other relays of the same deployment (sharing one database): when a connection is
   * lost or cannot be made, the next address is tried, and sessions and uploads go on there.
   */
  alternates?: string[];
  createSocket: WebSocketFactory;
  /** Session token from an earlier login; sent with `auth` on every (re)connect. */
  token?: string;
  /** Reconnect with backoff when the connection drops (default true). */
  reconnect?: boolean;
  /** Give up reconnecting after this long without success (default: never). */
  reconnectTimeoutMs?: number;
  /** Called on connection state changes, for logs and UI. */
  onState?: (state: ConnectionState, detail?: string) => void;
  /**
   * A connection that makes no progress this long (no message in, nothing leaving the
   * send buffer) while work is outstanding is taken as dead and replaced (default 10 s).
   * An idle connection is pinged every `livenessMs` too.
   */
  livenessMs?: number;
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

interface Pending {
  op: RequestType;
  resolve: (body: any) => void;
  reject: (err: Error) => void;
}

const OPEN = 1;

export class FerryClient {
  private readonly opts: FerryClientOptions;
  private socket?: WebSocketLike;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly chunkListeners = new Map<number, (ev: ChunkEvent) => void>();
  private readonly frameListeners = new Map<number, (index: number, data: Uint8Array) => void>();
  private readonly logListeners = new Set<(line: Record<string, unknown>) => void>();
  private readonly libraryListeners = new Set<(event: LibraryEvent) => void>();
  private readonly linkListeners = new Set<(link: ShareLinkInfo) => void>();
  private readonly spacesListeners = new Set<() => void>();
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private closedByUser = false;
  private firstFailureAt = 0;
  private attempt = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  /** The relay address in use (`url`, or one of `alternates` after a failover). */
  address: string;
  private watchdog?: ReturnType<typeof setInterval>;
  private lastProgressAt = 0;
  private lastBuffered = 0;
  /** Bumped on every successful (re)connect: handles from an older generation are void. */
  generation = 0;
  state: ConnectionState = 'closed';
  token?: string;
  user?: UserInfo;

  constructor(opts: FerryClientOptions) {
    this.opts = opts;
    this.token = opts.token;
    this.address = opts.url;
  }

  /** Opens the connection (and authenticates when a token is set). */
  async connect(): Promise<void> {
    this.closedByUser = false;
    try {
      await this.open();
    } catch (err) {
      // With other addresses, a first one that cannot be reached is not the end: the
      // reconnect loop goes on to the next (within reconnectTimeoutMs).
      if (!this.opts.alternates?.length || (err as FerryError).code !== 'CONNECTION_LOST' || this.state === 'closed') throw err;
      await this.ready();
    }
  }

  /**
   * Signs in with a password; the token is kept for reconnects. `device` is the device
   * token an earlier sign-in returned (keep the reply's `device` for the next one).
   */
  async login(user: string, password: string, device?: string): Promise<ReplyBody<'login'>> {
    let reply: ReplyBody<'login'>;
    for (let attempt = 1; ; attempt++) {
      try {
        reply = await this.request('login', { user, password, device });
        break;
      } catch (err) {
        // The relay is checking many sign-ins at once: wait as it says, a few times.
        const e = err as FerryError;
        if (e.code !== 'RELAY_BUSY' || attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, Number(e.detail?.retryAfterMs ?? 1000) * (0.5 + Math.random())));
      }
    }
    this.token = reply.token;
    this.user = reply.user;
    return reply;
  }

  /** Signs in with a one-time code (`signin.code` on another device); the token is kept for reconnects. */
  async loginWithCode(code: string, device?: string): Promise<ReplyBody<'login.code'>> {
    const reply = await this.request('login.code', { code, device });
    this.token = reply.token;
    this.user = reply.user;
    return reply;
  }

  /** Ends the session on the relay and forgets the token. */
  async logout(): Promise<void> {
    await this.request('logout', {});
    this.token = undefined;
    this.user = undefined;
  }

  /** Sends one request and resolves with its validated reply, or rejects with a FerryError. */
  request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<ReplyBody<T>> {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return Promise.reject(new FerryError('CONNECTION_LOST', 'Not connected to the relay.'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { op: type, resolve, reject });
      socket.send(JSON.stringify({ ...body, type, id }));
    });
  }

  /** Sends one chunk frame. */
  sendChunk(handle: number, index: number, data: Uint8Array): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) throw new FerryError('CONNECTION_LOST', 'Not connected to the relay.');
    // Callers that can read straight into a frame-sized buffer leave the header room
    // free (see `frameBuffer`), which spares copying the chunk.
    if (data.byteOffset >= FRAME_HEADER_BYTES && isFrameBuffer(data)) {
      const frame = new Uint8Array(data.buffer, data.byteOffset - FRAME_HEADER_BYTES, data.byteLength + FRAME_HEADER_BYTES);
      frame.set(encodeChunkHeader(FRAME_UPLOAD_CHUNK, handle, index), 0);
      socket.send(frame);
      return;
    }
    const frame = new Uint8Array(FRAME_HEADER_BYTES + data.byteLength);
    frame.set(encodeChunkHeader(FRAME_UPLOAD_CHUNK, handle, index), 0);
    frame.set(data, FRAME_HEADER_BYTES);
    socket.send(frame);
  }

  /** Bytes queued in the socket and not yet handed to the network. */
  get bufferedAmount(): number {
    return this.socket?.bufferedAmount ?? 0;
  }

  onChunkEvents(handle: number, listener: (ev: ChunkEvent) => void): () => void {
    this.chunkListeners.set(handle, listener);
    return () => this.chunkListeners.delete(handle);
  }

  onDownloadFrames(handle: number, listener: (index: number, data: Uint8Array) => void): () => void {
    this.frameListeners.set(handle, listener);
    return () => this.frameListeners.delete(handle);
  }

  /** Changes to the library, pushed by the relay to every signed-in client. */
  /** Calls `listener` on every change of `state` (besides `onState` of the options). */
  onStateChange(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  onLibraryEvent(listener: (event: LibraryEvent) => void): () => void {
    this.libraryListeners.add(listener);
    return () => this.libraryListeners.delete(listener);
  }

  /** My share links as they change (downloads counted, revoked). */
  /** Calls `listener` when my spaces or my access in one changed (ask `spaces` again). */
  onSpacesChanged(listener: () => void): () => void {
    this.spacesListeners.add(listener);
    return () => this.spacesListeners.delete(listener);
  }

  onLinkChanged(listener: (link: ShareLinkInfo) => void): () => void {
    this.linkListeners.add(listener);
    return () => this.linkListeners.delete(listener);
  }

  /** Relay log lines, after a `log.subscribe` (admins). */
  onLogLine(listener: (line: Record<string, unknown>) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /** Resolves when the connection is open and authenticated (waiting through reconnects). */
  ready(): Promise<void> {
    // A socket that is closing while its close event has not run yet is not ready: waiting
    // for that event (and the reconnect after it) keeps a caller that retries on
    // CONNECTION_LOST from spinning without ever letting the event run.
    if (this.state === 'open' && this.socket?.readyState === OPEN) return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(new FerryError('CONNECTION_LOST', 'The connection is closed.'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Skips the rest of the backoff wait and tries to reconnect now (e.g. when the device comes online). */
  retryNow(): void {
    if (this.state !== 'reconnecting' || !this.reconnectTimer) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    this.attempt = 0;
    this.open().catch(() => {
      /* the close handler schedules the next attempt */
    });
  }

  /**
   * Gives up on the current socket (it stalled, or the device went offline) and
   * starts reconnecting; everything outstanding fails with CONNECTION_LOST and resumes.
   */
  dropConnection(reason: string): void {
    const socket = this.socket;
    if (!socket || this.state !== 'open') return;
    this.socket = undefined;
    clearInterval(this.watchdog);
    try {
      socket.close(4000, reason);
    } catch {
      /* already closing */
    }
    this.failAll(new FerryError('CONNECTION_LOST', `Connection to the relay lost: ${reason}.`));
    this.scheduleReconnect();
  }

  private startWatchdog(socket: WebSocketLike): void {
    clearInterval(this.watchdog);
    const limit = this.opts.livenessMs ?? 10_000;
    this.lastProgressAt = Date.now();
    this.lastBuffered = socket.bufferedAmount;
    let lastPing = Date.now();
    this.watchdog = setInterval(() => {
      if (this.socket !== socket) return clearInterval(this.watchdog);
      const now = Date.now();
      const buffered = socket.bufferedAmount;
      if (buffered < this.lastBuffered) this.lastProgressAt = now;
      this.lastBuffered = buffered;
      const busy = this.pending.size > 0 || this.chunkListeners.size > 0 || this.frameListeners.size > 0 || buffered > 0;
      if (!busy && now - lastPing >= limit) {
        lastPing = now;
        this.request('ping', {}).catch(() => {});
        return;
      }
      if (busy && now - this.lastProgressAt > limit) this.dropConnection(`no progress for ${Math.round(limit / 1000)} s`);
    }, Math.min(1000, limit / 4));
    (this.watchdog as { unref?: () => void }).unref?.();
  }

  /** Closes for good (no reconnect). */
  close(): void {
    this.closedByUser = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.watchdog);
    this.setState('closed');
    this.socket?.close(1000, 'bye');
    this.failAll(new FerryError('CONNECTION_LOST', 'The connection was closed.'));
    for (const w of this.waiters.splice(0)) w.reject(new FerryError('CONNECTION_LOST', 'The connection was closed.'));
  }

  private readonly stateListeners = new Set<(state: ConnectionState) => void>();

  private setState(state: ConnectionState, detail?: string) {
    this.state = state;
    this.opts.onState?.(state, detail);
    for (const l of this.stateListeners) l(state);
  }

  private open(): Promise<void> {
    this.setState(this.generation === 0 ? 'connecting' : 'reconnecting');
    return new Promise((resolve, reject) => {
      let socket: WebSocketLike;
      try {
        socket = this.opts.createSocket(this.address, SUBPROTOCOL);
      } catch (err) {
        reject(new FerryError('CONNECTION_LOST', `Cannot connect to ${this.address}: ${(err as Error).message}`));
        return;
      }
      socket.binaryType = 'arraybuffer';
      this.socket = socket;
      let opened = false;
      socket.addEventListener('open', async () => {
        opened = true;
        try {
          if (this.token) {
            const reply = await this.request('auth', { token: this.token });
            this.user = reply.user;
          }
          this.generation++;
          this.attempt = 0;
          this.firstFailureAt = 0;
          this.startWatchdog(socket);
          this.setState('open');
          for (const w of this.waiters.splice(0)) w.resolve();
          resolve();
        } catch (err) {
          // The connection dropped while authenticating: the close handler tries again.
          if ((err as FerryError).code === 'CONNECTION_LOST') {
            reject(err);
            return;
          }
          // A refused token is final: reconnecting would not help.
          this.closedByUser = true;
          socket.close(1000, 'auth failed');
          for (const w of this.waiters.splice(0)) w.reject(err as Error);
          reject(err);
        }
      });
      socket.addEventListener('message', (ev: { data: unknown }) => this.onMessage(ev.data));
      socket.addEventListener('close', (ev: { code?: number; reason?: string }) => {
        if (this.socket !== socket) return;
        clearInterval(this.watchdog);
        this.failAll(new FerryError('CONNECTION_LOST', `Connection to the relay lost${ev.reason ? `: ${ev.reason}` : ''}.`));
        if (!opened) reject(new FerryError('CONNECTION_LOST', `Cannot connect to ${this.address}${ev.reason ? `: ${ev.reason}` : ''}.`));
        this.scheduleReconnect();
      });
      socket.addEventListener('error', () => {
        /* 'close' follows and carries the consequences */
      });
    });
  }

  private scheduleReconnect() {
    if (this.closedByUser || this.opts.reconnect === false) {
      this.setState('closed');
      for (const w of this.waiters.splice(0)) w.reject(new FerryError('CONNECTION_LOST', 'Connection to the relay lost.'));
      return;
    }
    const now = Date.now();
    if (!this.firstFailureAt) this.firstFailureAt = now;
    const limit = this.opts.reconnectTimeoutMs;
    if (limit !== undefined && now - this.firstFailureAt > limit) {
      this.closedByUser = true;
      this.setState('closed', 'gave up reconnecting');
      for (const w of this.waiters.splice(0)) w.reject(new FerryError('CONNECTION_LOST', `Relay unreachable for ${Math.round(limit / 1000)} s.`));
      return;
    }
    this.setState('reconnecting');
    // With other relays to go to, the next attempt goes to the next one.
    const addresses = [this.opts.url, ...(this.opts.alternates ?? [])];
    this.address = addresses[(addresses.indexOf(this.address) + 1) % addresses.length];
    const delay = Math.min(10_000, 200 * 2 ** this.attempt++) * (0.75 + Math.random() * 0.5);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.open().catch(() => {
        /* the close handler schedules the next attempt */
      });
    }, delay);
  }

  private failAll(err: Error) {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private onMessage(data: unknown) {
    this.lastProgressAt = Date.now();
    if (typeof data !== 'string') {
      const frame = decodeChunkFrame(new Uint8Array(data as ArrayBuffer));
      if (frame.kind === FRAME_DOWNLOAD_CHUNK) this.frameListeners.get(frame.handle)?.(frame.index, frame.data);
      return;
    }
    let msg;
    try {
      msg = decodeRelayMessage(data);
    } catch {
      return; // a relay speaking another dialect; nothing sensible to do with the message
    }
    switch (msg.type) {
      case 'reply': {
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        try {
          p.resolve(parseReply(p.op, msg.body));
        } catch (err) {
          p.reject(err as Error);
        }
        return;
      }
      case 'error': {
        const err = new FerryError(isErrorCode(msg.code) ? msg.code : 'INTERNAL', msg.message, msg.detail);
        if (msg.id === undefined) return;
        const p = this.pending.get(msg.id);
        if (!p) return;
        this.pending.delete(msg.id);
        p.reject(err);
        return;
      }
      case 'chunk.ack':
        this.chunkListeners.get(msg.handle)?.({ type: 'chunk.ack', index: msg.index });
        return;
      case 'chunk.refused':
        this.chunkListeners.get(msg.handle)?.({ type: 'chunk.refused', index: msg.index, code: msg.code, message: msg.message });
        return;
      case 'log.line':
        for (const l of this.logListeners) l(msg.line);
        return;
      case 'library.event':
        for (const l of this.libraryListeners) l(msg.event);
        return;
      case 'spaces.changed':
        for (const l of this.spacesListeners) l();
        break;
      case 'link.changed':
        for (const l of this.linkListeners) l(msg.link);
        return;
    }
  }
}

const frameBuffers = new WeakSet<ArrayBufferLike>();

/**
 * A buffer for reading a chunk of `length` bytes with room for the frame header in
 * front, so `sendChunk` can send it without copying.
 */
export function frameBuffer(length: number): Uint8Array {
  const buf = new ArrayBuffer(FRAME_HEADER_BYTES + length);
  frameBuffers.add(buf);
  return new Uint8Array(buf, FRAME_HEADER_BYTES, length);
}

/**
 * Marks `buf` (at least FRAME_HEADER_BYTES + length long) as a frame buffer and returns
 * its chunk part: for buffers that come back as new ArrayBuffer objects after a
 * transfer (a BYOB read, a postMessage to a worker and back).
 */
export function adoptFrameBuffer(buf: ArrayBuffer, length: number): Uint8Array {
  if (buf.byteLength < FRAME_HEADER_BYTES + length) throw new RangeError('buffer too small for a frame');
  frameBuffers.add(buf);
  return new Uint8Array(buf, FRAME_HEADER_BYTES, length);
}

function isFrameBuffer(data: Uint8Array): boolean {
  return frameBuffers.has(data.buffer) && data.byteOffset === FRAME_HEADER_BYTES;
}
