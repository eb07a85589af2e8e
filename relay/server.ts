/**
 * The relay process: one HTTP server carrying the web app, the setup page and the
 * WebSocket endpoint `/ws` (protocol v2, `ws` with bufferutil).
 */
import { ChunkBudget } from './chunk-budget.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { Accounts } from './auth/accounts.js';
import type { RelayConfig } from './config.js';
import { CLOSE, ClientConnection } from './connection.js';
import type { RelayContext } from './context.js';
import { createHttpHandler } from './http.js';
import { overTls, peerOf } from './peer.js';
import { Library } from './library.js';
import { ShareLinks, linkInfo } from './links/share-links.js';
import { createLogger, RefusalLog } from './log.js';
import { SharedLogFeed, localLogFeed } from './shared-log.js';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES, SUBPROTOCOL, WS_PATH, type LibraryEvent } from './protocol/index.js';
import type { ChunkStore } from './store/chunk-store.js';
import type { MetaStore } from './store/meta-store.js';
import { FsChunkStore } from './store/fs-chunk-store.js';
import { S3ChunkStore } from './store/s3-chunk-store.js';
import { unfinishedMigration } from './store/migrate.js';
import { openMetaStore } from './store/open-meta-store.js';
import { MediaServer } from './media/media-http.js';
import { ZipDownloads } from './zip/zip-download.js';
import { AutoCredentials, FileCredentials, type CredentialSource } from './tls/certificates.js';
import { handleConnect, handleConnectInfo, type ConnectInfo } from './tls/connect-http.js';
import { frontDoor, isLoopback, PLAIN_PATHS, redirectToHttps } from './tls/front-door.js';
import { HEARTBEAT_MS, HTTP_IDLE_MS, MAX_CHUNK_BYTES_IN_FLIGHT, MAX_UNAUTH_CONNECTIONS, MAX_UNAUTH_PER_ADDRESS, STALL_MS } from './limits.js';

export interface Relay extends RelayContext {
  /** The plain-HTTP server (all of it with `--tls off`; this machine's plain requests otherwise). */
  server: Server;
  /** The HTTPS server, when the relay speaks TLS. */
  secureServer?: HttpsServer;
  /** Where its certificate comes from, when it speaks TLS. */
  tls?: CredentialSource;
  /** Reads or issues the certificate again if due at `now` (a timer calls this); true when it changed. */
  renewTls(now: number): Promise<boolean>;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** The redirect port actually bound, when there is one. */
  redirectPort?: number;
  /** A one-time setup token when the relay has no admin yet. */
  setupToken?: string;
  close(): Promise<void>;
}

/** The names this machine answers to: localhost, its host name (and `.local`), every interface address. */
export function machineHosts(): Set<string> {
  const hosts = new Set(['localhost', '127.0.0.1', '[::1]']);
  const name = os.hostname().toLowerCase();
  hosts.add(name);
  hosts.add(`${name.split('.')[0]}.local`);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) hosts.add(a.family === 'IPv6' ? `[${a.address.split('%')[0].toLowerCase()}]` : a.address);
  }
  return hosts;
}

/**
 * Is this browser origin allowed to open the WebSocket? Browsers always send Origin;
 * other clients (the CLI) send none and are let through: Origin protects browsers from
 * other sites' pages, the session token protects everything.
 *
 * Allowed: an origin listed in `allowed`, or the relay's own origin — same scheme, and
 * a host equal to the request's Host *and* one of the relay's own names (`hosts`, or
 * this machine's names and addresses). The last part defeats DNS rebinding, where a
 * hostile name resolves to the relay and the page's origin then equals its Host.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: string[], opts: { scheme?: 'http:' | 'https:'; hosts?: string[] } = {}): boolean {
  if (!origin) return true;
  if (allowed.includes(origin)) return true;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false;
  }
  if (o.protocol !== (opts.scheme ?? 'http:') || o.host !== host) return false;
  const hosts = opts.hosts ?? [];
  if (hosts.includes('*') || hosts.includes(o.hostname.toLowerCase())) return true;
  for (const a of allowed) {
    try {
      if (new URL(a).hostname.toLowerCase() === o.hostname.toLowerCase()) return true;
    } catch {
      /* not a URL */
    }
  }
  return machineHosts().has(o.hostname.toLowerCase());
}

