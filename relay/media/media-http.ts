/**
 * The app's own view of files over plain HTTP, for what a WebSocket cannot feed: an
 * `<img>` thumbnail, a `<video>` that seeks with Range, the browser's PDF viewer.
 *
 *   GET|HEAD /media/<key>?space=S&path=P[&v=N][&thumb=1][&download=1]
 *
 * `media.key` over the WebSocket gives the key: `<session>.<expires>.<HMAC>`, good for
 * MEDIA_KEY_MS and only while that session lasts (a sign-out ends it). Every request is
 * judged again like a WebSocket one (the user enabled, the space visible to them now).
 * Files are served inline only as types a browser shows without running them
 * (media-types.ts), under a CSP that allows nothing else; the rest is an attachment.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { FerryError, baseName, checkPath, hasThumbnail, inlineType } from '../protocol/index.js';
import type { RelayContext } from '../context.js';
import type { User } from '../store/meta-store.js';
import { contentDisposition, parseRange } from '../links/link-http.js';
import { missingChunk, writeRange } from '../version-bytes.js';
import { Thumbnails } from './thumbnails.js';

/** How long a media key works (the app asks for a new one well before). */
export const MEDIA_KEY_MS = 2 * 3_600_000;

/** Nothing on a served file may run, load or frame anything (PDF's viewer needs its plugin). */
const MEDIA_CSP = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'; sandbox allow-same-origin";
const PDF_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'; frame-ancestors 'self'";

export class MediaServer {
  private readonly thumbs: Thumbnails;

  constructor(private readonly ctx: RelayContext, private readonly secret: Buffer) {
    this.thumbs = new Thumbnails(path.join(ctx.config.dataDir, 'thumbs'), ctx.library.chunks);
  }

  private mac(session: string, expiresAt: number): string {
    return createHmac('sha256', this.secret).update(`media:${session}:${expiresAt}`).digest('base64url');
  }

  /** Deletes thumbnails of content that no version has any more. */
  sweepThumbnails(): Promise<number> {
    return this.thumbs.sweep((hash) => this.ctx.library.meta.hasContent(hash));
  }

  /** The thumbnail of a version (for a link's page), or undefined. */
  thumbnail(version: Parameters<Thumbnails['get']>[0]): Promise<Buffer | undefined> {
    return this.thumbs.get(version);
  }

  /** A key for the connection signed in with this session. */
  issue(tokenHash: string, now = Date.now()): { key: string; expiresAt: number } {
    const expiresAt = now + MEDIA_KEY_MS;
    return { key: `${tokenHash}.${expiresAt}.${this.mac(tokenHash, expiresAt)}`, expiresAt };
  }

  /** The user a key stands for now, or undefined (forged, expired, signed out, disabled). */
  private async userOf(key: string): Promise<User | undefined> {
    const [session, at, mac] = key.split('.');
    const expiresAt = Number(at);
    if (!session || !mac || !Number.isSafeInteger(expiresAt) || expiresAt <= Date.now()) return undefined;
    const given = Buffer.from(mac);
    const expected = Buffer.from(this.mac(session, expiresAt));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      return (await this.ctx.accounts.checkSession(session)).user;
    } catch {
      return undefined;
    }
  }

  /** Handles `/media/...`; returns false for other paths. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const m = /^\/media\/([^/]+)$/.exec(url.pathname);
    if (!m) return false;
    const notFound = (status = 404) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      res.end(status === 401 ? 'Sign in again in Ferry.\n' : 'Not found.\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' });
      return void res.end(), true;
    }
    const user = await this.userOf(m[1]);
    if (!user) return notFound(401), true;
    const q = url.searchParams;
    let version;
    try {
      const space = await this.ctx.library.space(user, q.has('space') ? Number(q.get('space')) : undefined, 'view');
      const v = q.has('v') ? Number(q.get('v')) : undefined;
      if (v !== undefined && !Number.isSafeInteger(v)) throw new FerryError('NOT_FOUND');
      version = await this.ctx.library.meta.getVersion(space, checkPath(q.get('path') ?? ''), v);
    } catch {
      version = undefined;
    }
    if (!version) return notFound(), true;
    const pinned = q.has('v');
    const etag = `"${version.contentHash}${q.has('thumb') ? '-t' : ''}"`;
    const cache = pinned ? 'private, max-age=86400, immutable' : 'private, no-cache';
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ETag: etag, 'Cache-Control': cache });
      return void res.end(), true;
    }
    const name = baseName(version.path);
    if (q.has('thumb')) {
      const thumb = hasThumbnail(name) ? await this.thumbs.get(version) : undefined;
      if (!thumb) return notFound(), true;
      res.writeHead(200, { 'Content-Type': 'image/webp', 'Content-Length': thumb.byteLength, ETag: etag, 'Cache-Control': cache, 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': MEDIA_CSP });
      res.end(req.method === 'HEAD' ? undefined : thumb);
      return true;
    }
    const type = q.has('download') ? undefined : inlineType(name);
    let range = parseRange(req.headers.range, version.size);
    if (range && req.headers['if-range'] && req.headers['if-range'] !== etag) range = undefined;
    const headers: Record<string, string | number> = {
      'Content-Type': type ?? 'application/octet-stream',
      'Content-Disposition': type ? contentDisposition(name).replace(/^attachment/, 'inline') : contentDisposition(name),
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Cache-Control': cache,
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': type === 'application/pdf' ? PDF_CSP : MEDIA_CSP,
      'Referrer-Policy': 'no-referrer',
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${version.size}` });
      return void res.end(), true;
    }
    const start = range ? range.start : 0;
    const end = range ? range.end : version.size - 1;
    const length = version.size === 0 ? 0 : end - start + 1;
    const missing = await missingChunk(this.ctx.library.chunks, version.chunks, start, end);
    if (missing) {
      this.ctx.log.error({ event: 'integrity', code: 'INTEGRITY_FAILED', user: user.name, path: version.path, version: version.version, chunk: missing.sha256 }, 'a chunk of a viewed file is missing from storage');
      return notFound(500), true;
    }
    res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': length, ...(range ? { 'Content-Range': `bytes ${start}-${end}/${version.size}` } : {}) });
    if (req.method === 'HEAD' || length === 0) return void res.end(), true;
    try {
      await writeRange(this.ctx.library.chunks, res, version.chunks, start, end);
    } catch (err) {
      this.ctx.log.error({ event: 'integrity', code: 'INTEGRITY_FAILED', user: user.name, path: version.path, err: (err as Error).message }, 'a viewed file could not be read whole');
      res.destroy();
    }
    return true;
  }
}
