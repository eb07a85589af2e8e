/**
 * The relay's log: pino JSON lines with ISO timestamps in `<data>/logs/relay.N.log`.
 * A file is closed and the next begun before it would pass LOG_FILE_BYTES, and at the
 * first line of a new day; LOG_FILES_KEPT files are kept, so the log never takes more
 * than their product. `current.log` links to the live file.
 *
 * The file is written by `LogFile` (not a stream that can emit `error`): a full disk or a
 * failing write never stops the relay. Lines that cannot be written are counted, and once
 * writing works again one line says how many were lost. Every line also goes to a LogHub,
 * which admins tail live over the WebSocket.
 */
import { closeSync, createReadStream, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pino, { type Logger } from 'pino';
import { LOG_FILE_BYTES, LOG_FILES_KEPT, REFUSALS_LOGGED_PER_SECOND } from './limits.js';

export type { Logger };

export type LogLine = Record<string, unknown> & { time: string; level: number };

/** Live log lines for subscribers, and the last few hundred for whoever subscribes late. */
export class LogHub {
  private readonly listeners = new Set<(line: LogLine) => void>();
  readonly recent: LogLine[] = [];

  constructor(private readonly keep = 500) {}

  push(line: LogLine): void {
    this.recent.push(line);
    if (this.recent.length > this.keep) this.recent.shift();
    for (const l of this.listeners) l(line);
  }

  subscribe(listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const FILE_RE = /^relay\.(\d+)\.log$/;

/** The numbered log files in `dir`, oldest first. */
function logFiles(dir: string): { name: string; n: number }[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, n: Number(FILE_RE.exec(name)?.[1] ?? NaN) }))
    .filter((f) => Number.isFinite(f.n))
    .sort((a, b) => a.n - b.n);
}

