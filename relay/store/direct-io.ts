/**
 * Chunk writes that bypass the page cache (O_DIRECT) where the file system allows it.
 *
 * A buffered write copies every byte into page-cache pages the kernel must first find
 * and later write back; on a relay that takes in hundreds of MiB/s, that copy and the
 * churn of fresh pages cost more CPU than verifying the chunk. With O_DIRECT the disk
 * reads the bytes straight from our buffer. The kernel demands the buffer's address,
 * the length and the file offset be multiples of the device's block size, which
 * JavaScript cannot ask for, so `DirectWriter` allocates one pool of slots and finds
 * an aligned start in it by probing. A chunk is copied into a free slot (zero-padded
 * to the alignment; writes wait for a slot while all are busy) and written; a padded
 * file is truncated to the chunk's length.
 *
 * File systems without O_DIRECT (tmpfs, some network and overlay file systems) fail
 * the probe, and chunks larger than a slot take the ordinary buffered path:
 * durability is the same either way (the caller fsyncs the file and its folder).
 */
import { closeSync, constants, openSync, rmSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Alignment used for lengths and probed for addresses: covers 512 and 4096-byte devices. */
const ALIGN = 4096;

export class DirectWriter {
  private pool?: Buffer;
  private start = 0;
  private readonly free: number[] = [];
  /** Writes waiting for a slot, first come first served. */
  private readonly waiting: ((slot: number) => void)[] = [];

  private constructor(
    readonly slotBytes: number,
    slots: number,
  ) {
    for (let i = slots - 1; i >= 0; i--) this.free.push(i);
  }

  /**
   * A writer for files in `dir`, or undefined when O_DIRECT writes do not work there.
   * Slots are allocated on first use.
   */
  static probe(dir: string, slotBytes: number, slots: number): DirectWriter | undefined {
    if (!constants.O_DIRECT || slotBytes % ALIGN !== 0) return undefined;
    const writer = new DirectWriter(slotBytes, slots);
    // Not zero-filled: pages of slots never used stay unallocated.
    const pool = Buffer.allocUnsafeSlow(slots * slotBytes + ALIGN);
    const probe = `${dir}/direct-probe-${process.pid}`;
    let fd: number;
    try {
      fd = openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600);
    } catch {
      return undefined;
    }
    try {
      // Buffers are at least 16-byte aligned; the first offset the kernel accepts is aligned.
      for (let at = 0; at < ALIGN; at += 16) {
        try {
          writeSync(fd, pool, at, ALIGN, 0);
          writer.pool = pool;
          writer.start = at;
          return writer;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
        }
      }
      return undefined;
    } finally {
      closeSync(fd);
      rmSync(probe, { force: true });
    }
  }

  private acquire(): Promise<number> | number {
    return this.free.pop() ?? new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(slot: number): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.free.push(slot);
  }

  /**
   * Writes `data` to a new file at `file` with O_DIRECT, waiting for a free slot, and
   * returns its open handle for the caller to fsync and close; or undefined for a
   * chunk that is empty or larger than a slot, leaving it to the caller's buffered path.
   */
  async write(file: string, data: Uint8Array): Promise<FileHandle | undefined> {
    if (data.byteLength === 0 || data.byteLength > this.slotBytes) return undefined;
    const slot = await this.acquire();
    try {
      const at = this.start + slot * this.slotBytes;
      const padded = Math.ceil(data.byteLength / ALIGN) * ALIGN;
      const view = this.pool!.subarray(at, at + padded);
      view.set(data);
      view.fill(0, data.byteLength);
      const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
      try {
        let done = 0;
        while (done < padded) done += (await fh.write(view, done, padded - done, done)).bytesWritten;
        if (padded !== data.byteLength) await fh.truncate(data.byteLength);
      } catch (err) {
        await fh.close();
        throw err;
      }
      return fh;
    } finally {
      this.release(slot);
    }
  }
}
