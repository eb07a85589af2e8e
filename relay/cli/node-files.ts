/**
 * The engine's FileSource and FileSink on Node's file system.
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, open, rename, stat, type FileHandle } from 'node:fs/promises';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { frameBuffer, type DownloadMeta, type FileSink, type FileSource } from '../client/index.js';
import { FerryError } from '../protocol/index.js';
import type { NodeHashPool } from './hash-pool.js';

/** Out-of-order chunks kept (as views) for the running whole-file hash; past this the rest is read back at the end. */
const MAX_HELD_FOR_HASH = 64 * 1024 * 1024;

/**
 * A local file as an upload source. Reads land in frame-sized buffers (no copy on
 * send), recycled once the relay answered their chunk, so memory and GC stay flat.
 */
export async function openFileSource(file: string): Promise<FileSource & { executable: boolean; close(): Promise<void> }> {
  const fh = await open(file, 'r');
  const s = await fh.stat();
  const spare: Uint8Array[] = [];
  return {
    size: s.size,
    mtime: Math.floor(s.mtimeMs),
    executable: isExecutableMode(s.mode),
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

/** The SHA-256 of a whole local file, read once in order. */
export async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (let at = 0; ; ) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

/** The temporary file a download writes to before it is verified and renamed. */
export function partPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.ferry-part`);
}

/**
 * Writes a download to `<dir>/.<name>.ferry-part`; on finish truncates, fsyncs, checks
 * the SHA-256 of what it wrote against the version's, sets the mtime and renames it to
 * `target`. An interrupted download leaves the part file, and the next attempt keeps
 * every chunk in it that still verifies.
 *
 * The whole-file SHA-256 is of the bytes this sink wrote: computed as chunks arrive in
 * order, and read back from the file for what it did not see in order (chunks kept from
 * an earlier attempt). A mismatch fails with INTEGRITY_FAILED and leaves the part file.
 */
export function fileSink(
  target: string,
  opts: {
    /** Bytes of a chunk found elsewhere on this device (checked against its hash here), so it is not fetched. */
    reuse?: (sha256: string, length: number) => Promise<Uint8Array | undefined>;
    /** Runs right before the part file replaces the target; throwing keeps the target as it is. */
    beforeReplace?: () => Promise<void>;
    /**
     * Where on this device a chunk is (a file and an offset), for `prefill`: with it and
     * `pool`, the sink fills the part file from local copies (the file being replaced
     * copied whole by the kernel when most of its chunks stay where they are) and checks
     * every chunk it kept on the pool's threads, instead of reading and checking them one
     * by one here.
     */
    locate?: (sha256: string) => Promise<{ file: string; offset: number } | undefined>;
    pool?: NodeHashPool;
  } = {},
): FileSink & { sha256?: string } {
  const part = partPath(target);
  const wanted = new Map<number, string>();
  let fh: FileHandle | undefined;
  const hash = createHash('sha256');
  let hashedTo = 0;
  const held = new Map<number, Uint8Array>();
  let heldBytes = 0;
  let prefilled = false;
  // Written bytes are flushed to the disk in the background while later chunks arrive
  // (one flush at a time), so the fsync that makes the file durable at the end has
  // little left to write.
  let flushing: Promise<void> | undefined;
  let flushAgain = false;
  const flushSoon = () => {
    if (flushing) {
      flushAgain = true;
      return;
    }
    flushing = fh!.datasync().catch(() => {}).then(() => {
      flushing = undefined;
      if (flushAgain && fh) {
        flushAgain = false;
        flushSoon();
      }
    });
  };
  const sink: FileSink & { sha256?: string } = {
    ...(opts.locate && opts.pool ? { prefill: (meta: DownloadMeta) => prefill(meta) } : {}),
    async start(meta) {
      for (const c of meta.chunks) wanted.set(c.offset, c.sha256);
      fh = await open(part, 'a+').then(async (h) => {
        await h.close();
        return open(part, 'r+');
      });
    },
    async readExisting(offset, length) {
      const size = (await fh!.stat()).size;
      if (offset + length <= size) {
        const buf = new Uint8Array(length);
        const { bytesRead } = await fh!.read(buf, 0, length, offset);
        if (bytesRead === length && (!opts.reuse || createHash('sha256').update(buf).digest('hex') === wanted.get(offset))) return buf;
      }
      const hash = wanted.get(offset);
      const found = hash && opts.reuse ? await opts.reuse(hash, length) : undefined;
      if (!found || found.byteLength !== length) return undefined;
      // The download checks these bytes against the chunk's hash and fetches the chunk
      // (over what is written here) if they are not right.
      await sink.write(offset, found);
      return found;
    },
    async write(offset, data) {
      let written = 0;
      while (written < data.byteLength) {
        const { bytesWritten } = await fh!.write(data, written, data.byteLength - written, offset + written);
        written += bytesWritten;
      }
      flushSoon();
      if (offset === hashedTo) {
        hash.update(data);
        hashedTo += data.byteLength;
        for (let next = held.get(hashedTo); next; next = held.get(hashedTo)) {
          held.delete(hashedTo);
          heldBytes -= next.byteLength;
          hash.update(next);
          hashedTo += next.byteLength;
        }
      } else if (!prefilled && offset > hashedTo && heldBytes + data.byteLength <= MAX_HELD_FOR_HASH) {
        held.set(offset, data);
        heldBytes += data.byteLength;
      }
    },
    async finish(meta: DownloadMeta) {
      flushAgain = false;
      await flushing;
      await fh!.truncate(meta.size);
      await fh!.sync();
      // What the hash did not see in order is read back from the file.
      held.clear();
      const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
      while (hashedTo < meta.size) {
        const { bytesRead } = await fh!.read(buf, 0, Math.min(buf.length, meta.size - hashedTo), hashedTo);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        hashedTo += bytesRead;
      }
      await fh!.close();
      fh = undefined;
      sink.sha256 = hash.digest('hex');
      if (sink.sha256 !== meta.sha256) {
        throw new FerryError(
          'INTEGRITY_FAILED',
          `The bytes written have SHA-256 ${sink.sha256}, the relay records ${meta.sha256} (every chunk matched its own hash). The download is kept in ${part}.`,
        );
      }
      // Half a millisecond past it: seconds as a double lose a little on the way to the
      // file system, and floor(mtimeMs) must read back as the millisecond recorded.
      const mtime = (meta.mtime + 0.5) / 1000;
      await setExecutable(part, !!meta.executable);
      await utimes(part, mtime, mtime);
      await opts.beforeReplace?.();
      await rename(part, target);
    },
  };
  /** See `opts.locate`. Every chunk it answers was hashed from the part file itself. */
  async function prefill(meta: DownloadMeta): Promise<number[]> {
    const pool = opts.pool!;
    // The whole-file hash reads the file back at the end: fetched chunks need not wait in memory.
    prefilled = true;
    let have = (await fh!.stat()).size;
    const where = await Promise.all(meta.chunks.map((c) => opts.locate!(c.sha256)));
    // The file being replaced, copied whole by the kernel, when most chunks stay in place.
    const inPlace = meta.chunks.filter((c, i) => where[i]?.file === target && where[i]!.offset === c.offset).length;
    if (have === 0 && inPlace * 2 >= meta.chunks.length && inPlace > 0) {
      await fh!.close();
      try {
        await copyFile(target, part);
      } finally {
        fh = await open(part, 'r+');
      }
      have = (await fh.stat()).size;
    }
    const present = (c: { offset: number; length: number }) => c.offset + c.length <= have;
    const check = async (i: number) => (await pool.hashRange(part, meta.chunks[i].offset, meta.chunks[i].length)) === meta.chunks[i].sha256;
    const ok = new Set<number>();
    // What the part file holds already (an earlier attempt, the copy), checked on the pool.
    await Promise.all(meta.chunks.map(async (c, i) => {
      if (present(c) && (await check(i))) ok.add(i);
    }));
    // The rest from other files, copied into place, then checked the same way.
    const buf = Buffer.allocUnsafe(meta.chunks.reduce((n, c) => Math.max(n, c.length), 0));
    const copied: number[] = [];
    for (const [i, c] of meta.chunks.entries()) {
      const from = where[i];
      if (ok.has(i) || !from) continue;
      const src = await open(from.file, 'r').catch(() => undefined);
      if (!src) continue;
      try {
        const { bytesRead } = await src.read(buf, 0, c.length, from.offset);
        if (bytesRead !== c.length) continue;
      } finally {
        await src.close();
      }
      await fh!.write(buf, 0, c.length, c.offset);
      copied.push(i);
    }
    await Promise.all(copied.map(async (i) => {
      if (await check(i)) ok.add(i);
    }));
    return [...ok].sort((a, b) => a - b);
  }

  return sink;
}

/**
 * Makes a file executable (`+x` wherever it is readable, as `chmod a+X` and git do) or
 * not (no `x` bit at all). A no-op where the mode already says so; nothing on Windows.
 */
export async function setExecutable(file: string, executable: boolean): Promise<void> {
  if (process.platform === 'win32') return;
  const mode = (await stat(file)).mode & 0o7777;
  const want = executable ? mode | ((mode & 0o444) >> 2) : mode & ~0o111;
  if (want !== mode) await chmod(file, want);
}

/** The file's mode says it is executable (by its owner). Never on Windows. */
export function isExecutableMode(mode: number): boolean {
  return process.platform !== 'win32' && (mode & 0o100) !== 0;
}

export async function isDirectory(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
