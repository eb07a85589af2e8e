/**
 * The engine's FileSource and FileSink on Node's file system.
 */
import { open, rename, stat, type FileHandle } from 'node:fs/promises';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { frameBuffer, type DownloadMeta, type FileSink, type FileSource } from '../client/index.js';

/**
 * A local file as an upload source. Reads land in frame-sized buffers (no copy on
 * send), recycled once the relay answered their chunk, so memory and GC stay flat.
 */
export async function openFileSource(file: string): Promise<FileSource & { close(): Promise<void> }> {
  const fh = await open(file, 'r');
  const s = await fh.stat();
  const spare: Uint8Array[] = [];
  return {
    size: s.size,
    mtime: Math.floor(s.mtimeMs),
    release(data) {
      if (spare.length < 16) spare.push(data);
    },
    async read(offset, length) {
      const i = spare.findIndex((b) => b.byteLength === length);
      const buf = i >= 0 ? spare.splice(i, 1)[0] : frameBuffer(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === length ? buf : buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

/** The temporary file a download writes to before it is verified and renamed. */
export function partPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.ferry-part`);
}

/**
 * Writes a download to `<dir>/.<name>.ferry-part`; on finish truncates, fsyncs,
 * sets the mtime and renames it to `target`. An interrupted download leaves the
 * part file, and the next attempt keeps every chunk in it that still verifies.
 */
export function fileSink(target: string): FileSink {
  const part = partPath(target);
  let fh: FileHandle | undefined;
  return {
    async start() {
      fh = await open(part, 'a+').then(async (h) => {
        await h.close();
        return open(part, 'r+');
      });
    },
    async readExisting(offset, length) {
      const size = (await fh!.stat()).size;
      if (offset + length > size) return undefined;
      const buf = new Uint8Array(length);
      const { bytesRead } = await fh!.read(buf, 0, length, offset);
      return bytesRead === length ? buf : undefined;
    },
    async write(offset, data) {
      let written = 0;
      while (written < data.byteLength) {
        const { bytesWritten } = await fh!.write(data, written, data.byteLength - written, offset + written);
        written += bytesWritten;
      }
    },
    async finish(meta: DownloadMeta) {
      await fh!.truncate(meta.size);
      await fh!.sync();
      await fh!.close();
      fh = undefined;
      const mtime = new Date(meta.mtime);
      await utimes(part, mtime, mtime);
      await rename(part, target);
    },
  };
}

export async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
