import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { uploadFile } from '../../relay/client/index.js';
import { waitFor } from '../helpers/relay.js';
import { aliceInApp, hasChromium, rowAction } from '../helpers/browser.js';
import { bufferSource, randomData, sha256 } from '../helpers/files.js';

describe.runIf(hasChromium)('downloads in the web app', () => {
  const f = aliceInApp();

  it('resume after a reload from the last verified chunk, and the saved file is identical', async () => {
    const { page } = f;
    const data = randomData(50 * 1024 * 1024);
    await uploadFile(f.alice, bufferSource(data), { path: 'big-download.bin' });
    await page.reload();
    // A link of 10 MiB/s (DevTools network emulation, which the worker's WebSocket obeys),
    // so the reload lands half-way through 50 MiB rather than after the end.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const link = (bytesPerSecond: number) =>
      cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: bytesPerSecond, uploadThroughput: -1 });
    await link(10 * 1024 * 1024);
    await rowAction(page, 'big-download.bin', 'Download big-download.bin');
    const progress = () => page.locator('.transfer.download progress').evaluate((p) => (p as HTMLProgressElement).value, undefined, { timeout: 1000 }).catch(() => 0);
    await waitFor(async () => ((await progress()) >= 0.4 ? true : undefined), 60_000);
    expect(await progress()).toBeLessThan(0.8);
    const downloaded = page.waitForEvent('download', { timeout: 120_000 });
    await page.reload();
    await link(-1);
    const download = await downloaded;
    const saved = path.join(f.env.tmp, 'big-download.saved');
    await download.saveAs(saved);
    expect(sha256(readFileSync(saved))).toBe(sha256(data));
    // The second leg kept what the first had verified.
    await page.getByText('Client log', { exact: true }).first().click();
    const log = (await page.locator('.log li').allTextContents()).find((l) => l.includes('downloaded big-download.bin'))!;
    expect(Number(/"keptChunks":(\d+)/.exec(log)![1])).toBeGreaterThanOrEqual(4);
    expect(Number(/"fetchedBytes":(\d+)/.exec(log)![1])).toBeLessThan(0.8 * data.length);
  });

  it('shows a download in Transfers with bytes, speed and time left, and cancels it', async () => {
    const { page } = f;
    const data = randomData(30 * 1024 * 1024);
    await uploadFile(f.alice, bufferSource(data), { path: 'to-cancel.bin' });
    await page.reload();
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: 4 * 1024 * 1024, uploadThroughput: -1 });
    await rowAction(page, 'to-cancel.bin', 'Download to-cancel.bin');
    const row = page.locator('.transfer.download[data-path="to-cancel.bin"]');
    await expect.poll(() => row.getByTestId('download-bytes').textContent(), { timeout: 20_000 }).toMatch(/^[1-9][\d.]* MiB of 30 MiB$/);
    await expect.poll(() => row.locator('.details').textContent(), { timeout: 20_000 }).toMatch(/B\/s .*left/);
    expect(await page.getByTestId('header-download').textContent()).toMatch(/^↓ \d+% \(1\)$/);
    await row.getByRole('button', { name: 'Cancel the download of to-cancel.bin' }).click();
    await expect.poll(() => row.getAttribute('data-state')).toBe('cancelled');
    expect(await page.getByTestId('header-download').count()).toBe(0);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    // Cancelled means forgotten: a reload does not resume it.
    await page.reload();
    await page.locator('#library-title').waitFor();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await page.locator('.transfer.download[data-path="to-cancel.bin"]').count()).toBe(0);
  });
});
