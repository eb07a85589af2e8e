import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/relay.js';
import { aliceInApp, hasChromium } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/files.js';

const MiB = 1024 * 1024;

describe.runIf(hasChromium)('the transfers panel', () => {
  const f = aliceInApp();
  const row = (p: string) => f.page.locator(`.transfer[data-path="${p}"]`);
  const progress = (p: string) => row(p).locator('progress').evaluate((e) => (e as HTMLProgressElement).value);

  it('pauses and resumes an upload, keeping the main thread free of long tasks', async () => {
    await f.page.evaluate(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((list) => list.getEntries().forEach((e) => w.longTasks.push(e.duration))).observe({ type: 'longtask' });
    });
    const data = randomData(300 * MiB);
    const file = path.join(f.env.tmp, 'pausable.bin');
    writeFileSync(file, data);
    await f.page.getByTestId('file-input').setInputFiles(file);
    await waitFor(async () => ((await progress('pausable.bin')) > 0.2 ? true : undefined), 60_000);
    await f.page.getByRole('button', { name: 'Pause pausable.bin' }).click();
    await row('pausable.bin').and(f.page.locator('[data-state="paused"]')).waitFor();
    const paused = await progress('pausable.bin');
    await new Promise((r) => setTimeout(r, 700));
    expect(await progress('pausable.bin')).toBe(paused);
    expect(paused).toBeLessThan(1);
    await f.page.getByRole('button', { name: 'Resume pausable.bin' }).click();
    await row('pausable.bin').and(f.page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => row('pausable.bin').getByTestId('sha256').textContent()).toContain(sha256(data));
    const longTasks = await f.page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
    expect(Math.max(0, ...longTasks)).toBeLessThanOrEqual(100);
  });

  it('cancels an upload: it never appears in the library', async () => {
    const file = path.join(f.env.tmp, 'cancelled.bin');
    writeFileSync(file, randomData(300 * MiB));
    await f.page.getByTestId('file-input').setInputFiles(file);
    await waitFor(async () => ((await progress('cancelled.bin')) > 0.05 ? true : undefined), 60_000);
    await f.page.getByRole('button', { name: 'Cancel cancelled.bin' }).click();
    await row('cancelled.bin').and(f.page.locator('[data-state="cancelled"]')).waitFor();
    await new Promise((r) => setTimeout(r, 500));
    const list = await f.alice.request('list', { folder: '' });
    expect(list.entries.map((e) => e.name)).not.toContain('cancelled.bin');
  });

  it('shows a failed upload with its error code and readable message, and retries it', async () => {
    const { uploadFile } = await import('../../relay/client/index.js');
    const { bufferSource } = await import('../helpers/files.js');
    await uploadFile(f.alice, bufferSource(Buffer.from('x')), { path: 'taken/inner.txt' });
    const file = path.join(f.env.tmp, 'taken');
    writeFileSync(file, 'a file where a folder is');
    await f.page.getByTestId('file-input').setInputFiles(file);
    const alert = row('taken').getByRole('alert');
    await expect.poll(() => alert.textContent()).toContain('IS_FOLDER');
    await f.page.getByRole('button', { name: 'Retry taken' }).click();
    await expect.poll(() => row('taken').getAttribute('data-state')).toBe('failed');
  });

  it('keeps a client log that can be downloaded as a file', async () => {
    await f.page.getByText('Client log', { exact: true }).first().click();
    const [download] = await Promise.all([f.page.waitForEvent('download'), f.page.getByRole('button', { name: 'Download log' }).click()]);
    const saved = path.join(f.env.tmp, 'client.log');
    await download.saveAs(saved);
    const lines = readFileSync(saved, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((l) => l.message === 'upload done: pausable.bin v1')).toBe(true);
    expect(lines.some((l) => l.message === 'paused pausable.bin')).toBe(true);
    // The resume after the pause hashed only what the checkpoint did not hold yet.
    expect(lines.some((l) => /^continuing pausable\.bin with \d+ chunks hashed earlier$/.test(l.message))).toBe(true);
    expect(lines.every((l) => !Number.isNaN(Date.parse(l.time)))).toBe(true);
  });
});
