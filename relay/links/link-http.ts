/**
 * The public side of share links, plain HTTP and no JavaScript:
 *   GET  /s/<id>           a page with the file's name, size, SHA-256, expiry and a download button
 *   POST /s/<id>           the password form (attempts throttled); sets a cookie for this link
 *   GET|HEAD /s/<id>/file  the bytes, with Range, If-Range, ETag and Content-Disposition, so
 *                          browsers and `curl -C -` resume; a resumed download counts once
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FerryError, baseName } from '../protocol/index.js';
import { verifyPassword } from '../auth/passwords.js';
import type { RelayContext } from '../context.js';
import { escapeHtml, htmlPage, SECURITY_HEADERS } from '../html.js';
import { readForm } from '../http.js';
import type { ShareLink } from '../store/meta-store.js';

/** A resumed download by the same client within this time does not count again. */
const GRANT_MS = 24 * 3_600_000;

const GONE: Record<string, string> = {
  LINK_EXPIRED: 'This link has expired.',
  LINK_EXHAUSTED: 'This link has been used as many times as it allows.',
  LINK_REVOKED: 'This link was revoked by its owner.',
};

/** `Content-Disposition` for any Unicode name: an ASCII fallback and the exact name in `filename*`. */
export function contentDisposition(name: string): string {
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

function bytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(1)} ${units[i]} (${n} bytes)`;
}

export function createLinkHandler(ctx: RelayContext, secret: Buffer) {
  const cookieName = (id: string) => `ferry_link_${id}`;
  const proof = (link: ShareLink) => createHmac('sha256', secret).update(`${link.id}:${link.passwordHash}`).digest('base64url');
  const unlocked = (req: IncomingMessage, link: ShareLink) => {
    if (!link.passwordHash) return true;
    const cookie = (req.headers.cookie ?? '').split(/;\s*/).find((c) => c.startsWith(`${cookieName(link.id)}=`));
    const given = Buffer.from(cookie?.slice(cookieName(link.id).length + 1) ?? '');
    const expected = Buffer.from(proof(link));
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const logUse = (req: IncomingMessage, id: string, status: number, extra: Record<string, unknown> = {}) =>
    ctx.log.info({ event: 'link', id, status, method: req.method, range: req.headers.range, addr: req.socket.remoteAddress, ...extra }, 'link used');

  function infoPage(req: IncomingMessage, res: ServerResponse, link: ShareLink, v: { path: string; size: number; sha256: string; version: number }, error?: string, status = 200) {
    const name = baseName(v.path);
    const expiry = link.expiresAt ? `<dt>Expires</dt><dd>${new Date(link.expiresAt).toISOString().replace('T', ' ').slice(0, 16)} UTC</dd>` : '';
    const left = link.maxDownloads !== undefined ? `<dt>Downloads left</dt><dd>${Math.max(0, link.maxDownloads - link.downloads)}</dd>` : '';
    const body = `<dl><dt>File</dt><dd class="name"><bdi>${escapeHtml(name)}</bdi></dd><dt>Size</dt><dd>${bytes(v.size)}</dd>
