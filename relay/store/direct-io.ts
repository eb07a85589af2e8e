/**
 * Chunk writes that bypass the page cache (O_DIRECT) where the file system allows it.
 *
 * A buffered write copies every byte into page-cache pages the kernel must first find
 * and later write back; on a relay that takes in hundreds of MiB/s, that copy and the
 * churn of fresh pages cost more CPU than verifying the chunk. With O_DIRECT the disk
 * reads the bytes straight from our memory. The kernel demands that the address, the
 * length and the file offset be multiples of the device's block size. JavaScript
 * cannot ask for an aligned address, so the writer adopts one long-lived block of
 * shared memory (the relay receives chunks into it for hashing) and finds by probing
 * where in it writes are aligned. A chunk handed over as a view of that memory,
 * starting at an aligned offset, is written from there, zero-padded to the block
 * size, and a padded file is truncated to the chunk's length.
 *
 * Anything else (file systems without O_DIRECT such as tmpfs, chunks elsewhere in
 * memory) takes the ordinary buffered path: durability is the same either way (the
 * caller fsyncs the file and its folder).
 */
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Alignment used for lengths and probed for addresses: covers 512 and 4096-byte devices. */
export const DIRECT_ALIGN = 4096;

export class DirectWriter {
  private memory?: SharedArrayBuffer;
  private base = 0;

  private constructor(private readonly dir: string) {}

  /** A writer for files in `dir`, or undefined when O_DIRECT cannot be opened there. */
  static probe(dir: string): DirectWriter | undefined {
    if (!constants.O_DIRECT) return undefined;
    try {
      closeSync(openSync(probeFile(dir), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600));
      return new DirectWriter(dir);
    } catch {
      return undefined;
    } finally {
      rmSync(probeFile(dir), { force: true });
    }
  }

  /**
   * Adopts `memory` (at least DIRECT_ALIGN bytes) for direct writes. Returns the offset
   * in it from which views at multiples of DIRECT_ALIGN are aligned, or undefined when
   * the kernel refuses every offset.
   */
  adopt(memory: SharedArrayBuffer): number | undefined {
    const view = new Uint8Array(memory);
    const fd = openSync(probeFile(this.dir), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600);
    try {
      // Allocations are at least 16-byte aligned; the first offset the kernel accepts is aligned.
      for (let at = 0; at + DIRECT_ALIGN <= memory.byteLength && at < DIRECT_ALIGN; at += 16) {
        try {
          writeSync(fd, view, at, DIRECT_ALIGN, 0);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EINVAL') continue;
          return undefined;
        }
        this.memory = memory;
        this.base = at;
        return at;
      }
      return undefined;
    } finally {
      closeSync(fd);
      rmSync(probeFile(this.dir), { force: true });
    }
  }

  /**
   * Writes `data` to a new file at `file` with O_DIRECT and returns its open handle for
   * the caller to fsync and close; or undefined, writing nothing, when `data` is not
   * an aligned view of the adopted memory with room for its padding. The padding
   * bytes after `data` in that memory are overwritten with zeros.
   */
  async write(file: string, data: Uint8Array): Promise<FileHandle | undefined> {
    const padded = Math.ceil(data.byteLength / DIRECT_ALIGN) * DIRECT_ALIGN;
    if (
      data.byteLength === 0 ||
      data.buffer !== this.memory ||
      (data.byteOffset - this.base) % DIRECT_ALIGN !== 0 ||
      data.byteOffset + padded > this.memory.byteLength
    ) {
      return undefined;
    }
    const view = new Uint8Array(this.memory, data.byteOffset, padded);
    view.fill(0, data.byteLength);
    const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o600);
    try {
      let done = 0;
      while (done < padded) done += (await fh.write(view, done, padded - done, done)).bytesWritten;
      if (padded !== data.byteLength) await fh.truncate(data.byteLength);
    } catch (err) {
      await fh.close();
      throw err;
    }
    return fh;
  }
}

function probeFile(dir: string): string {
  return `${dir}/direct-probe-${process.pid}`;
}
