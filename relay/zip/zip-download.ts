/**
 * Folders and selections downloaded as one zip, streamed: `zip.ticket` over the
 * WebSocket names what to pack and gives a short-lived, single-use URL
 * (`/zip/<ticket>`) that a browser or a script then fetches over plain HTTP. The zip is
 * written as it is read from the chunk store (stored, not compressed, ZIP64 where a
 * file needs it): memory stays flat whatever the size, and every chunk is checked
 * against its SHA-256 on the way out.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import yazl from 'yazl';
import { FerryError, baseName, parentOf, type ChunkRef } from '../protocol/index.js';
import type { RelayContext } from '../context.js';
import type { User } from '../store/meta-store.js';
import { contentDisposition } from '../links/link-http.js';
import { htmlPage } from '../html.js';

/** How long a zip URL works once issued, and how many may be waiting at once. */
const TICKET_MS = 5 * 60_000;
const MAX_TICKETS = 1000;
/** Bytes read from a chunk at a time. */
const PIECE_BYTES = 256 * 1024;

interface Ticket {
  userId: number;
  spaceId: number;
  paths: string[];
  name: string;
  expiresAt: number;
}

/** One file of a zip: where it is in the archive and what to read. */
interface ZipFile {
  fileId: number;
  entry: string;
  size: number;
  mtime: number;
}

export class ZipDownloads {
  private readonly tickets = new Map<string, Ticket>();

  constructor(private readonly ctx: RelayContext) {}

  /**
   * The files `paths` of a space stand for (a file, or every live file under a folder;
   * `''` is the whole space), named in the zip relative to each path's parent folder.
   */
  async files(spaceId: number, paths: string[]): Promise<ZipFile[]> {
    const { meta } = this.ctx.library;
    const out: ZipFile[] = [];
    const seen = new Set<number>();
    for (const path of paths) {
      const base = path === '' ? '' : parentOf(path);
      const inZip = (p: string) => (base ? p.slice(base.length + 1) : p);
      const single = path === '' ? undefined : await meta.getVersion(spaceId, path);
      const found = single ? [{ fileId: single.fileId, path: single.path, size: single.size, mtime: single.mtime }] : await meta.filesUnder(spaceId, path);
      if (!single && found.length === 0 && !(await meta.isFolder(spaceId, path))) throw new FerryError('NOT_FOUND', `No file or folder "${path}".`);
      // Encrypted folders are not the relay's to zip (it cannot open them): left out.
      const encrypted = single ? [] : [...(await meta.encryptedFoldersIn(spaceId, path)).keys()];
      for (const f of found) {
        if (encrypted.some((root) => f.path.startsWith(`${root}/`))) continue;
        if (seen.has(f.fileId)) continue;
        seen.add(f.fileId);
        out.push({ fileId: f.fileId, entry: inZip(f.path), size: f.size, mtime: f.mtime });
      }
    }
    return out;
  }

