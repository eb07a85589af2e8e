/**
 * Thumbnails of images, made by the relay whichever client uploaded the file: the
 * current bytes are read from the chunk store once, scaled to fit a square (EXIF
 * orientation applied) and kept as WebP under `<data>/thumbs/<content hash>.webp`.
 * A content hash is made once however many ask at once, and one at a time relay-wide
 * so a folder of photos cannot take both cores. An image that cannot be decoded is
 * remembered (an empty file) and not tried again.
 */
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChunkRef } from '../protocol/index.js';
import type { ChunkStore } from '../store/chunk-store.js';

/** The longest side of a thumbnail, in pixels (sharp on a phone's 3× screen at ~85 CSS px). */
export const THUMB_PX = 256;
/** Images larger than this are not read for a thumbnail. */
export const THUMB_MAX_BYTES = 64 * 1024 * 1024;

/** libvips is loaded on the first thumbnail, not at start: a relay that makes none never holds it in memory. */
let loaded: Promise<typeof import('sharp')['default']> | undefined;
function imageLibrary() {
  loaded ??= import('sharp').then(({ default: sharp }) => {
    sharp.concurrency(1);
    sharp.cache(false);
    return sharp;
  });
  return loaded;
}

export class Thumbnails {
  private readonly making = new Map<string, Promise<Buffer | undefined>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string, private readonly chunks: ChunkStore) {}

  /** The WebP thumbnail of a version, or undefined when it cannot be made. */
  async get(version: { contentHash: string; size: number; chunks: ChunkRef[] }): Promise<Buffer | undefined> {
    if (version.size === 0 || version.size > THUMB_MAX_BYTES) return undefined;
    const file = path.join(this.dir, `${version.contentHash}.webp`);
    try {
      const kept = await readFile(file);
      return kept.byteLength ? kept : undefined;
    } catch {
      // not made yet
    }
    let pending = this.making.get(version.contentHash);
    if (!pending) {
      pending = this.queue.then(() => this.make(file, version.chunks)).finally(() => this.making.delete(version.contentHash));
      this.queue = pending.catch(() => {});
      this.making.set(version.contentHash, pending);
    }
    return pending;
  }

  /**
   * Deletes the thumbnails of content no version has any more (purged, deleted for good),
   * and temporary files a crash left. Returns how many files went.
   */
  async sweep(isLive: (contentHash: string) => Promise<boolean>, now = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0; // no thumbnail made yet
    }
    let removed = 0;
    for (const name of names) {
      const m = /^([0-9a-f]{64})\.webp(\.\d+\.tmp)?$/.exec(name);
      if (!m || this.making.has(m[1])) continue;
      const file = path.join(this.dir, name);
      if (m[2]) {
        // A temporary file: gone unless it is an hour old (a crash between write and rename).
        const made = (await stat(file).catch(() => undefined))?.mtimeMs ?? now;
        if (made > now - 3_600_000) continue;
      } else if (await isLive(m[1])) continue;
      await unlink(file).catch(() => {});
      removed++;
    }
    return removed;
  }

  private async make(file: string, chunks: ChunkRef[]): Promise<Buffer | undefined> {
    const parts: Uint8Array[] = [];
    for (const c of chunks) parts.push(await this.chunks.getRange(c.sha256, 0, c.length));
    let out: Buffer;
    const sharp = await imageLibrary();
    try {
      out = await sharp(Buffer.concat(parts), { limitInputPixels: 100_000_000, failOn: 'error' })
        .rotate()
        .resize(THUMB_PX, THUMB_PX, { fit: 'inside', withoutEnlargement: true })
        .webp({ quality: 72 })
        .toBuffer();
    } catch {
      out = Buffer.alloc(0);
    }
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = `${file}.${process.pid}.tmp`;
    await writeFile(temp, out, { mode: 0o600 });
    await rename(temp, file);
    return out.byteLength ? out : undefined;
  }
}
