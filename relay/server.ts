/**
 * The relay process: one HTTP server carrying the web app, the setup page and the
 * WebSocket endpoint `/ws` (protocol v1, `ws` with bufferutil).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { Accounts } from './auth/accounts.js';
import type { RelayConfig } from './config.js';
import { ClientConnection } from './connection.js';
import type { RelayContext } from './context.js';
import { createHttpHandler } from './http.js';
import { Library } from './library.js';
import { ShareLinks } from './links/share-links.js';
import { createLogger } from './log.js';
import { FRAME_HEADER_BYTES, MAX_CHUNK_BYTES, MAX_CONTROL_BYTES, SUBPROTOCOL, WS_PATH } from './protocol/index.js';
import { FsChunkStore } from './store/fs-chunk-store.js';
import { SqliteMetaStore } from './store/sqlite-meta-store.js';

export interface Relay extends RelayContext {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  /** A one-time setup token when the relay has no admin yet. */
  setupToken?: string;
  close(): Promise<void>;
}

/** Is this browser origin allowed to open the WebSocket? Same origin always is. */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: string[]): boolean {
  if (!origin) return true; // not a browser: Origin protects browsers from cross-site pages
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** The key that signs share-link password cookies; kept in the data folder so they survive restarts. */
function linkSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, 'link-secret');
  if (!existsSync(file)) writeFileSync(file, randomBytes(32), { mode: 0o600 });
  return readFileSync(file);
}

export async function startRelay(config: RelayConfig): Promise<Relay> {
  mkdirSync(config.dataDir, { recursive: true });
  const { log, flush, hub: logHub } = await createLogger(config.dataDir, config.logLevel);
  const meta = new SqliteMetaStore(path.join(config.dataDir, 'ferry.db'));
  const chunks = new FsChunkStore(path.join(config.dataDir, 'chunks'));
  const library = new Library(chunks, meta, {
    retention: { keepVersions: config.keepVersions, keepDays: config.keepDays },
    history: config.history,
    uploadExpiryMs: config.uploadExpiryMs,
    gcGraceMs: config.gcGraceMs,
  }, log);
  const accounts = new Accounts(meta, config.sessionTtlMs);
  const connections = new Set<ClientConnection>();
  const ctx: RelayContext = {
    config,
    library,
    accounts,
    log,
    logHub,
    links: new ShareLinks(library),
    disconnectUser(userId, except) {
      let n = 0;
      for (const c of connections) {
        if (c.user?.id !== userId || c === except) continue;
        c.user = undefined;
        c.ws.close(4001, 'session ended');
        n++;
      }
      return n;
    },
  };

  // Every signed-in client hears about every change to the library.
  library.onChange((event) => {
    for (const c of connections) if (c.user) c.send({ type: 'library.event', event });
  });

  const server = createServer(createHttpHandler(ctx, linkSecret(config.dataDir)));
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: Math.max(MAX_CHUNK_BYTES + FRAME_HEADER_BYTES, MAX_CONTROL_BYTES),
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });

  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, code: string, message: string) => {
      log.warn({ event: 'upgrade.refused', code, origin: req.headers.origin, addr: req.socket.remoteAddress }, message);
      socket.end(`HTTP/1.1 ${status} ${message}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${code}: ${message}\n`);
    };
    const url = new URL(req.url ?? '/', 'http://relay');
    if (url.pathname !== WS_PATH) return refuse(404, 'NOT_FOUND', 'Not Found');
    if (!originAllowed(req.headers.origin, req.headers.host, config.origins)) return refuse(403, 'ORIGIN_REFUSED', 'Forbidden');
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((s) => s.trim());
    if (!offered.includes(SUBPROTOCOL)) return refuse(426, 'BAD_MESSAGE', `Upgrade Required: speak ${SUBPROTOCOL}`);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const address = req.socket.remoteAddress ?? 'unknown';
      const conn = new ClientConnection(ctx, ws, address);
      connections.add(conn);
      ws.on('close', () => connections.delete(conn));
      log.info({ event: 'connect', addr: address, ua: req.headers['user-agent'] }, 'client connected');
      ws.on('close', (code) => {
        log.info({ event: 'disconnect', addr: address, user: conn.user?.name, code, bytesIn: conn.bytesIn, seconds: (Date.now() - conn.connectedAt) / 1000 }, 'client disconnected');
      });
      ws.on('error', (err) => log.warn({ event: 'socket.error', addr: address, err: err.message }, 'socket error'));
    });
  });

  let setupToken: string | undefined;
  if (meta.countAdmins() === 0) setupToken = accounts.createSetupToken();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  log.info({ event: 'start', port, host: config.host, data: config.dataDir }, 'relay started');

  const sweep = () => library.sweep().catch((err) => log.error({ event: 'sweep', err }, 'sweep failed'));
  const sweepTimer = setInterval(sweep, 3_600_000);
  sweepTimer.unref();
  const firstSweep = setTimeout(sweep, 10_000);
  firstSweep.unref();

  return {
    ...ctx,
    server,
    port,
    setupToken,
    async close() {
      clearInterval(sweepTimer);
      clearTimeout(firstSweep);
      await library.close();
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      meta.close();
      log.info({ event: 'stop' }, 'relay stopped');
      flush();
    },
  };
}
