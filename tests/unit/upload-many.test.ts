import { describe, expect, it } from 'vitest';
import { uploadMany } from '../../relay/cli/main.js';

const files = Array.from({ length: 40 }, (_, i) => ({ local: `l${i}`, remote: `r${i}`, size: i + 1 }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('uploading many small files at once', () => {
  it('keeps at most `concurrency` in flight and reports every result in the files’ order with the bytes done', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: [string, number][] = [];
    await uploadMany(
      files,
      6,
      async (f) => {
        most = Math.max(most, ++inFlight);
        // Later files finish first now and then.
        await sleep(((Number(f.local.slice(1)) * 7) % 5) * 2);
        inFlight--;
        return f.remote;
      },
      (r, done) => seen.push([r, done]),
    );
    expect(most).toBe(6);
    expect(seen.map(([r]) => r)).toEqual(files.map((f) => f.remote));
    expect(seen.map(([, d]) => d)).toEqual(files.map((_, i) => ((i + 1) * (i + 2)) / 2));
  });

  it('stops starting uploads at the first failure, lets those under way finish, and throws it', async () => {
    const started: number[] = [];
    let finished = 0;
    const reported: string[] = [];
    const boom = new Error('STORAGE_FAILED');
    await expect(
      uploadMany(
        files,
        4,
        async (f) => {
          const i = Number(f.local.slice(1));
          started.push(i);
          if (i === 5) throw boom;
          await sleep(5);
          finished++;
          return f.remote;
        },
        (r) => reported.push(r),
      ),
    ).rejects.toBe(boom);
    // 0–3 first, then 4 and 5 as slots free; 5 fails, so nothing after the ones under way.
    expect(Math.max(...started)).toBeLessThan(5 + 4);
    expect(finished).toBe(started.length - 1);
    // Only files before the failed one are reported (in order).
    expect(reported).toEqual(files.slice(0, reported.length).map((f) => f.remote));
    expect(reported.length).toBeLessThanOrEqual(5);
  });
});
