/**
 * The relay's log: pino JSON lines with ISO timestamps in `<data>/logs/relay.N.log`,
 * rolled daily or at 20 MB, 14 files kept; `current.log` links to the live file.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import roll from 'pino-roll';

export type { Logger };

export async function createLogger(dataDir: string, level: string): Promise<{ log: Logger; flush: () => void }> {
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
  const log = pino({ level, timestamp: pino.stdTimeFunctions.isoTime, base: undefined }, stream);
  return {
    log,
    flush: () => {
      try {
        stream.flushSync();
      } catch {
        /* not yet open: nothing buffered */
      }
    },
  };
}