/** The key that signs share-link password cookies; kept in the data folder so they survive restarts. */
/**
 * The key that signs link unlock cookies and media keys. Every relay on one database
 * shares it, so a cookie or key made by one is good at any other (a load balancer need
 * not be sticky). A relay from before keeps the key its data folder has.
 */
async function linkSecret(meta: MetaStore, dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, 'link-secret');
  const value = await meta.sharedValue('link-secret', () => (existsSync(file) ? readFileSync(file) : randomBytes(32)).toString('base64'));
  return Buffer.from(value, 'base64');
}

/**
 * Only the relay's user may read its data: everything it creates is 0600 (folders
 * 0700), and an older data folder is tightened at start. Chunk files inside `chunks/`
 * are out of reach once their folder is.
 */
function keepPrivate(dataDir: string): void {
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tighten = (p: string, mode: number) => {
    try {
      chmodSync(p, mode);
    } catch {
      /* absent, or not ours: nothing to tighten */
    }
  };
  tighten(dataDir, 0o700);
  for (const dir of ['chunks', 'logs']) tighten(path.join(dataDir, dir), 0o700);
  for (const file of ['ferry.db', 'ferry.db-wal', 'ferry.db-shm', 'link-secret']) tighten(path.join(dataDir, file), 0o600);
}

/** The names and addresses a `--tls auto` certificate covers: this machine's, `--hosts`, and the public URL's. */
function certificateNames(config: RelayConfig): string[] {
  const names = new Set([...machineHosts()].map((h) => h.replace(/^\[|\]$/g, '')));
  for (const h of config.hosts) if (h !== '*') names.add(h);
  if (config.publicUrl) names.add(new URL(config.publicUrl).hostname.replace(/^\[|\]$/g, ''));
  return [...names].sort();
}

/** This machine's IPv4 addresses on its networks (not loopback): where other devices reach it. */
export function lanAddresses(): string[] {
  const found: string[] = [];
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) found.push(a.address);
  return found;
}

/** How often certificate files are looked at again, and an automatic certificate checked for renewal. */
const TLS_FILES_CHECK_MS = 2_000;
const TLS_AUTO_CHECK_MS = 3_600_000;

/** The chunk store the settings name; an S3 bucket is reached (and made if missing) before the relay starts. */
export async function openChunkStore(config: Pick<RelayConfig, 'chunks' | 'dataDir'>): Promise<ChunkStore & { close?: () => void }> {
  if (config.chunks.kind === 'files') return new FsChunkStore(config.chunks.dir ?? path.join(config.dataDir, 'chunks'));
  const store = new S3ChunkStore(config.chunks);
  try {
    await store.open();
  } catch (err) {
    store.close();
    throw err;
  }
  return store;
}

