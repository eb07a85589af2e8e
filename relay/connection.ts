/**
 * One client's WebSocket on the relay: decodes and validates every inbound frame,
 * enforces sign-in (re-checked against the database on every request, so a demotion,
 * a disabled account or a sign-out elsewhere applies at once), dispatches requests to
 * their handlers, turns every thrown error into exactly one error message, and keeps
 * what the relay buffers for this client bounded both ways: it stops reading the socket
 * while too many requests or chunk writes are pending, lets downloads wait for the send
 * buffer, drops live log lines for an admin who does not read them, and closes a
 * connection that does not read at all. Limits: relay/limits.ts.
 */
import type { Socket } from 'node:net';
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
import {
  LOG_SEND_BUFFER,
  MAX_PENDING_REQUESTS,
  MAX_PENDING_WRITES,
  PRE_AUTH_MAX_BYTES,
  PRE_AUTH_MAX_REFUSALS,
  PRE_AUTH_SILENCE_MS,
  SEND_BUFFER_HARD,
  SEND_BUFFER_SOFT,
} from './limits.js';
import { storageError } from './store/storage-error.js';
import type { LogLine } from './log.js';

/** Requests a connection may send before signing in. */
const PUBLIC_REQUESTS: ReadonlySet<RequestType> = new Set(['login', 'login.code', 'auth', 'ping']);

/** WebSocket close codes the relay uses (docs/limits.md). */
export const CLOSE = {
  /** The session ended: signed out, disabled, password reset. */
  SESSION_ENDED: 4001,
  /** Before sign-in: too many bytes, too many refusals, or silent too long. */
  SIGN_IN_FIRST: 4008,
  /** The client does not read what the relay sends. */
  TOO_SLOW: 4009,
  /** Too many unauthenticated connections from this address (or in all). */
  BUSY: 1013,
} as const;

export class ClientConnection {
  user?: User;
  tokenHash?: string;
  /** The device the session was opened on (sessions from before devices were recorded have none). */
  deviceHash?: string;
  sessionExpiresAt = 0;
  readonly uploads = new Map<number, ActiveUpload>();
  readonly downloads = new Map<number, { fileId: number; space: number; path: string; version: number }>();
  private nextHandle = 1;
  /** Ends this connection's live log subscription, if any. */
  logSubscription?: () => void;
  private droppedLogLines = 0;
  private pendingWrites = 0;
  private pendingRequests = 0;
  private paused = false;
  /** Download reads run one after another, so one connection holds at most one chunk waiting to be sent. */
  private downloadQueue: Promise<unknown> = Promise.resolve();
  readonly connectedAt = Date.now();
  bytesIn = 0;
  /** Bytes received before signing in; bounded by PRE_AUTH_MAX_BYTES. */
  private preAuthBytes = 0;
  private preAuthRefusals = 0;
  private silenceTimer?: ReturnType<typeof setTimeout>;
  /** When the send buffer last shrank (or was empty), for the stall check. */
  lastSendProgressAt = Date.now();
  private lastBuffered = 0;
  /** Pongs owed: the heartbeat closes a connection that owes two. */
  missedPongs = 0;

  constructor(
    readonly ctx: RelayContext,
    readonly ws: WebSocket,
    readonly address: string,
    socket?: Socket,
  ) {
    // Binary messages arrive as their fragments (browsers split a 4 MiB message into
    // ~30): the chunk is copied from them into a hash slot once, not joined first.
    ws.binaryType = 'fragments';
    ws.on('message', (data, isBinary) => this.onFrame(data as Buffer | Buffer[], isBinary));
    ws.on('pong', () => (this.missedPongs = 0));
    ws.on('close', () => {
      clearTimeout(this.silenceTimer);
      ctx.chunkBudget.forget(this.budgetRoom);
      this.logSubscription?.();
      for (const upload of this.uploads.values()) ctx.library.releaseUpload(upload);
      this.uploads.clear();
    });
    // Before sign-in, count raw bytes as they arrive: a huge frame is cut off after
    // PRE_AUTH_MAX_BYTES, long before `ws` would have buffered it whole.
    const onData = (chunk: Buffer) => {
      if (this.user) return socket?.off('data', onData);
      this.preAuthBytes += chunk.byteLength;
      if (this.preAuthBytes > PRE_AUTH_MAX_BYTES) this.refuseUnauthenticated(`sent over ${PRE_AUTH_MAX_BYTES} bytes before signing in`);
    };
    socket?.on('data', onData);
    this.armSilenceTimer();
  }