<dt>SHA-256</dt><dd class="mono">${v.sha256}</dd>${expiry}${left}</dl>
${error ? `<p class="err" role="alert">${escapeHtml(error)}</p>` : ''}
${
  unlocked(req, link)
    ? `<a class="button" href="/s/${link.id}/file" download>Download</a>`
    : `<form method="post" action="/s/${link.id}"><label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password"><button type="submit">Unlock</button></form>`
}`;
    htmlPage(res, status, name, body);
  }

  async function sendFile(req: IncomingMessage, res: ServerResponse, link: ShareLink, v: ReturnType<RelayContext['links']['resolve']>['version']) {
    const etag = `"${v.contentHash}"`;
    let range = parseRange(req.headers.range, v.size);
    const ifRange = req.headers['if-range'];
    if (range && ifRange && ifRange !== etag && ifRange !== new Date(v.createdAt).toUTCString()) range = undefined;
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': contentDisposition(baseName(v.path)),
      'Accept-Ranges': 'bytes',
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
    if (req.method === 'GET') {
      const count = ctx.library.meta.countDownload(link.id, req.socket.remoteAddress ?? 'unknown', Date.now(), GRANT_MS);
      if (!count.allowed) {
        logUse(req, link.id, 410, { code: 'LINK_EXHAUSTED' });
        return htmlPage(res, 410, 'Link used up', `<p>${GONE.LINK_EXHAUSTED}</p>`);
      }
      if (count.counted) ctx.log.info({ event: 'link.download', id: link.id, path: v.path, version: v.version, addr: req.socket.remoteAddress }, 'link download counted');
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : v.size - 1;
    const length = v.size === 0 ? 0 : end - start + 1;
    res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': length, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${v.size}` } : {}) });
    logUse(req, link.id, range ? 206 : 200, { path: v.path, version: v.version, bytes: length });
    if (req.method === 'HEAD' || length === 0) return void res.end();
    let aborted = false;
    res.on('close', () => (aborted = true));
    for (const c of v.chunks) {
      if (aborted || c.offset > end) break;
      if (c.offset + c.length <= start) continue;
      const data = await ctx.library.chunks.get(c.sha256);
      const part = data.subarray(Math.max(0, start - c.offset), Math.min(c.length, end - c.offset + 1));
      if (!res.write(part)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
    res.end();
  }

  /** Handles `/s/...` requests; returns false for other paths. */
  return async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> => {
    const m = /^\/s\/([^/]+)(\/file)?$/.exec(pathname);
    if (!m) return false;
    const [, id, file] = m;
    let resolved;
    try {
      resolved = ctx.links.resolve(id);
    } catch (err) {
      const code = (err as FerryError).code;
      if (code in GONE) {
        logUse(req, id, 410, { code });
        htmlPage(res, 410, 'Link no longer available', `<p>${GONE[code]}</p>`);
      } else {
        logUse(req, id, 404, { code });
        htmlPage(res, 404, 'Link not found', '<p>There is no file behind this link. Check that it was copied whole.</p>');
      }
      return true;
    }
    const { link, version: v } = resolved;
    if (file) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD' });
        res.end();
        return true;
      }
      if (!unlocked(req, link)) {
        logUse(req, id, 401, { code: 'LINK_PASSWORD_REQUIRED' });
        htmlPage(res, 401, 'Password required', `<p>This link is protected. <a href="/s/${link.id}">Enter the password</a>.</p>`);
        return true;
      }
      await sendFile(req, res, link, v);
      return true;
    }
    if (req.method === 'POST') {
      const address = req.socket.remoteAddress ?? 'unknown';
      const wait = ctx.accounts.throttle.retryAfter(`link:${id}`, address);
      if (wait > 0) {
        logUse(req, id, 429, { code: 'LOGIN_THROTTLED' });
        infoPage(req, res, link, v, `Too many wrong passwords. Try again in ${Math.ceil(wait / 1000)} s.`, 429);
        return true;
      }
      const form = await readForm(req);
      if (!link.passwordHash || !(await verifyPassword(form.get('password') ?? '', link.passwordHash))) {
        ctx.accounts.throttle.fail(`link:${id}`, address);
        logUse(req, id, 401, { code: 'LOGIN_FAILED' });
        infoPage(req, res, link, v, 'Wrong password.', 401);
        return true;
      }
      ctx.accounts.throttle.succeed(`link:${id}`);
      logUse(req, id, 303, { unlocked: true });
      res.writeHead(303, { Location: `/s/${id}`, 'Set-Cookie': `${cookieName(id)}=${proof(link)}; Path=/s/${id}; HttpOnly; SameSite=Lax; Max-Age=86400` });
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
