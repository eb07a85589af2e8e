/**
 * What a phone or another computer needs before it trusts the relay's own CA, served
 * over plain HTTP too: the connect page (steps per platform, the CA's fingerprint to
 * compare with what the relay printed), the CA as `.crt` (Android, Windows, Linux) and
 * as a `.mobileconfig` profile (iPhone, iPad, Mac).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeHtml, htmlPage } from '../html.js';
import { mobileConfig, type RelayCa } from './certificates.js';
import { httpsUrlOf } from './front-door.js';
import { overTls } from '../peer.js';

/** What the app's Connect a device screen and its insecure-page notice show. */
export interface ConnectInfo {
  /** How the relay speaks TLS: its own CA, certificate files, or not at all. */
  tls: 'auto' | 'files' | 'off';
  /** The SHA-256 fingerprint of the relay's own CA (`auto` only). */
  fingerprint?: string;
  /** Addresses other devices can open: the public URL, else one per LAN address. */
  urls: string[];
}

/** Serves `/connect.json` (every TLS mode). */
export function handleConnectInfo(res: ServerResponse, info: ConnectInfo): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(info));
}

/** Serves `/connect`, `/ca.crt` and `/ca.mobileconfig`; false for any other path. */
export function handleConnect(req: IncomingMessage, res: ServerResponse, pathname: string, ca: RelayCa, label: string): boolean {
  if (pathname === '/ca.crt') {
    res.writeHead(200, { 'Content-Type': 'application/x-x509-ca-cert', 'Content-Disposition': 'attachment; filename="ferry-ca.crt"', 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : ca.der);
    return true;
  }
  if (pathname === '/ca.mobileconfig') {
    res.writeHead(200, { 'Content-Type': 'application/x-apple-aspen-config', 'Content-Disposition': 'attachment; filename="ferry.mobileconfig"', 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : mobileConfig(ca, label));
    return true;
  }
  if (pathname !== '/connect') return false;
  const https = overTls(req) ? undefined : httpsUrlOf(req.headers.host, '/');
  const open = escapeHtml(https ?? '/');
  const fp = escapeHtml(ca.fingerprint);
  htmlPage(
    res,
    200,
    'Connect a device',
    `<p>This relay makes its own HTTPS certificate. Install its certificate authority on this device once; then Ferry opens over HTTPS and installs as an app.</p>
<p>Its SHA-256 fingerprint, to compare with what the relay shows:</p>
<p class="mono" data-testid="ca-fingerprint">${fp}</p>
<h2>Android</h2>
<ol><li><a href="/ca.crt" download>Download the certificate</a>.</li>
<li>Settings → Security → More security settings → Encryption &amp; credentials → Install a certificate → CA certificate, and pick <code>ferry-ca.crt</code>.</li></ol>
<h2>iPhone and iPad</h2>
<ol><li><a href="/ca.mobileconfig">Download the profile</a> (in Safari).</li>
<li>Settings → Profile Downloaded → Install.</li>
<li>Settings → General → About → Certificate Trust Settings: turn on full trust for “Ferry relay CA”.</li></ol>
<h2>Computers</h2>
<p><a href="/ca.crt" download>Download the certificate</a> and add it to the system’s or the browser’s trusted authorities (Chrome: Settings → Privacy and security → Security → Manage certificates).</p>
<a class="button" href="${open}">Open Ferry over HTTPS</a>`,
  );
  return true;
}
