/**
 * One port for HTTPS and plain HTTP. The first byte of a connection tells them apart
 * (a TLS handshake starts with 0x16, an HTTP request with a letter); the socket then
 * goes to the HTTPS or the HTTP server, which see it as their own.
 *
 * Plain HTTP is served in full only to this machine (`http://localhost` is a secure
 * context in browsers, and a TLS-terminating proxy on this machine speaks plain HTTP to
 * the relay). Anyone else gets sent to the https URL, except for the few pages a phone
 * needs before it trusts the relay's CA: the connect page and the CA itself.
 */
import type { IncomingMessage, ServerResponse, Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import net from 'node:net';

/** Paths served over plain HTTP to anyone: what a device needs to come to trust the relay. */
export const PLAIN_PATHS = new Set(['/connect', '/connect.json', '/ca.crt', '/ca.mobileconfig', '/healthz']);

/** Is this peer address this machine? */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** A listening socket that hands each connection to `secure` (TLS) or `plain` (HTTP). */
export function frontDoor(plain: HttpServer, secure: HttpsServer, idleMs: number): net.Server {
  return net.createServer({ pauseOnConnect: false }, (socket) => {
    // A peer that connects and says nothing is not kept waiting for ever.
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(first);
      (first[0] === 0x16 ? secure : plain).emit('connection', socket);
      process.nextTick(() => socket.resume());
    });
    socket.on('error', () => socket.destroy());
  });
}

/** The https URL of `target` at this Host header (its port, or `port`), or undefined for a Host that is no host. */
export function httpsUrlOf(host: string | undefined, target: string, port?: number): string | undefined {
  if (!host) return undefined;
  try {
    const u = new URL(target, `https://${host}`);
    if (u.host !== new URL(`https://${host}`).host) return undefined;
    if (port !== undefined) u.port = String(port);
    return u.toString();
  } catch {
    return undefined;
  }
}

/** Sends a plain request to its https URL (308 keeps a POST a POST). */
export function redirectToHttps(req: IncomingMessage, res: ServerResponse, port?: number): void {
  const to = httpsUrlOf(req.headers.host, req.url ?? '/', port);
  if (!to) {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('BAD_MESSAGE: a request without a valid Host header\n');
    return;
  }
  res.writeHead(308, { Location: to, 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
  res.end(`This relay speaks HTTPS: ${to}\n`);
}
