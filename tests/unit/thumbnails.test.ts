import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { Thumbnails } from '../../relay/media/thumbnails.js';
import { FsChunkStore } from '../../relay/store/fs-chunk-store.js';
import { contentHash, CHUNK_SIZE } from '../../relay/protocol/index.js';
import { sha256 } from '../helpers/files.js';
import { tempDir } from '../helpers/relay.js';

describe('Thumbnails', () => {
  const dirs: { remove: () => void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  async function stored(data: Buffer) {
    const tmp = tempDir();
    dirs.push(tmp);
    const chunks = new FsChunkStore(path.join(tmp.dir, 'chunks'));
    const refs = [];
    for (let offset = 0; offset < data.length; offset += CHUNK_SIZE) {
      const piece = data.subarray(offset, offset + CHUNK_SIZE);
      const hash = sha256(piece);
      await chunks.put(hash, piece);
      refs.push({ offset, length: piece.length, sha256: hash });
    }
    const thumbs = new Thumbnails(path.join(tmp.dir, 'thumbs'), chunks);
    return { thumbs, dir: path.join(tmp.dir, 'thumbs'), version: { contentHash: contentHash(refs), size: data.length, chunks: refs } };
  }

  it('makes a WebP that fits 256 px from an image stored in several chunks, and keeps it by content', async () => {
    // Noise does not compress: a PNG of several chunks.
    const raw = Buffer.alloc(1600 * 1200 * 3);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
    const png = await sharp(raw, { raw: { width: 1600, height: 1200, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    expect(png.length).toBeGreaterThan(CHUNK_SIZE);
    const { thumbs, dir, version } = await stored(png);
    const thumb = (await thumbs.get(version))!;
    expect(await sharp(thumb).metadata()).toMatchObject({ format: 'webp', width: 256, height: 192 });
    expect(existsSync(path.join(dir, `${version.contentHash}.webp`))).toBe(true);
    // Swept once no version has that content any more; kept while one does.
    expect(await thumbs.sweep(async () => true)).toBe(0);
    expect(await thumbs.sweep(async () => false)).toBe(1);
    expect(existsSync(path.join(dir, `${version.contentHash}.webp`))).toBe(false);
  });

  it('remembers an image it cannot decode, and sweeps temporary files a crash left once they are old', async () => {
    const { thumbs, dir, version } = await stored(Buffer.from('not an image at all'));
    expect(await thumbs.get(version)).toBeUndefined();
    expect(await thumbs.get(version)).toBeUndefined();
    const leftover = path.join(dir, `${'a'.repeat(64)}.webp.123.tmp`);
    writeFileSync(leftover, 'half');
    expect(await thumbs.sweep(async () => true)).toBe(0);
    const old = new Date(Date.now() - 2 * 3_600_000);
    utimesSync(leftover, old, old);
    expect(await thumbs.sweep(async () => true)).toBe(1);
    expect(existsSync(leftover)).toBe(false);
  });
});
