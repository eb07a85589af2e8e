/**
 * The public side of share links, plain HTTP and no JavaScript (an encrypted link's page loads
 * one script, which opens the file in the browser with the key in the link's fragment):
 *   GET  /s/<id>           a page with the file's name, size, SHA-256, expiry and a download button
 *   POST /s/<id>           the password form (attempts throttled); sets a cookie for this link
 *   GET|HEAD /s/<id>/file  the bytes, with Range, If-Range, ETag and Content-Disposition, so
 *                          browsers and `curl -C -` resume
 *
 * Downloads count by the bytes they send: every file-size worth of bytes served is one
 * download, however it is split over requests, resumes and addresses (the budget is
 * taken before a response starts and what it did not send is given back).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FerryError, baseName, displayName, formatBytes, hasThumbnail } from '../protocol/index.js';
import { verifyPassword } from '../auth/passwords.js';
import type { RelayContext } from '../context.js';
import { peerOf } from '../peer.js';
import { escapeHtml, htmlPage, SECURITY_HEADERS } from '../html.js';
import { readForm } from '../http.js';
import { missingChunk, writeRange } from '../version-bytes.js';
import { DOWNLOAD_UNITS, type ShareLink } from '../store/meta-store.js';
import { plainSize } from '../crypto/format.js';

/** Where the built web app puts the script that opens encrypted links (vite.config.ts). */
export const E2E_LINK_SCRIPT = '/link-e2e.js';

/** How long the cookie a right link password sets stays good. */
const UNLOCK_MS = 24 * 3_600_000;

/** Budget units for sending `bytes` of a file of `size` bytes (an empty file: one download a response). */
export function downloadUnits(bytes: number, size: number): number {
  return size === 0 ? DOWNLOAD_UNITS : Math.ceil((bytes * DOWNLOAD_UNITS) / size);
}

/** The password of an `Authorization: Basic` header (the user name is ignored), if any. */
function basicPassword(req: IncomingMessage): string | undefined {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : text.slice(colon + 1);
}

/** True when the request came over TLS (a cookie set then gets `Secure`). */
function overHttps(req: IncomingMessage, trustProxy: boolean): boolean {
  return peerOf(req, trustProxy).secure;
}

const GONE: Record<string, string> = {
  LINK_EXPIRED: 'This link has expired.',
  LINK_EXHAUSTED: 'This link has been used as many times as it allows.',
  LINK_REVOKED: 'This link was revoked by its owner.',
};

