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
    // Progress is in sight while it runs: in the header, and in the tab's title.
    await expect.poll(() => f.page.title(), { timeout: 30_000, interval: 50 }).toMatch(/^\d+% · 1 uploading · Ferry$/);
    expect(await f.page.getByTestId('header-progress').textContent()).toMatch(/^↑ \d+% \(1\)$/);
    await row.and(f.page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => f.page.title()).toBe('Ferry');
    await expect.poll(() => row.getByTestId('sha256').textContent()).toContain(sha256(data));
    const sink = memorySink();
    await downloadFile(f.alice, sink, { path: 'fifty.bin' });
    expect(sha256(sink.bytes())).toBe(sha256(data));
    // The library lists it with its facts.
    const entry = f.page.locator('.entry[data-path="fifty.bin"]');
    await expect.poll(() => entry.textContent()).toContain('50 MiB');
    await f.page.screenshot({ path: path.join(f.env.tmp, 'shot.png'), fullPage: true });
  });

  it('uploads 150 small files several at a time, every one intact, listing the latest 20 finished and counting the rest', async () => {
    const folder = path.join(f.env.tmp, 'bulk');
    mkdirSync(folder);
    const want = new Map<string, string>();
    for (let i = 0; i < 150; i++) {
      const data = randomData(i % 7 === 0 ? 0 : 700 + i);
      writeFileSync(path.join(folder, `b-${String(i).padStart(3, '0')}.bin`), data);
      want.set(`bulk/b-${String(i).padStart(3, '0')}.bin`, sha256(data));
    }
    const doneBefore = Number(await f.page.getByTestId('transfer-counts').getAttribute('data-done').catch(() => '0'));
    const doneAfter = String(doneBefore + 150);
    // How many run at once, seen from the page.
    await f.page.evaluate((doneAfter) => {
      const w = window as unknown as { mostActive: number };
      w.mostActive = 0;
      const timer = setInterval(() => {
        const n = document.querySelectorAll('.transfer:is([data-state="hashing"],[data-state="uploading"],[data-state="verifying"])').length;
        w.mostActive = Math.max(w.mostActive, n);
        if (document.querySelector('[data-testid="transfer-counts"]')?.getAttribute('data-done') === doneAfter) clearInterval(timer);
      }, 5);
    }, doneAfter);
    await f.page.getByTestId('folder-input').setInputFiles(folder);
    await expect.poll(() => f.page.getByTestId('transfer-counts').getAttribute('data-done'), { timeout: 120_000 }).toBe(doneAfter);
    expect(await f.page.evaluate(() => (window as unknown as { mostActive: number }).mostActive)).toBeGreaterThan(2);
    // Rows: the latest 20 finished (no queued or running left), the rest counted in words.
    await expect.poll(() => f.page.locator('.transfer[data-path^="bulk/"]').count()).toBe(20);
    expect(await f.page.getByTestId('transfer-counts').textContent()).toContain(`${doneAfter} of`);
    expect(await f.page.getByTestId('transfer-counts').textContent()).toContain('the last 20 shown');
    const listed = await f.alice.request('list', { folder: 'bulk' });
    expect(new Map(listed.entries.map((e) => [e.path, e.sha256]))).toEqual(want);
  });

  it('forgets every finished upload of a folder: after a reload none comes back as waiting', async () => {
    const folder = path.join(f.env.tmp, 'many small');
    mkdirSync(folder);
    for (let i = 0; i < 21; i++) writeFileSync(path.join(folder, `note-${i}.txt`), randomData(500 + i));
    await f.page.getByTestId('folder-input').setInputFiles(folder);
    await expect.poll(() => f.page.locator('.transfer[data-state="done"][data-path^="many small/"]').count(), { timeout: 60_000 }).toBe(20);
    // (the 20 latest are listed; the counts say the rest finished too)
    await expect.poll(() => f.alice.request('list', { folder: 'many small' }).then((r) => r.entries.length), { timeout: 60_000 }).toBe(21);
    // Late hashing events used to save a checkpoint after the commit removed it.
    await new Promise((r) => setTimeout(r, 500));
    await f.page.reload();
    await f.page.getByRole('heading', { name: 'My files' }).waitFor();
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
    await f.page.getByRole('dialog').getByRole('button', { name: /^Replace/ }).click();
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(2);
    await expect.poll(() => rows.allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/Unchanged: this is version 1 already/)]));
    expect((await f.alice.request('history', { path: 'twice.txt' })).versions).toHaveLength(1);
  });

  it('uploads files dropped anywhere on the window, and files pasted (a pasted screenshot gets a dated name)', async () => {
    // A drop on the library list, away from the add box.
    await f.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['dropped on the list'], 'dropped.txt', { type: 'text/plain' }));
      const target = document.querySelector('section.library')!;
      target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
      target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await f.page.locator('.transfer[data-path="dropped.txt"][data-state="done"]').waitFor({ timeout: 30_000 });
    // A paste with the focus on the page, not in a field.
    await f.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array([137, 80, 78, 71])], 'image.png', { type: 'image/png' }));
      document.body.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await f.page.locator('.transfer[data-path^="Pasted "][data-state="done"]').waitFor({ timeout: 30_000 });
    const names = (await f.alice.request('list', { folder: '' })).entries.map((e) => e.name);
    expect(names).toContain('dropped.txt');
    expect(names.some((n) => /^Pasted \d{4}-\d\d-\d\d \d\d\.\d\d\.\d\d\.png$/.test(n))).toBe(true);
    // Pasting text into a field stays text.
    const counts = f.page.getByTestId('transfer-counts');
    const before = await counts.getAttribute('data-count');
    await f.page.getByTestId('conflict').evaluate((el) => {
      const dt = new DataTransfer();
      dt.items.add(new File(['x'], 'notes.txt'));
      el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(await counts.getAttribute('data-count')).toBe(before);
  });
});
