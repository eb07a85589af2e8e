/**
 * Who sent a request, and over what. Directly: the socket's address, and TLS when the
 * socket is encrypted. Behind a reverse proxy (`--trust-proxy`): what the proxy says,
 * from `Forwarded` (RFC 7239) or `X-Forwarded-For` / `X-Forwarded-Proto`. Only the
 * entry the proxy itself appended (the last one) is believed: the ones before it came
 * from the client and can say anything.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

export interface Peer {
  /** The client's address, as used for throttling, link counting and logs. */
  address: string;
  /** True when the client reached us (or the proxy) over TLS. */
  secure: boolean;
}

function lastOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  const joined = Array.isArray(header) ? header.join(',') : header;
  const parts = joined.split(',').map((s) => s.trim()).filter(Boolean);
  return parts[parts.length - 1];
}

/** An address as a proxy writes it (`1.2.3.4`, `[2001:db8::1]:4711`, `"[::1]"`), or undefined if it is none. */
function addressOf(token: string): string | undefined {
  let t = token.trim().replace(/^"|"$/g, '');
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(t);
  if (bracket) t = bracket[1];
  else if (/^[\d.]+:\d+$/.test(t)) t = t.slice(0, t.lastIndexOf(':'));
  return isIP(t) ? t.toLowerCase() : undefined;
}

/** The `for` and `proto` of the last element of a `Forwarded` header. */
function forwarded(header: string | undefined): { for?: string; proto?: string } | undefined {
  const last = lastOf(header);
  if (!last) return undefined;
  const out: { for?: string; proto?: string } = {};
  for (const pair of last.split(';')) {
    const at = pair.indexOf('=');
    if (at < 0) continue;
    const key = pair.slice(0, at).trim().toLowerCase();
    const value = pair.slice(at + 1).trim().replace(/^"|"$/g, '');
    if (key === 'for') out.for = value;
    if (key === 'proto') out.proto = value.toLowerCase();
  }
  return out;
}

/** Did this request itself come over TLS (to this relay, not to a proxy in front)? */
export function overTls(req: IncomingMessage): boolean {
  return !!(req.socket as { encrypted?: boolean }).encrypted;
}

/** The peer of `req`; with `trustProxy`, as the proxy in front reports it. */
export function peerOf(req: IncomingMessage, trustProxy: boolean): Peer {
  const direct = req.socket.remoteAddress ?? 'unknown';
  const encrypted = overTls(req);
  if (!trustProxy) return { address: direct, secure: encrypted };
  const f = forwarded(req.headers.forwarded);
  const forAddress = (f?.for && addressOf(f.for)) || addressOf(lastOf(req.headers['x-forwarded-for']) ?? '');
  const proto = f?.proto ?? lastOf(req.headers['x-forwarded-proto'])?.toLowerCase();
  return { address: forAddress ?? direct, secure: proto ? proto === 'https' : encrypted };
}