/** `Content-Disposition` for any Unicode name: an ASCII fallback and the exact name in `filename*`. */
export function contentDisposition(name: string): string {
  // Bidirectional controls would make the saved name read differently from what it is.
  name = displayName(name);
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const exact = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${exact}`;
}

/** A single byte range, or 'unsatisfiable', or undefined when there is none (or several: served whole). */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/** "in 3 days", "in 5 hours", "in 20 minutes": how long until `at`. */
function fromNow(at: number, now = Date.now()): string {
  const minutes = Math.max(1, Math.round((at - now) / 60_000));
  const [n, unit] = minutes >= 2 * 1440 ? [Math.round(minutes / 1440), 'day'] : minutes >= 120 ? [Math.round(minutes / 60), 'hour'] : [minutes, 'minute'];
  return `in ${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** A time as UTC text, for people without JavaScript (the page's script shows it in their own zone). */
function utcText(at: number): string {
  return `${new Date(at).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The small script that shows times in the visitor's own time zone (the page works without it). */
const LOCAL_TIME_JS = `for (const t of document.querySelectorAll('time[data-local]')) {
  const d = new Date(t.dateTime);
  t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) + ' (' + Intl.DateTimeFormat().resolvedOptions().timeZone + ')';
}
`;

export function createLinkHandler(ctx: RelayContext, secret: Buffer) {
  /** The link's whole address as this visitor reaches it (or the relay's public one). */
  const linkAddress = (req: IncomingMessage, id: string) => {
    try {
      return new URL(`/s/${id}`, ctx.config.publicUrl ?? `${overHttps(req, ctx.config.trustProxy) ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`).toString();
    } catch {
      return `/s/${id}`; // a Host header that is no host
    }
  };
  const cookieName = (id: string) => `ferry_link_${id}`;
  // The cookie is `<issued at, ms>.<HMAC of link, password hash and time>`: it dies when the
  // password changes, and a copied cookie stops working UNLOCK_MS after it was issued.
  const proof = (link: ShareLink, issuedAt: number) => createHmac('sha256', secret).update(`${link.id}:${link.passwordHash}:${issuedAt}`).digest('base64url');
  const cookieValue = (link: ShareLink, issuedAt = Date.now()) => `${issuedAt}.${proof(link, issuedAt)}`;
  const unlocked = (req: IncomingMessage, link: ShareLink) => {
    if (!link.passwordHash) return true;
    const cookie = (req.headers.cookie ?? '').split(/;\s*/).find((c) => c.startsWith(`${cookieName(link.id)}=`));
    const [at, mac] = (cookie?.slice(cookieName(link.id).length + 1) ?? '').split('.');
    const issuedAt = Number(at);
    if (!mac || !Number.isSafeInteger(issuedAt) || issuedAt > Date.now() + 60_000 || Date.now() - issuedAt > UNLOCK_MS) return false;
    const given = Buffer.from(mac);
    const expected = Buffer.from(proof(link, issuedAt));
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const logUse = (req: IncomingMessage, id: string, status: number, extra: Record<string, unknown> = {}) =>
    ctx.log.info({ event: 'link', id, status, method: req.method, range: req.headers.range, addr: peerOf(req, ctx.config.trustProxy).address, ...extra }, 'link used');

  /**
   * The link's page. Locked: only the password form, nothing about the file (not its name,
   * size, sender or message). Open: a preview of an image, the name, size, sender and
   * message, one big download button, the expiry in the visitor's time zone, and how to
   * fetch it from a terminal.
   */
  function infoPage(req: IncomingMessage, res: ServerResponse, link: ShareLink, v: { path: string; size: number; sha256: string; version: number }, error?: string, status = 200) {
    const errorLine = error ? `<p class="err" role="alert">${escapeHtml(error)}</p>` : '';
    if (!unlocked(req, link)) {
      const body = `<p class="muted">Someone shared a file with you. It is protected: enter the password they gave you to see it.</p>${errorLine}
<form method="post" action="/s/${link.id}"><label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password" autofocus><button type="submit">Unlock</button></form>`;
      return htmlPage(res, status, 'Protected file', body);
    }
    if (link.e2e) return e2ePage(res, link, v, errorLine, status);
    const name = displayName(baseName(v.path));
    const preview = hasThumbnail(v.path) ? `<img class="preview" src="/s/${link.id}/preview" alt="Preview of ${escapeHtml(name)}">` : '';
    const exact = v.size >= 1024 ? ` <span class="muted">(${v.size.toLocaleString('en')} bytes)</span>` : '';
    const facts: string[] = [`<li>${escapeHtml(formatBytes(v.size))}${exact}</li>`, ...limits(link)];
    const message = link.message ? `<blockquote class="message">${escapeHtml(link.message)}</blockquote>` : '';
    const terminal = link.passwordHash ? `curl -u :PASSWORD -OJ ${escapeHtml(linkAddress(req, link.id))}` : `curl -OJ ${escapeHtml(linkAddress(req, link.id))}`;
    const body = `${preview}<h1><bdi>${escapeHtml(name)}</bdi></h1>
<p class="from"><strong>${escapeHtml(link.owner)}</strong> shared this file with you.</p>${message}
<ul class="facts">${facts.join('')}</ul>${errorLine}
<a class="button" href="/s/${link.id}/file" download>Download</a>
<details><summary>Check it, or get it from a terminal</summary>
<p>SHA-256 of the whole file, as <code>sha256sum</code> prints it:</p><p class="mono">${v.sha256}</p>
<p>From a terminal: <code>${terminal}</code></p></details>`;
    htmlPage(res, status, name, body, {}, { heading: false, script: '/s/local-time.js' });
  }

  /** What the page says about a link's expiry and what is left of it. */
  function limits(link: ShareLink): string[] {
    const facts: string[] = [];
    if (link.expiresAt) facts.push(`<li>Expires ${fromNow(link.expiresAt)}: <time datetime="${new Date(link.expiresAt).toISOString()}" data-local>${utcText(link.expiresAt)}</time></li>`);
    if (link.maxDownloads !== undefined) {
      const left = Math.max(0, link.maxDownloads - link.downloads);
      facts.push(`<li>${left} ${left === 1 ? 'download' : 'downloads'} left</li>`);
    }
    return facts;
  }

  /**
   * The page of an encrypted link: what the relay knows (sender, message, about how large,
   * expiry) and a script that takes the key from the link's fragment, shows the name, then
   * downloads, decrypts and checks the file in the browser. The key never reaches the relay.
   */
  function e2ePage(res: ServerResponse, link: ShareLink, v: { path: string; size: number; sealed?: string }, errorLine: string, status: number) {
    const message = link.message ? `<blockquote class="message">${escapeHtml(link.message)}</blockquote>` : '';
    const about = plainSize(v.size);
    const body = `<div id="e2e" data-copy="${escapeHtml(v.path)}" data-sealed="${escapeHtml(v.sealed ?? '')}" data-file="/s/${link.id}/file" data-bytes="${v.size}">
<p class="lock"><svg width="14" height="14" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round"><rect x="4" y="10.5" width="16" height="11" rx="2.5"/><path d="M8 10.5V7a4 4 0 0 1 8 0v3.5"/></svg>End-to-end encrypted</p>
<h1 id="e2e-name">Encrypted file</h1>
<p class="from"><strong>${escapeHtml(link.owner)}</strong> shared this file with you. Your browser decrypts it with the key at the end of the link; the server it comes from cannot read it.</p>${message}
<ul class="facts"><li id="e2e-size">${escapeHtml(formatBytes(about))}</li>${limits(link).join('')}</ul>${errorLine}
<p id="e2e-status" role="status" aria-live="polite"><noscript><span class="err">Opening an encrypted file needs JavaScript.</span></noscript></p>
<progress id="e2e-progress" max="1" value="0" hidden></progress>
<button id="e2e-save" type="button" disabled>Download</button>
<details id="e2e-check" hidden><summary>Check it</summary><p>SHA-256 of the whole file, as <code>sha256sum</code> prints it:</p><p class="mono" id="e2e-sha"></p></details>
</div>`;
    htmlPage(res, status, 'Encrypted file', body, {}, { heading: false, script: E2E_LINK_SCRIPT, module: true });
  }

  async function sendFile(req: IncomingMessage, res: ServerResponse, link: ShareLink, v: Awaited<ReturnType<RelayContext['links']['resolve']>>['version']) {
    const etag = `"${v.contentHash}"`;
    let range = parseRange(req.headers.range, v.size);
    const ifRange = req.headers['if-range'];
    if (range && ifRange && ifRange !== etag && ifRange !== new Date(v.createdAt).toUTCString()) range = undefined;
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'Content-Type': 'application/octet-stream',
      // An encrypted link's bytes are its sealed copy (its page opens them; the name is sealed too).
      'Content-Disposition': contentDisposition(link.e2e ? `${baseName(v.path)}.ferry-sealed` : baseName(v.path)),
      'Accept-Ranges': 'bytes',
      // The link's own address answers a page to browsers and the file to scripts.
      Vary: 'Accept',
      ETag: etag,
      'Last-Modified': new Date(v.createdAt).toUTCString(),
      'Cache-Control': 'private, no-transform',
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${v.size}` });
      res.end();
      logUse(req, link.id, 416);
      return;
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : v.size - 1;
    const length = v.size === 0 ? 0 : end - start + 1;
    // A chunk gone from storage fails the request before any header is sent.
    const missing = await missingChunk(ctx.library.chunks, v.chunks, start, end);
    if (missing) {
      ctx.log.error({ event: 'integrity', code: 'INTEGRITY_FAILED', id: link.id, path: v.path, version: v.version, chunk: missing.sha256 }, 'a chunk of a linked file is missing from storage');
      logUse(req, link.id, 500, { code: 'INTEGRITY_FAILED' });
      htmlPage(res, 500, 'File damaged', '<p>The relay cannot read this file whole right now (INTEGRITY_FAILED). The owner has been told in the relay log.</p>');
      return;
    }
    let taken = 0;
    if (req.method === 'GET') {
      const reserved = await ctx.library.meta.reserveDownload(link.id, downloadUnits(length, v.size));
      if (!reserved.allowed) {
        logUse(req, link.id, 410, { code: 'LINK_EXHAUSTED' });
        return htmlPage(res, 410, 'Link used up', `<p>${GONE.LINK_EXHAUSTED}</p>`);
      }
      taken = reserved.taken;
    }
    res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': length, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${v.size}` } : {}) });
    logUse(req, link.id, range ? 206 : 200, { path: v.path, version: v.version, bytes: length });
    if (req.method === 'HEAD' || length === 0) return void res.end();
    const progress = { sent: 0 };
    try {
      await writeRange(ctx.library.chunks, res, v.chunks, start, end, progress);
    } catch (err) {
      // Headers are out: end the response short, so the client sees it failed (Content-Length).
      ctx.log.error({ event: 'integrity', code: 'INTEGRITY_FAILED', id: link.id, path: v.path, err: (err as Error).message }, 'a linked file could not be read whole');
      res.destroy();
    } finally {
      // What was reserved and not sent (an aborted or failed response) goes back to the budget.
      if (taken > 0) {
        await ctx.library.meta.refundDownload(link.id, taken - Math.min(taken, downloadUnits(progress.sent, v.size)));
        // The owner sees the count move without reloading.
        void ctx.linkChanged(link.id);
      }
    }
  }

  /** Handles `/s/...` requests; returns false for other paths. */
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    if (pathname === '/s/local-time.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'public, max-age=86400', 'X-Content-Type-Options': 'nosniff' });
      res.end(LOCAL_TIME_JS);
      return true;
    }
    const m = /^\/s\/([^/]+)(\/file|\/preview)?$/.exec(pathname);
    if (!m) return false;
    const [, id, tail] = m;
    const file = tail === '/file';
    let resolved;
    try {
      resolved = await ctx.links.resolve(id);
    } catch (err) {
      const code = (err as FerryError).code;
      if (code in GONE) {
        logUse(req, id, 410, { code });
        htmlPage(res, 410, 'Link no longer available', `<p>${escapeHtml((err as FerryError).message)}</p>`);
      } else {
        logUse(req, id, 404, { code });
        htmlPage(res, 404, 'Link not found', '<p>There is no file behind this link. Check that it was copied whole.</p>');
      }
      return true;
    }
    const { link, version: v } = resolved;
    // A client that does not ask for HTML (curl, wget, scripts) gets the file itself at the
    // link's own address, so `curl -OJ <link>` saves the file, not this page.
    if (tail === '/preview') {
      // The preview of an image on the page: not a download (nothing counts), and only for
      // those who may see the page's file.
      const thumb = req.method === 'GET' && !resolved.exhausted && unlocked(req, link) && hasThumbnail(v.path) ? await ctx.media.thumbnail(v) : undefined;
      if (!thumb) {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end('No preview.\n');
        return true;
      }
      res.writeHead(200, { 'Content-Type': 'image/webp', 'Content-Length': thumb.byteLength, 'Cache-Control': 'private, no-cache', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': "default-src 'none'" });
      res.end(thumb);
      return true;
    }
    const script = !file && (req.method === 'GET' || req.method === 'HEAD') && !/text\/html/i.test(req.headers.accept ?? '');
    if (file || script) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' });
        res.end();
        return true;
      }
      if (resolved.exhausted) {
        logUse(req, id, 410, { code: 'LINK_EXHAUSTED' });
        htmlPage(res, 410, 'Link used up', `<p>${GONE.LINK_EXHAUSTED}</p>`);
        return true;
      }
      if (!unlocked(req, link)) {
        // Scripts give the password with HTTP Basic (any user name): `curl -u :PASSWORD -OJ <link>`.
        const given = basicPassword(req);
        if (given === undefined) {
          logUse(req, id, 401, { code: 'LINK_PASSWORD_REQUIRED' });
          htmlPage(res, 401, 'Password required', `<p>This link is protected. <a href="/s/${link.id}">Enter the password</a>.</p>`, script ? { 'WWW-Authenticate': 'Basic realm="Ferry link", charset="UTF-8"' } : {});
          return true;
        }
        const address = peerOf(req, ctx.config.trustProxy).address;
        const hash = link.passwordHash!;
        let ok = false;
        try {
          ok = await ctx.accounts.throttle.check([['pair', `link:${id}|${address}`], ['link', id]], () => verifyPassword(given, hash, address));
        } catch (err) {
          const e = err as FerryError;
          if (e.code !== 'LOGIN_THROTTLED' && e.code !== 'RELAY_BUSY') throw err;
          logUse(req, id, 429, { code: e.code });
          htmlPage(res, 429, 'Too many attempts', `<p>${escapeHtml(e.message)}</p>`);
          return true;
        }
        if (!ok) {
          logUse(req, id, 401, { code: 'LOGIN_FAILED' });
          htmlPage(res, 401, 'Wrong password', '<p>Wrong password.</p>');
          return true;
        }
      }
      await sendFile(req, res, link, v);
      return true;
    }
    if (req.method === 'POST') {
      const address = peerOf(req, ctx.config.trustProxy).address;
      const form = await readForm(req);
      try {
        // Counted before the password is checked: guesses sent at once are judged one by one.
        const hash = link.passwordHash;
        const ok = await ctx.accounts.throttle.check([['pair', `link:${id}|${address}`], ['link', id]], async () => !!hash && (await verifyPassword(form.get('password') ?? '', hash, address)));
        if (!ok) {
          logUse(req, id, 401, { code: 'LOGIN_FAILED' });
          infoPage(req, res, link, v, 'Wrong password.', 401);
          return true;
        }
      } catch (err) {
        const e = err as FerryError;
        if (e.code !== 'LOGIN_THROTTLED' && e.code !== 'RELAY_BUSY') throw err;
        logUse(req, id, 429, { code: e.code });
        infoPage(req, res, link, v, e.message, 429);
        return true;
      }
      logUse(req, id, 303, { unlocked: true });
      const secure = overHttps(req, ctx.config.trustProxy) ? '; Secure' : '';
      res.writeHead(303, { Location: `/s/${id}`, 'Set-Cookie': `${cookieName(id)}=${cookieValue(link)}; Path=/s/${id}; HttpOnly; SameSite=Lax; Max-Age=${UNLOCK_MS / 1000}${secure}` });
      res.end();
      return true;
    }
    if (resolved.exhausted) {
      logUse(req, id, 410, { code: 'LINK_EXHAUSTED' });
      htmlPage(res, 410, 'Link used up', `<p>${GONE.LINK_EXHAUSTED}</p>`);
      return true;
    }
    logUse(req, id, 200, { page: true });
    infoPage(req, res, link, v);
    return true;
  };
}