export async function startRelay(config: RelayConfig): Promise<Relay> {
  keepPrivate(config.dataDir);
  const { log, close: closeLog, hub: logHub } = createLogger(config.dataDir, config.logLevel);
  const meta = await openMetaStore(config, { serving: true });
  const unfinished = await unfinishedMigration(meta);
  if (unfinished !== undefined) {
    await meta.close();
    throw new Error(`This database holds an unfinished copy of ${unfinished} (ferry migrate stopped before the end). Run the same ferry migrate command again to finish it.`);
  }
  const chunks = await openChunkStore(config).catch(async (err) => {
    await meta.close();
    throw err;
  });
  const library = new Library(chunks, meta, {
    retention: { keepVersions: config.keepVersions, keepDays: config.keepDays },
    history: config.history,
    uploadExpiryMs: config.uploadExpiryMs,
    gcGraceMs: config.gcGraceMs,
    quotaBytes: config.quotaBytes,
    trashDays: config.trashDays,
  }, log);
  await library.start();
  const logFeed = meta.sharedByRelays ? new SharedLogFeed(meta, logHub, os.hostname(), (fields, msg) => log.warn(fields, msg)) : localLogFeed(logHub);
  if (logFeed instanceof SharedLogFeed) await logFeed.start();
  const accounts = new Accounts(meta, config.sessionTtlMs);
  const connections = new Set<ClientConnection>();
  /** Unauthenticated connections per address. */
  const unauthenticated = new Map<string, Set<ClientConnection>>();
  let unauthenticatedTotal = 0;
  const forgetUnauthenticated = (conn: ClientConnection) => {
    const set = unauthenticated.get(conn.address);
    if (!set?.delete(conn)) return;
    unauthenticatedTotal--;
    if (set.size === 0) unauthenticated.delete(conn.address);
  };
  const refusals = new RefusalLog(log);
  /** What this relay does for its own connections; other relays on the database do the same when told (`announce`). */
  const local = {
    disconnectUser(userId: number, except?: unknown): number {
      let n = 0;
      for (const c of connections) {
        if (c.user?.id !== userId || c === except) continue;
        c.signOut();
        c.ws.close(CLOSE.SESSION_ENDED, 'session ended');
        n++;
      }
      return n;
    },
    disconnectSession(tokenHash: string, except?: unknown): number {
      let n = 0;
      for (const c of connections) {
        if (c.tokenHash !== tokenHash || c === except) continue;
        c.signOut();
        c.ws.close(CLOSE.SESSION_ENDED, 'signed out');
        n++;
      }
      return n;
    },
    async refreshUser(userId: number): Promise<void> {
      const user = await meta.getUser(userId);
      for (const c of connections) if (c.user?.id === userId && user) c.applyUser(user);
    },
    spacesChanged(userIds?: number[]): void {
      const who = userIds && new Set(userIds);
      for (const c of connections) if (c.user && (!who || who.has(c.user.id))) c.send({ type: 'spaces.changed' });
    },
    async linkChanged(linkId: string): Promise<void> {
      const link = await meta.getLink(linkId).catch(() => undefined);
      if (!link) return;
      const info = linkInfo(link, config.publicUrl);
      for (const c of connections) if (c.user?.id === link.ownerId) c.send({ type: 'link.changed', link: info });
    },
  };
  type Announcement =
    | { kind: 'user.off' | 'user'; user: number }
    | { kind: 'session.off'; session: string }
    | { kind: 'spaces'; users?: number[] }
    | { kind: 'link'; link: string };
  const relayId = randomUUID();
  const announce = (a: Announcement) => {
    if (!meta.sharedByRelays) return;
    meta.announce(JSON.stringify({ ...a, from: relayId })).catch((err) => log.warn({ event: 'announce.failed', err: (err as Error).message }, 'could not tell the other relays'));
  };
  const heard = (payload: string) => {
    let a: Announcement & { from?: string };
    try {
      a = JSON.parse(payload);
    } catch {
      return;
    }
    if (a.from === relayId) return;
    if (a.kind === 'user.off') local.disconnectUser(a.user);
    else if (a.kind === 'session.off') local.disconnectSession(a.session);
    else if (a.kind === 'user') void local.refreshUser(a.user).catch(() => {});
    else if (a.kind === 'spaces') local.spacesChanged(a.users);
    else if (a.kind === 'link') void local.linkChanged(a.link).catch(() => {});
  };
  const stopHearing = meta.sharedByRelays ? await meta.watchAnnouncements(heard) : undefined;
  const ctx: RelayContext = {
    config,
    library,
    accounts,
    log,
    logFeed,
    links: new ShareLinks(library),
    chunkBudget: new ChunkBudget(MAX_CHUNK_BYTES_IN_FLIGHT),
    // Set just below: the zip downloads need the context itself.
    zips: undefined as unknown as ZipDownloads,
    media: undefined as unknown as MediaServer,
    disconnectUser(userId, except) {
      announce({ kind: 'user.off', user: userId });
      return local.disconnectUser(userId, except);
    },
    disconnectSession(tokenHash, except) {
      announce({ kind: 'session.off', session: tokenHash });
      return local.disconnectSession(tokenHash, except);
    },
    async refreshUser(userId) {
      announce({ kind: 'user', user: userId });
      await local.refreshUser(userId);
    },
    signedIn: forgetUnauthenticated,
    spacesChanged(userIds) {
      // Past a few hundred ids the payload would be too long: everyone looks again.
      announce({ kind: 'spaces', users: userIds && userIds.length <= 500 ? userIds : undefined });
      local.spacesChanged(userIds);
    },
    async linkChanged(linkId) {
      announce({ kind: 'link', link: linkId });
      await local.linkChanged(linkId);
    },
    logRefusal: (fields, message) => refusals.write(fields, message),
  };

  ctx.zips = new ZipDownloads(ctx);
  const secret = await linkSecret(meta, config.dataDir);
  ctx.media = new MediaServer(ctx, secret);

  // Every signed-in client hears about every change to the library.
  // Delivered one event after another, so every client sees them in order.
  let delivering = Promise.resolve();
  const deliver = async (event: LibraryEvent) => {
    // Only to those who can see the space: a private space's changes go to its owner alone.
    const allowed = new Map<number, boolean>();
    const sees = async (userId: number, space: number | undefined) => space !== undefined && (await meta.accessOf(userId, space)) !== undefined;
    for (const c of connections) {
      if (!c.user) continue;
      let ok = allowed.get(c.user.id);
      if (ok === undefined) allowed.set(c.user.id, (ok = (await sees(c.user.id, event.space)) || (await sees(c.user.id, event.fromSpace))));
      if (ok) c.send({ type: 'library.event', event });
    }
  };
  library.onChange((event) => {
    delivering = delivering.then(() => deliver(event)).catch((err) => log.error({ event: 'error', op: 'library.event', err }, 'a library event was not delivered'));
  });

  const label = os.hostname();
  const tls: CredentialSource | undefined =
    config.tls === 'auto'
      ? await AutoCredentials.open(path.join(config.dataDir, 'tls'), label, () => certificateNames(config), Date.now())
      : config.tls === 'files'
        ? new FileCredentials(config.tlsCert!, config.tlsKey!)
        : undefined;
  const handle = createHttpHandler(ctx, secret);
  let boundPort = config.port;
  const connectInfo = (): ConnectInfo => {
    const scheme = tls ? 'https' : 'http';
    const everywhere = config.host === '0.0.0.0' || config.host === '::';
    const hosts = everywhere ? lanAddresses() : !isLoopback(config.host) && config.host !== 'localhost' ? [config.host] : [];
    const lan = hosts.map((h) => `${scheme}://${h}:${boundPort}`);
    // Names given with --hosts are names people reach the relay by (a LAN's DNS, mDNS).
    const named = config.hosts.filter((h) => h !== '*').map((h) => `${scheme}://${h}:${boundPort}`);
    return { tls: config.tls, fingerprint: tls?.ca?.fingerprint, urls: config.publicUrl ? [config.publicUrl] : [...named, ...lan] };
  };
  // With TLS, plain HTTP is served in full only to this machine (see front-door.ts).
  const plainFromElsewhere = (req: IncomingMessage) => !!tls && !overTls(req) && !isLoopback(req.socket.remoteAddress);
  const serve = (req: IncomingMessage, res: ServerResponse, redirectPort?: number) => {
    const pathname = (req.url ?? '/').split('?')[0];
    if (pathname === '/connect.json') return handleConnectInfo(res, connectInfo());
    if (tls?.ca && handleConnect(req, res, pathname, tls.ca, label)) return;
    if ((plainFromElsewhere(req) || (tls && redirectPort !== undefined)) && !PLAIN_PATHS.has(pathname)) return redirectToHttps(req, res, redirectPort);
    void handle(req, res);
  };
  const server = createServer((req, res) => serve(req, res));
  const secureServer = tls ? createHttpsServer({ ...tls.current }, serve) : undefined;
  // A socket with no traffic either way for this long is closed (a link download nobody
  // reads, a request that never finishes); WebSocket upgrades turn this off for theirs.
  server.timeout = HTTP_IDLE_MS;
  if (secureServer) secureServer.timeout = HTTP_IDLE_MS;
  const wss = new WebSocketServer({
    noServer: true,
    // Chunk frames are the largest messages; control messages are bounded again, lower,
    // when parsed, and unauthenticated connections much lower (see ClientConnection).
    maxPayload: MAX_CHUNK_BYTES + FRAME_HEADER_BYTES,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  const upgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const peer = peerOf(req, config.trustProxy);
    const refuse = (status: number, code: string, message: string) => {
      ctx.logRefusal({ event: 'upgrade.refused', code, origin: req.headers.origin, host: req.headers.host, addr: peer.address }, message);
      socket.end(`HTTP/1.1 ${status} ${message}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${code}: ${message}\n`);
    };
    const url = new URL(req.url ?? '/', 'http://relay');
    if (url.pathname !== WS_PATH) return refuse(404, 'NOT_FOUND', 'Not Found');
    if (plainFromElsewhere(req)) return refuse(426, 'TLS_REQUIRED', 'Upgrade Required: this relay speaks HTTPS, connect with wss://');
    const origins = config.publicUrl ? [...config.origins, config.publicUrl] : config.origins;
    if (!originAllowed(req.headers.origin, req.headers.host, origins, { hosts: config.hosts, scheme: peer.secure ? 'https:' : 'http:' })) {
      return refuse(403, 'ORIGIN_REFUSED', `Forbidden: a page at ${req.headers.origin} may not connect (see --origins and --hosts)`);
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!offered.includes(SUBPROTOCOL)) return refuse(426, 'BAD_MESSAGE', `Upgrade Required: speak ${SUBPROTOCOL}`);
    const address = peer.address;
    const mine = unauthenticated.get(address)?.size ?? 0;
    if (mine >= MAX_UNAUTH_PER_ADDRESS || unauthenticatedTotal >= MAX_UNAUTH_CONNECTIONS) {
      return refuse(503, 'RELAY_BUSY', 'Service Unavailable: too many connections waiting to sign in');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new ClientConnection(ctx, ws, address, socket);
      connections.add(conn);
      let set = unauthenticated.get(address);
      if (!set) unauthenticated.set(address, (set = new Set()));
      set.add(conn);
      unauthenticatedTotal++;
      ws.on('close', () => {
        connections.delete(conn);
        forgetUnauthenticated(conn);
      });
      log.info({ event: 'connect', addr: address, ua: req.headers['user-agent'] }, 'client connected');
      ws.on('close', (code) => {
        log.info({ event: 'disconnect', addr: address, user: conn.user?.name, code, bytesIn: conn.bytesIn, seconds: (Date.now() - conn.connectedAt) / 1000 }, 'client disconnected');
      });
      // A frame that breaks the protocol (too long, bad opcode, bad UTF-8): ws would send a
      // close frame and keep reading, discarding, for up to 30 s while a hostile peer keeps
      // sending. Nothing good comes from this peer any more: drop the socket now.
      ws.on('error', (err) => {
        ctx.logRefusal({ event: 'socket.error', addr: address, err: err.message }, 'socket error');
        ws.terminate();
      });
    });
  };
  server.on('upgrade', upgrade);
  secureServer?.on('upgrade', upgrade);

  // Dead peers and peers that do not read: ping every HEARTBEAT_MS, close a connection
  // that missed two pongs or whose send buffer has not shrunk for STALL_MS.
  let lastBeat = Date.now();
  const watch = setInterval(() => {
    const now = Date.now();
    const beat = now - lastBeat >= HEARTBEAT_MS;
    if (beat) lastBeat = now;
    for (const c of connections) {
      if (c.sendStalledSince(now) > STALL_MS) {
        c.closeTooSlow();
        continue;
      }
      if (!beat) continue;
      if (c.missedPongs >= 2) {
        log.warn({ event: 'connection.dead', user: c.user?.name, addr: c.address }, 'no pong: connection closed');
        c.ws.terminate();
        continue;
      }
      c.missedPongs++;
      c.ws.ping();
    }
  }, Math.max(250, Math.min(5000, STALL_MS / 4, HEARTBEAT_MS / 4)));
  watch.unref();

  let setupToken: string | undefined;
  if (await meta.countAdmins() === 0) {
    try {
      setupToken = await accounts.createSetupToken();
    } catch (err) {
      log.error({ event: 'setup', err }, 'could not create the setup token (is the disk full?)');
    }
  }

  const listener = secureServer ? frontDoor(server, secureServer, HTTP_IDLE_MS) : server;
  const listen = (what: { once: Server['once']; listen: Server['listen']; address: Server['address'] }, at: number) =>
    new Promise<number>((resolve, reject) => {
      what.once('error', reject);
      what.listen(at, config.host, () => {
        const a = what.address();
        resolve(typeof a === 'object' && a ? a.port : at);
      });
    });
  const port = await listen(listener as Server, config.port);
  boundPort = port;
  if (logFeed instanceof SharedLogFeed) logFeed.relay = `${os.hostname()}:${port}`;
  let redirector: Server | undefined;
  let redirectPort: number | undefined;
  if (secureServer && config.redirectPort) {
    redirector = createServer((req, res) => serve(req, res, port));
    redirector.timeout = HTTP_IDLE_MS;
    redirectPort = await listen(redirector, config.redirectPort);
  }
  log.info({ event: 'start', port, host: config.host, data: config.dataDir, tls: config.tls, redirectPort }, 'relay started');

  const renewTls = async (now: number): Promise<boolean> => {
    if (!tls || !secureServer || !(await tls.refresh(now))) return false;
    secureServer.setSecureContext({ ...tls.current });
    log.info({ event: 'tls.renewed', mode: config.tls }, 'certificate replaced');
    return true;
  };
  const tlsTimer = tls
    ? setInterval(() => void renewTls(Date.now()).catch((err) => log.error({ event: 'tls.renewed', err }, 'could not renew the certificate')), config.tls === 'files' ? TLS_FILES_CHECK_MS : TLS_AUTO_CHECK_MS)
    : undefined;
  tlsTimer?.unref();

  const sweep = () =>
    library
      .sweep()
      .then(() => ctx.media.sweepThumbnails())
      .then((thumbs) => thumbs && log.info({ event: 'sweep', thumbnails: thumbs }, 'thumbnails of deleted content removed'))
      .catch((err) => log.error({ event: 'sweep', err }, 'sweep failed'));
  const sweepTimer = setInterval(sweep, 3_600_000);
  sweepTimer.unref();
  const firstSweep = setTimeout(sweep, 10_000);
  firstSweep.unref();

  return {
    ...ctx,
    server,
    secureServer,
    tls,
    renewTls,
    port,
    redirectPort,
    setupToken,
    async close() {
      clearInterval(tlsTimer);
      clearInterval(sweepTimer);
      clearInterval(watch);
      clearTimeout(firstSweep);
      await library.close();
      await logFeed.close();
      await stopHearing?.();
      for (const ws of wss.clients) ws.terminate();
      const closing = [server, secureServer, redirector, listener === server ? undefined : listener].filter(Boolean) as { close(cb: () => void): unknown }[];
      const closed = Promise.all(closing.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      server.closeAllConnections?.();
      secureServer?.closeAllConnections?.();
      redirector?.closeAllConnections?.();
      await closed;
      await meta.close();
      chunks.close?.();
      log.info({ event: 'stop' }, 'relay stopped');
      closeLog();
    },
  };
}