  /** An unauthenticated connection must say something every PRE_AUTH_SILENCE_MS. */
  private armSilenceTimer(): void {
    clearTimeout(this.silenceTimer);
    if (this.user) return;
    this.silenceTimer = setTimeout(() => {
      if (this.user) return;
      // Waiting for the relay (a sign-in being checked) is not silence.
      if (this.pendingRequests > 0) return this.armSilenceTimer();
      this.refuseUnauthenticated(`silent for ${PRE_AUTH_SILENCE_MS / 1000} s before signing in`);
    }, PRE_AUTH_SILENCE_MS);
    this.silenceTimer.unref?.();
  }

  private refuseUnauthenticated(why: string): void {
    this.ctx.logRefusal({ event: 'connection.refused', addr: this.address, why }, 'unauthenticated connection closed');
    this.ws.close(CLOSE.SIGN_IN_FIRST, 'sign in first');
    // Do not wait for the peer's closing handshake: it may never read.
    setTimeout(() => this.ws.terminate(), 1000).unref?.();
  }

  /** A fresh handle for an upload or download on this connection. */
  handle(): number {
    return this.nextHandle++;
  }

  /**
   * Sends a JSON message. A connection whose send buffer is past SEND_BUFFER_HARD does
   * not read: it is closed rather than buffered for without end.
   */
  send(message: object): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > SEND_BUFFER_HARD) return this.closeTooSlow();
    this.corkUntilIdle();
    this.ws.send(JSON.stringify(message));
  }

  private corked = false;

  /**
   * Holds this turn's messages in the socket and writes them together at the end of it
   * (many small files mean many replies and acks at once: one write each cost more than
   * the rest of their handling).
   */
  private corkUntilIdle(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: { cork(): void; uncork(): void; destroyed: boolean } })._socket;
    if (!socket) return;
    socket.cork();
    this.corked = true;
    setImmediate(() => {
      this.corked = false;
      if (!socket.destroyed) socket.uncork();
    });
  }

  /** Closes a connection that does not read what the relay sends. */
  closeTooSlow(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ctx.log.warn({ event: 'connection.slow', user: this.user?.name, addr: this.address, buffered: this.ws.bufferedAmount }, 'client does not read; connection closed');
    this.ws.close(CLOSE.TOO_SLOW, 'not reading');
    setTimeout(() => this.ws.terminate(), 1000).unref?.();
  }

  /** A live log line for a subscribed admin; dropped (and the gap reported later) while they do not keep up. */
  sendLogLine(line: LogLine): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > LOG_SEND_BUFFER) {
      this.droppedLogLines++;
      return;
    }
    if (this.droppedLogLines > 0) {
      const dropped = this.droppedLogLines;
      this.droppedLogLines = 0;
      this.send({ type: 'log.line', line: { time: new Date().toISOString(), level: 40, event: 'log.dropped', dropped, msg: `${dropped} log lines were not sent: this connection did not keep up` } });
    }
    this.send({ type: 'log.line', line });
  }

  /**
   * Sends a download chunk frame read straight from the chunk store into the frame (no
   * copy where the store can read into a buffer); resolves when `ws` has written it.
   */
  async sendStoredChunk(kind: number, handle: number, index: number, hash: string, length: number): Promise<void> {
    const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
    frame.set(encodeChunkHeader(kind, handle, index), 0);
    const body = frame.subarray(FRAME_HEADER_BYTES);
    const data = await this.ctx.library.chunks.getRange(hash, 0, length, body);
    if (data.byteLength !== length) throw new FerryError('INTEGRITY_FAILED', `Chunk ${index} has ${data.byteLength} bytes in storage, not ${length}.`, { index });
    if (data.buffer !== body.buffer || data.byteOffset !== body.byteOffset) body.set(data);
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== this.ws.OPEN) return reject(new FerryError('CONNECTION_LOST'));
      this.ws.send(frame, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Runs download reads one at a time on this connection. */
  queueDownload<T>(work: () => Promise<T>): Promise<T> {
    const run = this.downloadQueue.then(work, work);
    this.downloadQueue = run.catch(() => {});
    return run;
  }

  /** Waits while the send buffer holds more than SEND_BUFFER_SOFT (the stall check closes a connection that never drains). */
  async sendRoom(): Promise<void> {
    while (this.ws.readyState === this.ws.OPEN && this.ws.bufferedAmount > SEND_BUFFER_SOFT) await new Promise((r) => setTimeout(r, 20));
    if (this.ws.readyState !== this.ws.OPEN) throw new FerryError('CONNECTION_LOST');
  }

  /** For the relay's periodic check: true when the send buffer has not shrunk since `since`. */
  sendStalledSince(now: number): number {
    const buffered = this.ws.bufferedAmount;
    if (buffered === 0 || buffered < this.lastBuffered) this.lastSendProgressAt = now;
    this.lastBuffered = buffered;
    return now - this.lastSendProgressAt;
  }

  /**
   * The signed-in user, as `checkUser` last found them in the database (at the start of
   * this request); throws AUTH_REQUIRED.
   */
  requireUser(): User {
    if (!this.user || !this.tokenHash) throw new FerryError('AUTH_REQUIRED');
    return this.user;
  }

  /**
   * Looks the session and its user up again (any relay may have changed them); throws
   * AUTH_REQUIRED or SESSION_EXPIRED. Done before every request and every chunk's ack,
   * so a demotion, a disabled account or a sign-out elsewhere applies at once.
   */
  async checkUser(): Promise<User> {
    const tokenHash = this.tokenHash;
    if (!this.user || !tokenHash) throw new FerryError('AUTH_REQUIRED');
    try {
      const { user, expiresAt } = await this.ctx.accounts.checkSession(tokenHash);
      // Signed out (or in as someone else) while the lookup ran: that answer is stale.
      if (this.tokenHash !== tokenHash) throw new FerryError('AUTH_REQUIRED');
      this.applyUser(user);
      this.sessionExpiresAt = expiresAt;
      return user;
    } catch (err) {
      if (this.tokenHash === tokenHash) this.signOut();
      throw err;
    }
  }

  /** Takes a changed user (role, disabled) into this connection: an admin's powers end with their role. */
  applyUser(user: User): void {
    this.user = user;
    if (user.role !== 'admin' && this.logSubscription) {
      this.logSubscription();
      this.logSubscription = undefined;
    }
  }

  /** This connection is no longer signed in (it may sign in again). */
  signOut(): void {
    this.user = undefined;
    this.tokenHash = undefined;
    this.logSubscription?.();
    this.logSubscription = undefined;
    for (const upload of this.uploads.values()) this.ctx.library.releaseUpload(upload);
    this.uploads.clear();
    this.downloads.clear();
    this.armSilenceTimer();
  }

  /** Signs this connection in (login or auth). */
  signIn(user: User, tokenHash: string, expiresAt: number, deviceHash?: string): void {
    this.user = user;
    this.tokenHash = tokenHash;
    this.deviceHash = deviceHash;
    this.sessionExpiresAt = expiresAt;
    clearTimeout(this.silenceTimer);
    this.ctx.signedIn(this);
  }

  private onFrame(data: Buffer | Buffer[], isBinary: boolean): void {
    if (!this.user) this.armSilenceTimer();
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
      this.refused({ event: 'refused', code: e.code, user: this.user?.name, addr: this.address }, e.message);
      this.send(errorMessage(e.code, e.message, e.detail?.id as number | undefined));
      return;
    }
    this.pendingRequests++;
    if (this.pendingRequests >= MAX_PENDING_REQUESTS) this.pauseReading();
    void this.dispatch(msg).finally(() => {
      this.pendingRequests--;
      this.maybeResume();
    });
  }

  /**
   * Logs a refusal (rate-limited relay-wide) and closes an unauthenticated connection that
   * keeps sending junk. Refused sign-ins do not count here: the throttle governs them.
   */
  private refused(fields: Record<string, unknown>, message: string): void {
    this.ctx.logRefusal(fields, message);
    const signInAnswer = fields.code === 'LOGIN_FAILED' || fields.code === 'LOGIN_THROTTLED' || fields.code === 'RELAY_BUSY';
    if (!this.user && !signInAnswer && ++this.preAuthRefusals > PRE_AUTH_MAX_REFUSALS) this.refuseUnauthenticated(`${PRE_AUTH_MAX_REFUSALS} refused messages before signing in`);
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.ws.pause();
  }

  /** The relay-wide chunk budget has room again. */
  private readonly budgetRoom = () => this.maybeResume();

  private maybeResume(): void {
    if (this.paused && this.ctx.chunkBudget.full) return this.ctx.chunkBudget.whenRoom(this.budgetRoom);
    if (this.paused && this.pendingWrites <= MAX_PENDING_WRITES / 2 && this.pendingRequests <= MAX_PENDING_REQUESTS / 2) {
      this.paused = false;
      this.ws.resume();
    }
  }

  private async dispatch(msg: ClientMessage): Promise<void> {
    try {
      if (!PUBLIC_REQUESTS.has(msg.type)) await this.checkUser();
      const handler = HANDLERS[msg.type] as (conn: ClientConnection, msg: ClientMessage) => Promise<object>;
      const body = await handler(this, msg);
      this.send({ type: 'reply', id: msg.id, op: msg.type, body });
    } catch (err) {
      this.sendError(storageError(err), msg.id, msg.type);
    }
  }

  private sendError(err: unknown, id: number | undefined, op: string): void {
    // The peer is gone (or going): nobody to answer, nothing to log.
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (err instanceof FerryError) {
      if (err.code !== 'LOGIN_FAILED') this.refused({ event: 'refused', op, code: err.code, user: this.user?.name, addr: this.address }, err.message);
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
      const bytes = frame.length;
      const budget = this.ctx.chunkBudget;
      budget.take(bytes);
      if (this.pendingWrites >= MAX_PENDING_WRITES) this.pauseReading();
      if (budget.full) {
        this.pauseReading();
        budget.whenRoom(this.budgetRoom);
      }
      // Stored while the session is looked up again; acknowledged only when both are fine.
      const stored = this.ctx.library.storeChunk(upload, index, frame.data);
      Promise.all([stored, this.checkUser()])
        .then(
          () => this.send({ type: 'chunk.ack', handle, index }),
          (err) => this.refuseChunk(handle, index, err),
        )
        .finally(() => {
          this.pendingWrites--;
          budget.give(bytes);
          this.maybeResume();
        });
    } catch (err) {
      this.refuseChunk(handle, index, err);
    }
  }

  private refuseChunk(handle: number, index: number, err: unknown): void {
    const known = storageError(err);
    const e = known instanceof FerryError ? known : new FerryError('STORAGE_FAILED');
    if (!(known instanceof FerryError)) this.ctx.log.error({ event: 'error', op: 'chunk', err, user: this.user?.name }, 'storing a chunk failed');
    else this.refused({ event: 'chunk.refused', code: e.code, handle, index, user: this.user?.name, addr: this.address }, e.message);
    if (e.code === 'AUTH_REQUIRED' || e.code === 'SESSION_EXPIRED' || e.code === 'BAD_MESSAGE') {
      this.send(errorMessage(e.code, e.message));
      return;
    }
    this.send({ type: 'chunk.refused', handle, index, code: e.code, message: e.message });
  }
}