/** Lines logged between `from` and `to` (ms), oldest first, at most `limit`, read from every log file. */
export async function readLogRange(dataDir: string, from: number, to: number, limit = 20_000): Promise<LogLine[]> {
  const dir = path.join(dataDir, 'logs');
  const out: LogLine[] = [];
  for (const f of logFiles(dir)) {
    const lines = createInterface({ input: createReadStream(path.join(dir, f.name)), crlfDelay: Infinity });
    for await (const text of lines) {
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        continue; // a line cut short by a full disk
      }
      const t = Date.parse(line.time);
      if (t >= from && t <= to) out.push(line);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

/** Most bytes of lines held in memory while the disk refuses them; the rest are only counted. */
const MAX_PENDING_BYTES = 1024 * 1024;
/** How often writing is tried again after a failure. */
const RETRY_MS = 1000;

/**
 * Appends lines to the numbered log files, rotating at a size cap that holds (checked
 * before every write) and at midnight, and surviving a full disk. Writes are batched
 * once per event-loop turn and done synchronously, so they cannot fail later as an
 * unhandled error.
 */
export class LogFile {
  private fd?: number;
  private n = 0;
  private size = 0;
  private day = '';
  private pending: string[] = [];
  private pendingBytes = 0;
  private lost = 0;
  /** The last write ended inside a line: the next one starts a new line first. */
  private cutShort = false;
  private scheduled = false;
  private retryAt = 0;

  constructor(
    readonly dir: string,
    private readonly maxBytes = LOG_FILE_BYTES,
    private readonly keep = LOG_FILES_KEPT,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const newest = logFiles(dir).at(-1);
    this.n = newest?.n ?? 0;
    if (newest) this.openFile(false);
  }

  private today(): string {
    return new Date().toISOString().slice(0, 10);
  }

  /** Opens file `n` (the newest, to continue it) or, with `next`, the one after. */
  private openFile(next: boolean): void {
    const n = Math.max(1, next ? this.n + 1 : this.n);
    const fd = openSync(path.join(this.dir, `relay.${n}.log`), 'a', 0o600);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = fd;
    this.n = n;
    const st = fstatSync(fd);
    this.size = st.size;
    this.day = next || st.size === 0 ? this.today() : new Date(st.mtimeMs).toISOString().slice(0, 10);
    this.pointCurrent(`relay.${this.n}.log`);
    for (const old of logFiles(this.dir).slice(0, -this.keep)) rmSync(path.join(this.dir, old.name), { force: true });
  }

  private pointCurrent(name: string): void {
    const link = path.join(this.dir, 'current.log');
    const temp = `${link}.${process.pid}`;
    try {
      rmSync(temp, { force: true });
      symlinkSync(name, temp);
      renameSync(temp, link);
    } catch {
      /* a missing link only inconveniences people reading the folder */
    }
  }

  /** Queues one or more complete lines (each ending in "\n"). */
  write(text: string): void {
    if (this.pendingBytes + text.length > MAX_PENDING_BYTES) {
      this.lost += countLines(text);
      return;
    }
    this.pending.push(text);
    this.pendingBytes += text.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Writes what is queued, now. */
  flush(): void {
    if (this.pending.length === 0 && this.lost === 0) return;
    if (Date.now() < this.retryAt) {
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => {
          this.scheduled = false;
          this.flush();
        }, RETRY_MS).unref?.();
      }
      return;
    }
    let prefix = '';
    if (this.cutShort) prefix = '\n';
    if (this.lost > 0) prefix += `${JSON.stringify({ level: 40, time: new Date().toISOString(), event: 'log.lost', lines: this.lost, msg: `${this.lost} log lines could not be written (the disk was full or failing)` })}\n`;
    const prefixBytes = Buffer.byteLength(prefix);
    const bytes = Buffer.from(prefix + this.pending.join(''));
    let done = 0;
    try {
      if (this.fd === undefined || this.day !== this.today() || (this.size > 0 && this.size + bytes.length > this.maxBytes)) this.openFile(true);
      while (done < bytes.length) done += writeSync(this.fd!, bytes, done, bytes.length - done);
      this.size += done;
      this.cutShort = false;
      this.pending = [];
      this.pendingBytes = 0;
      this.lost = 0;
    } catch {
      // The disk refused (full, failing). Lines written in part are counted as lost (and
      // the cut line ended first next time); the rest stays queued, bounded, for a retry.
      if (done > 0) {
        this.size += done;
        this.cutShort = bytes[done - 1] !== 0x0a;
        // Once the line about earlier losses is out, only what follows it counts anew.
        const unwritten = countLines(bytes.subarray(done).toString());
        this.lost = done >= prefixBytes ? unwritten : this.lost + unwritten;
        this.pending = [];
        this.pendingBytes = 0;
      }
      this.retryAt = Date.now() + RETRY_MS;
      this.flush();
    }
  }

  close(): void {
    this.retryAt = 0;
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Logs refusals at most `perSecond` a second; the rest are counted, and one line a second
 * later says how many were left out.
 */
export class RefusalLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly log: Logger,
    private readonly perSecond = REFUSALS_LOGGED_PER_SECOND,
  ) {}

  write(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow++ < this.perSecond) {
      this.log.warn(fields, message);
      return;
    }
    this.suppressed++;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      const n = this.suppressed;
      this.suppressed = 0;
      if (n > 0) this.log.warn({ event: 'refused.summary', count: n }, `${n} more refusals in the last second were not logged one by one`);
    }, 1000);
    this.timer.unref?.();
  }
}

export function createLogger(dataDir: string, level: string): { log: Logger; flush: () => void; close: () => void; hub: LogHub } {
  const file = new LogFile(path.join(dataDir, 'logs'));
  const hub = new LogHub();
  const destination = {
    write(text: string) {
      file.write(text);
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          hub.push(JSON.parse(line));
        } catch {
          /* not a JSON line */
        }
      }
    },
  };
  const log = pino({ level, timestamp: pino.stdTimeFunctions.isoTime, base: undefined }, destination);
  return { log, hub, flush: () => file.flush(), close: () => file.close() };
}