  /** A URL for this user to fetch `paths` of a space as one zip. */
  async issue(user: User, spaceId: number, paths: string[], spaceName: string): Promise<{ url: string; name: string; files: number; bytes: number }> {
    const files = await this.files(spaceId, paths);
    const now = Date.now();
    for (const [id, t] of this.tickets) if (t.expiresAt <= now) this.tickets.delete(id);
    if (this.tickets.size >= MAX_TICKETS) throw new FerryError('RELAY_BUSY', 'Too many zip downloads are waiting to start; try again in a few minutes.');
    const id = randomBytes(18).toString('base64url');
    // One item: its name; a selection in one folder: the folder's; else the space's.
    const parents = new Set(paths.map((p) => (p === '' ? '' : parentOf(p))));
    const [parent] = parents;
    const name = `${paths.length === 1 ? (paths[0] === '' ? spaceName : baseName(paths[0])) : parents.size === 1 && parent ? baseName(parent) : spaceName}.zip`;
    this.tickets.set(id, { userId: user.id, spaceId, paths, name, expiresAt: now + TICKET_MS });
    return { url: `/zip/${id}`, name, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
  }

  /** Handles `/zip/...`; returns false for other paths. */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    const m = /^\/zip\/([A-Za-z0-9_-]{24})$/.exec(pathname);
    if (!m) return false;
    const ticket = this.tickets.get(m[1]);
    // Single use: a copied URL does not work a second time.
    this.tickets.delete(m[1]);
    const { meta } = this.ctx.library;
    const user = ticket && await meta.getUser(ticket.userId);
    // Access is checked again now: it may have been taken away since the ticket was issued.
    if (!ticket || ticket.expiresAt <= Date.now() || !user || user.disabled || await meta.accessOf(user.id, ticket.spaceId) === undefined) {
      htmlPage(res, 404, 'Not found', '<p>This download link has expired or was used already. Start the download again in Ferry.</p>');
      return true;
    }
    let files: ZipFile[];
    try {
      files = await this.files(ticket.spaceId, ticket.paths);
    } catch {
      htmlPage(res, 404, 'Not found', '<p>What this download was for is no longer there.</p>');
      return true;
    }
    res.writeHead(200, { 'Content-Type': 'application/zip', 'Content-Disposition': contentDisposition(ticket.name), 'Cache-Control': 'no-store' });
    if (req.method === 'HEAD') {
      res.end();
      return true;
    }
    const started = Date.now();
    let failed: Error | undefined;
    const fail = (err: Error) => {
      failed ??= err;
      res.destroy();
    };
    const zip = new yazl.ZipFile();
    for (const f of files) {
      // A file's stream failing (a damaged chunk) ends the response short; nothing else.
      const stream = this.fileStream(f).on('error', fail);
      zip.addReadStream(stream, f.entry, { size: f.size, compress: false, mtime: new Date(f.mtime || Date.now()) });
    }
    zip.end();
    (zip as unknown as NodeJS.EventEmitter).on('error', fail);
    zip.outputStream.on('error', fail);
    res.on('close', () => {
      // A response nobody reads any more stops reading the store.
      zip.outputStream.unpipe(res);
      (zip.outputStream as unknown as Readable).destroy();
      const fields = { event: 'zip', user: user.name, space: ticket.spaceId, paths: ticket.paths.slice(0, 10), files: files.length, ms: Date.now() - started };
      if (failed) this.ctx.log.error({ ...fields, code: 'INTEGRITY_FAILED', err: failed.message }, 'a zip download could not be read whole');
      else this.ctx.log.info({ ...fields, complete: res.writableFinished }, 'zip download');
    });
    zip.outputStream.pipe(res);
    return true;
  }

  /** The bytes of one file's current version, read piece by piece and checked chunk by chunk. */
  private fileStream(f: ZipFile): Readable {
    const { library } = this.ctx;
    let chunks: ChunkRef[] | undefined;
    let index = 0;
    let at = 0;
    let hash = createHash('sha256');
    return new Readable({
      highWaterMark: PIECE_BYTES,
      read() {
        (async () => {
          chunks ??= (await library.meta.getFileVersion(f.fileId))?.chunks;
          if (!chunks) throw new FerryError('NOT_FOUND', `"${f.entry}" was trashed or deleted while it was being zipped.`);
          if (index >= chunks.length) return this.push(null);
          const c = chunks[index];
          const piece = await library.chunks.getRange(c.sha256, at, Math.min(PIECE_BYTES, c.length - at));
          if (piece.byteLength === 0) throw new FerryError('INTEGRITY_FAILED', `A chunk of "${f.entry}" is shorter than its length.`);
          hash.update(piece);
          at += piece.byteLength;
          if (at >= c.length) {
            if (hash.digest('hex') !== c.sha256) throw new FerryError('INTEGRITY_FAILED', `A chunk of "${f.entry}" does not match its SHA-256.`);
            hash = createHash('sha256');
            index++;
            at = 0;
          }
          this.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
        })().catch((err) => this.destroy(err as Error));
      },
    });
  }
}
