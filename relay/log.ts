/**
 * The relay's log: pino JSON lines with ISO timestamps in `<data>/logs/relay.N.log`,
 * rolled daily or at 20 MB, 14 files kept; `current.log` links to the live file.
 * Every line also goes to a LogHub, which admins tail live over the WebSocket.
 */
import { createReadStream, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import roll from 'pino-roll';

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

/** Lines logged between `from` and `to` (ms), oldest first, at most `limit`, read from every log file. */
export async function readLogRange(dataDir: string, from: number, to: number, limit = 20_000): Promise<LogLine[]> {
  const dir = path.join(dataDir, 'logs');
  const files = readdirSync(dir)
    .filter((f) => /^relay\.\d+\.log$/.test(f))
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  const out: LogLine[] = [];
  for (const f of files) {
    const lines = createInterface({ input: createReadStream(path.join(dir, f)), crlfDelay: Infinity });
    for await (const text of lines) {
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        continue;
      }
      const t = Date.parse(line.time);
      if (t >= from && t <= to) out.push(line);
      if (out.length >= limit) return out;
    }
  }
  return out;
}

export async function createLogger(dataDir: string, level: string): Promise<{ log: Logger; flush: () => void; hub: LogHub }> {
  const dir = path.join(dataDir, 'logs');
  // Made here, not by the stream: the stream creates its folder asynchronously, after the symlink.
  mkdirSync(dir, { recursive: true });
  const stream = await roll({
    file: path.join(dir, 'relay'),
    extension: '.log',
    frequency: 'daily',
    size: '20m',
    symlink: true,
    limit: { count: 14 },
  });
  const hub = new LogHub();
  const tee = new Writable({
    write(chunk, _encoding, done) {
      for (const text of String(chunk).split('\n')) {
        if (!text) continue;
        try {
          hub.push(JSON.parse(text));
        } catch {
          /* not a JSON line */
        }
      }
      done();
    },
  });
  const log = pino({ level, timestamp: pino.stdTimeFunctions.isoTime, base: undefined }, pino.multistream([{ stream, level: level as pino.Level }, { stream: tee, level: level as pino.Level }]));
  return {
    log,
    hub,
    flush: () => {
      try {
        stream.flushSync();
      } catch {
        /* not yet open: nothing buffered */
      }
    },
  };
}
