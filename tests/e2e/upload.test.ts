import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { downloadFile, type FerryClient } from '../../relay/client/index.js';
import { aliceInApp, hasChromium } from '../helpers/browser.js';
import { memorySink, randomData, sha256 } from '../helpers/files.js';

describe.runIf(hasChromium)('uploading from the web app', () => {
  const f = aliceInApp();

  it('uploads a 50 MiB file picked in the app: stored bytes identical, the relay\'s SHA-256 shown', async () => {
    const data = randomData(50 * 1024 * 1024);
    const file = path.join(f.env.tmp, 'fifty.bin');
    writeFileSync(file, data);
    await f.page.getByTestId('file-input').setInputFiles(file);
    const row = f.page.locator('.transfer[data-path="fifty.bin"]');
    await row.and(f.page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => row.getByTestId('sha256').textContent()).toContain(sha256(data));
    const sink = memorySink();
    await downloadFile(f.alice, sink, { path: 'fifty.bin' });
    expect(sha256(sink.bytes())).toBe(sha256(data));
    // The library lists it with its facts.
    const entry = f.page.locator('.entry[data-path="fifty.bin"]');
    await expect.poll(() => entry.textContent()).toContain('50 MiB');
    await f.page.screenshot({ path: path.join(f.env.tmp, 'shot.png'), fullPage: true });
  });
});
