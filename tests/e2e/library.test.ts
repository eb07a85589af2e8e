import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliceInApp, hasChromium, openProfile, openSpace, rowAction, signInPage } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/files.js';
import { sharedFolder } from '../helpers/relay.js';

describe.runIf(hasChromium)('the library in the web app', () => {
  const f = aliceInApp();
  const done = (p: string, n = 0) => f.page.locator(`.transfer[data-path="${p}"][data-state="done"]`).nth(n).waitFor({ timeout: 60_000 });

  it('uploads a picked folder keeping its nested paths', async () => {
    const root = path.join(f.env.tmp, 'Project');
    mkdirSync(path.join(root, 'src', 'deep'), { recursive: true });
    writeFileSync(path.join(root, 'README.md'), '# hi');
    writeFileSync(path.join(root, 'src', 'main.ts'), 'main');
    writeFileSync(path.join(root, 'src', 'deep', 'x.bin'), randomData(5000));
    await f.page.getByTestId('folder-input').setInputFiles(root);
    for (const p of ['Project/README.md', 'Project/src/main.ts', 'Project/src/deep/x.bin']) await done(p);
    const deep = await f.alice.request('list', { folder: 'Project/src/deep' });
    expect(deep.entries.map((e) => e.path)).toEqual(['Project/src/deep/x.bin']);
    await f.page.locator('.entry[data-path="Project"] button.folder').click();
    await f.page.locator('.entry[data-path="Project/src"]').waitFor();
    await f.page.getByRole('navigation', { name: 'Folder' }).getByRole('button', { name: 'My files' }).click();
    await f.page.locator('.entry[data-path="Project"]').waitFor();
  });

  it('downloads a folder as one zip from its actions menu', async () => {
    await f.page.locator('.entry[data-path="Project"]').waitFor();
    const [download] = await Promise.all([f.page.waitForEvent('download'), rowAction(f.page, 'Project', 'Download Project as zip')]);
    expect(download.suggestedFilename()).toBe('Project.zip');
    const saved = path.join(f.env.tmp, 'Project.zip');
    await download.saveAs(saved);
    const listing = execFileSync('unzip', ['-l', saved], { encoding: 'utf8' });
    for (const p of ['Project/README.md', 'Project/src/main.ts', 'Project/src/deep/x.bin']) expect(listing).toContain(p);
    expect(execFileSync('unzip', ['-t', saved], { encoding: 'utf8' })).toContain('No errors detected');
  });

  it('uploads files dropped on the page', async () => {
    const dt = await f.page.evaluateHandle(() => {
      const d = new DataTransfer();
      d.items.add(new File(['dropped bytes'], 'dropped.txt', { type: 'text/plain' }));
      return d;
    });
    await f.page.dispatchEvent('section.add', 'dragover', { dataTransfer: dt });
    await f.page.dispatchEvent('section.add', 'drop', { dataTransfer: dt });
    await done('dropped.txt');
    expect((await f.alice.request('list', { folder: '' })).entries.find((e) => e.name === 'dropped.txt')?.sha256).toBe(sha256(Buffer.from('dropped bytes')));
  });

  it('honours the conflict policy chosen for the batch', async () => {
    const file = path.join(f.env.tmp, 'plan.txt');
    writeFileSync(file, 'first plan');
    await f.page.getByTestId('file-input').setInputFiles(file);
    await done('plan.txt');
    writeFileSync(file, 'second plan');
    await f.page.getByTestId('conflict').selectOption('rename');
    await f.page.getByTestId('file-input').setInputFiles(file);
    await done('plan_v2.txt');
    await f.page.getByTestId('conflict').selectOption('version');
    const list = await f.alice.request('list', { folder: '' });
    expect(list.entries.filter((e) => e.name.startsWith('plan')).map((e) => [e.name, e.versions])).toEqual([
      ['plan.txt', 1],
      ['plan_v2.txt', 1],
    ]);
  });

  it('downloads a past version byte-identical from the history dialog, and restores it', async () => {
    const file = path.join(f.env.tmp, 'photo.raw');
    const v1 = randomData(6 * 1024 * 1024);
    writeFileSync(file, v1);
    await f.page.getByTestId('file-input').setInputFiles(file);
    await done('photo.raw');
    writeFileSync(file, randomData(1000));
    await f.page.getByTestId('file-input').setInputFiles(file);
    await done('photo.raw', 1);
    await rowAction(f.page, 'photo.raw', 'Versions of photo.raw');
    const dialog = f.page.getByRole('dialog');
    await dialog.locator('li[data-version="1"]').waitFor();
    const [download] = await Promise.all([f.page.waitForEvent('download'), dialog.getByRole('button', { name: 'Download version 1' }).click()]);
    const saved = path.join(f.env.tmp, 'photo.v1');
    await download.saveAs(saved);
    expect(sha256(readFileSync(saved))).toBe(sha256(v1));
    await dialog.getByRole('button', { name: 'Restore version 1' }).click();
    await dialog.locator('li[data-version="3"]').waitFor();
    expect((await f.alice.request('history', { path: 'photo.raw' })).versions[0]).toMatchObject({ version: 3, current: true, sha256: sha256(v1) });
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('WebCrypto and @noble/hashes give the same chunk and content hashes', async () => {
    const data = randomData(9 * 1024 * 1024 + 123);
    const a = path.join(f.env.tmp, 'same-a.bin');
    writeFileSync(a, data);
    await f.page.getByTestId('file-input').setInputFiles(a);
    await done('same-a.bin');
    // The same bytes under another name, hashed with the portable hasher.
    const b = path.join(f.env.tmp, 'same-b.bin');
    copyFileSync(a, b);
    await f.page.goto(`${f.env.relay.httpUrl}/?hasher=noble`);
    await f.page.getByRole('heading', { name: 'My files' }).waitFor();
    await f.page.getByTestId('file-input').setInputFiles(b);
    await done('same-b.bin');
    // Every chunk hash matched what the relay already held: nothing was sent.
    await expect.poll(() => f.page.locator('.transfer[data-path="same-b.bin"]').textContent()).toContain('9.0 MiB of it already on the relay, not sent again');
    const list = await f.alice.request('list', { folder: '' });
    const [ea, eb] = ['same-a.bin', 'same-b.bin'].map((n) => list.entries.find((e) => e.name === n)!);
    expect(eb.contentHash).toBe(ea.contentHash);
    expect(eb.sha256).toBe(sha256(data));
    const log = await f.page.locator('.log li').allTextContents();
    expect(log.some((l) => l.includes('hashing with noble'))).toBe(true);
  });
});

describe.runIf(hasChromium)('a live library', () => {
  const f = aliceInApp();

  it("shows bob's upload to a shared folder within a second, without a reload; his My files stays his", async () => {
    // The folder appears in alice's open app as soon as an admin adds her.
    await sharedFolder(f.env.relay, 'Family', { alice: 'edit', bob: 'edit' });
    await openSpace(f.page, 'Family');
    const other = await openProfile();
    try {
      const bobPage = other.context.pages()[0] ?? (await other.context.newPage());
      await signInPage(bobPage, f.env.relay.httpUrl, 'bob', 'bob-password-1');
      const mine = path.join(f.env.tmp, 'bobs-own.txt');
      writeFileSync(mine, 'only bob');
      await bobPage.getByTestId('file-input').setInputFiles(mine);
      await bobPage.locator('.transfer[data-path="bobs-own.txt"][data-state="done"]').waitFor({ timeout: 30_000 });
      await openSpace(bobPage, 'Family');
      const file = path.join(f.env.tmp, 'elsewhere.txt');
      writeFileSync(file, 'from another device');
      await bobPage.getByTestId('file-input').setInputFiles(file);
      await bobPage.locator('.transfer[data-path="elsewhere.txt"][data-state="done"]').waitFor({ timeout: 30_000 });
      const doneAt = Date.now();
      await f.page.locator('.entry[data-path="elsewhere.txt"]').waitFor({ timeout: 1000 });
      expect(Date.now() - doneAt).toBeLessThan(1000);
      expect(await f.page.locator('.entry[data-path="bobs-own.txt"]').count()).toBe(0);
      await openSpace(f.page, 'My files');
      expect(await f.page.locator('.entry[data-path="bobs-own.txt"]').count()).toBe(0);
    } finally {
      await other.close();
    }
  });
});
