/** In-memory sources and sinks for the engine, and random data. */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { DownloadMeta, FileSink, FileSource } from '../../relay/client/index.js';

export function randomData(size: number): Buffer {
  // randomBytes caps a single call at 2 GiB; tests stay far below.
  return randomBytes(size);
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of a file on disk, read in pieces (files may be larger than one Buffer). */
export function fileSha256(file: string): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(16 * 1024 * 1024);
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** A FileSource over a buffer; counts every read (offset list) for assertions. */
export function bufferSource(data: Uint8Array, mtime = 1_700_000_000_000): FileSource & { reads: number[] } {
  const reads: number[] = [];
  return {
    size: data.byteLength,
    mtime,
    reads,
    async read(offset, length) {
      reads.push(offset);
      return data.subarray(offset, offset + length);
    },
  };
}

/** A FileSink collecting the download in memory. */
export function memorySink(): FileSink & { bytes: () => Buffer; meta?: DownloadMeta } {
  let buf = Buffer.alloc(0);
  const sink: FileSink & { bytes: () => Buffer; meta?: DownloadMeta } = {
    async start(meta) {
      buf = Buffer.alloc(meta.size);
      sink.meta = meta;
    },
    async write(offset, data) {
      buf.set(data, offset);
    },
    async finish() {},
    bytes: () => buf,
  };
  return sink;
}

/** Every file under `dir` (relative path → SHA-256; size only for `sizeOnly` names), without the marker. */
export function folderTree(dir: string, sizeOnly: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const d of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (p === '.ferry-sync') continue;
      if (d.isDirectory()) {
        out[`${p}/`] = 'folder';
        walk(p);
      } else {
        try {
          out[p] = sizeOnly.includes(p) ? `size ${statSync(path.join(dir, p)).size}` : fileSha256(path.join(dir, p));
        } catch (err) {
          // A part file renamed into place while this walk ran: the next look sees the file.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          out[p] = 'vanished';
        }
      }
    }
  };
  walk('');
  return out;
}

