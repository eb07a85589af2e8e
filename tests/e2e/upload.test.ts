import { mkdirSync, writeFileSync } from 'node:fs';
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

  it('forgets every finished upload of a folder: after a reload none comes back as waiting', async () => {
    const folder = path.join(f.env.tmp, 'many small');
    mkdirSync(folder);
    for (let i = 0; i < 21; i++) writeFileSync(path.join(folder, `note-${i}.txt`), randomData(500 + i));
    await f.page.getByTestId('folder-input').setInputFiles(folder);
    await expect.poll(() => f.page.locator('.transfer[data-state="done"][data-path^="many small/"]').count(), { timeout: 60_000 }).toBe(21);
    // Late hashing events used to save a checkpoint after the commit removed it.
    await new Promise((r) => setTimeout(r, 500));
    await f.page.reload();
    await f.page.getByRole('heading', { name: 'Library' }).waitFor();
    await new Promise((r) => setTimeout(r, 1000));
    expect(await f.page.locator('.transfer[data-state="waiting"]').count()).toBe(0);
    expect(await f.page.locator('section.transfers').textContent()).not.toContain('0 B of 0 B');
  });

  it('says "unchanged" when the file is already the current version, and adds none', async () => {
    const file = path.join(f.env.tmp, 'twice.txt');
    writeFileSync(file, 'the same, twice');
    await f.page.getByTestId('file-input').setInputFiles(file);
    const rows = f.page.locator('.transfer[data-path="twice.txt"][data-state="done"]');
    await rows.first().waitFor({ timeout: 30_000 });
    await f.page.getByTestId('file-input').setInputFiles(file);
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(() => rows.allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/Unchanged: this is version 1 already/)]));
    expect((await f.alice.request('history', { path: 'twice.txt' })).versions).toHaveLength(1);
  });
});
