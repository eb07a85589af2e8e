import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { LogFile, RefusalLog, readLogRange } from '../../relay/log.js';
import { tempDir } from '../helpers/relay.js';

const line = (i: number) => `${JSON.stringify({ level: 30, time: new Date(1_700_000_000_000 + i).toISOString(), i, pad: 'x'.repeat(60) })}\n`;

describe('LogFile', () => {
  it('never lets a file pass its size cap, keeps the newest files, and points current.log at the live one', async () => {
    const tmp = tempDir();
    try {
      const dir = path.join(tmp.dir, 'logs');
      const log = new LogFile(dir, 1000, 3);
      for (let i = 0; i < 100; i++) {
        log.write(line(i));
        log.flush();
      }
      log.close();
      const files = readdirSync(dir).filter((f) => /^relay\.\d+\.log$/.test(f));
      expect(files).toHaveLength(3);
      for (const f of files) expect(statSync(path.join(dir, f)).size).toBeLessThanOrEqual(1000);
      const newest = files.sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1])).at(-1)!;
      expect(readlinkSync(path.join(dir, 'current.log'))).toBe(newest);
      // What is kept reads back in order, ending with the last line.
      const lines = await readLogRange(tmp.dir, 0, Date.now());
      expect(lines.at(-1)).toMatchObject({ i: 99 });
      expect(lines.map((l) => l.i)).toEqual([...lines.map((l) => l.i)].sort((a, b) => Number(a) - Number(b)));
      // A restart continues the newest file instead of starting a new one.
      const again = new LogFile(dir, 1000, 3);
      again.write(line(100));
      again.close();
      expect(readFileSync(path.join(dir, newest), 'utf8')).toContain('"i":100');
      expect(statSync(path.join(dir, newest)).mode & 0o777).toBe(0o600);
    } finally {
      tmp.remove();
    }
  });
});

describe('RefusalLog', () => {
  it('logs at most its rate a second and sums up the rest in one line', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
    const refusals = new RefusalLog(log, 20);
    for (let i = 0; i < 1000; i++) refusals.write({ event: 'refused', i }, 'refused');
    await new Promise((r) => setTimeout(r, 1200));
    expect(lines.filter((l) => l.event === 'refused')).toHaveLength(20);
    expect(lines.find((l) => l.event === 'refused.summary')).toMatchObject({ count: 980 });
  });
});
