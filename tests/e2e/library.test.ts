import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliceInApp, hasChromium, openProfile, openSpace, rowAction, signInPage } from '../helpers/browser.js';
import { bufferSource, randomData, sha256 } from '../helpers/files.js';
import { uploadFile } from '../../relay/client/index.js';
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
    const [download] = await Promise.all([f.page.waitForEvent('download'), rowAction(f.page, 'Project', 'Download as zip: Project')]);
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

  it('asks on a name clash: replace, keep both or skip, for one file or all; the choice made in advance stays', async () => {
    const dir = path.join(f.env.tmp, 'clash');
    mkdirSync(dir, { recursive: true });
    const names = ['a.txt', 'b.txt', 'c.txt'];
    for (const n of names) writeFileSync(path.join(dir, n), `first ${n}`);
    await f.page.getByTestId('conflict').selectOption('ask');
    await f.page.getByRole('button', { name: 'New folder' }).click();
    await f.page.getByLabel('Name of the new folder').fill('clash');
    await f.page.getByRole('button', { name: 'Make folder' }).click();
    await f.page.locator('.entry[data-path="clash"] button.folder').click();
    await f.page.getByTestId('file-input').setInputFiles(names.map((n) => path.join(dir, n)));
    for (const n of names) await done(`clash/${n}`);
    for (const n of [...names, 'd.txt']) writeFileSync(path.join(dir, n), `second ${n}`);
    // Again with one new file: asked about a.txt, "keep both" for it and the other two.
    await f.page.getByTestId('file-input').setInputFiles([...names, 'd.txt'].map((n) => path.join(dir, n)));
    const dialog = f.page.getByRole('dialog');
    await dialog.getByRole('heading', { name: '“a.txt” exists already' }).waitFor();
    await dialog.getByLabel('Do this for the other 2 files that exist already').check();
    await dialog.getByRole('button', { name: /^Keep both/ }).click();
    for (const n of ['clash/a_v2.txt', 'clash/b_v2.txt', 'clash/c_v2.txt', 'clash/d.txt']) await done(n);
    // And once more: replace a.txt, skip the rest.
    await f.page.getByTestId('file-input').setInputFiles(names.map((n) => path.join(dir, n)));
    await dialog.getByRole('button', { name: /^Replace/ }).click();
    await dialog.getByRole('heading', { name: '“b.txt” exists already' }).waitFor();
    await dialog.getByLabel('Do this for the other 1 file that exist already').check();
    await dialog.getByRole('button', { name: 'Skip this file' }).click();
    await expect.poll(async () => (await f.alice.request('list', { folder: 'clash' })).entries.map((e) => [e.name, e.versions])).toEqual([
      ['a.txt', 2], ['a_v2.txt', 1], ['b.txt', 1], ['b_v2.txt', 1], ['c.txt', 1], ['c_v2.txt', 1], ['d.txt', 1],
    ]);
    // A choice made in advance is kept on this device.
    await f.page.getByTestId('conflict').selectOption('version');
    await f.page.reload();
    await f.page.locator('#library-title').waitFor();
    expect(await f.page.getByTestId('conflict').inputValue()).toBe('version');
    await f.page.getByRole('navigation', { name: 'Folder' }).getByRole('button', { name: 'My files' }).click();
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
    // The client log is drawn when its disclosure is opened.
    await f.page.getByText('Client log', { exact: true }).first().click();
    await f.page.locator('.log li').first().waitFor();
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

describe.runIf(hasChromium)('finding things', () => {
  const f = aliceInApp();

  it('sorts names naturally and by size, filters by type, and searches every space as one types', async () => {
    for (const name of ['note10.txt', 'note2.txt', 'note1.txt']) await uploadFile(f.alice, bufferSource(Buffer.from(name)), { path: `notes/${name}` });
    await uploadFile(f.alice, bufferSource(randomData(5000)), { path: 'notes/big picture.png' });
    const team = await sharedFolder(f.env.relay, 'Research', { alice: 'view' });
    const admin = await (await import('../helpers/relay.js')).signIn(f.env.relay, 'admin', 'admin-password');
    await admin.request('folder.members', { folder: team, set: [{ user: 'admin', access: 'edit' }] });
    await uploadFile(admin, bufferSource(Buffer.from('shared')), { space: team, path: 'papers/note on methods.txt' });
    admin.close();
    const page = f.page;
    await page.reload();
    await page.locator('.entry[data-path="notes"] button.folder').click();
    await page.locator('.entry[data-path="notes/note1.txt"]').waitFor();
    const names = () => page.locator('.entries .entry').evaluateAll((els) => els.map((e) => e.getAttribute('data-path')));
    expect(await names()).toEqual(['notes/big picture.png', 'notes/note1.txt', 'notes/note2.txt', 'notes/note10.txt']);
    await page.getByLabel('Sort by').selectOption('size');
    await page.getByRole('button', { name: 'Ascending; switch to descending' }).click();
    expect((await names())[0]).toBe('notes/big picture.png');
    await page.getByLabel('Show').selectOption('image');
    expect(await names()).toEqual(['notes/big picture.png']);
    await page.getByLabel('Show').selectOption('all');
    await page.getByLabel('Sort by').selectOption('name');
    await page.getByRole('button', { name: 'Descending; switch to ascending' }).click();
    // Search as one types: my files and the shared folder, not the trash.
    await page.getByLabel('Search all my files and shared folders').pressSequentially('note');
    await expect.poll(() => page.locator('.results .entry').count()).toBe(5);
    const hit = page.locator('.results .entry[data-path="papers/note on methods.txt"]');
    expect(await hit.textContent()).toContain('Research / papers/note on methods.txt');
    await hit.getByRole('button').click();
    await page.locator('#library-title', { hasText: 'Research' }).waitFor();
    await page.locator('.entry[data-path="papers/note on methods.txt"]').waitFor();
    expect(new URL(page.url()).pathname).toBe('/files/Research/papers');
  });

  it('gives every folder an address: Back and Forward work, a reload keeps the view, a deep link opens after sign-in', async () => {
    const page = f.page;
    await openSpace(page, 'My files');
    await expect.poll(() => new URL(page.url()).pathname).toBe('/files/me');
    await page.locator('.entry[data-path="notes"] button.folder').click();
    await page.locator('.entry[data-path="notes/note1.txt"]').waitFor();
    expect(new URL(page.url()).pathname).toBe('/files/me/notes');
    await page.goBack();
    await page.locator('.entry[data-path="notes"]').waitFor();
    expect(new URL(page.url()).pathname).toBe('/files/me');
    await page.goForward();
    await page.locator('.entry[data-path="notes/note1.txt"]').waitFor();
    await page.reload();
    await page.locator('.entry[data-path="notes/note1.txt"]').waitFor();
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: 'Trash' }).click();
    await page.getByRole('heading', { name: 'Trash of My files' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/trash/me');
    await page.goBack();
    await page.locator('.entry[data-path="notes/note1.txt"]').waitFor();
    // Signed out, a deep link asks to sign in and then opens where it points.
    const other = await openProfile();
    try {
      const p2 = other.context.pages()[0] ?? (await other.context.newPage());
      await p2.goto(`${f.env.relay.httpUrl}/files/Research/papers`);
      await p2.getByLabel('User name').fill('alice');
      await p2.getByLabel('Password').fill('alice-password');
      await p2.getByRole('button', { name: 'Sign in' }).click();
      await p2.locator('.entry[data-path="papers/note on methods.txt"]').waitFor();
      expect(await p2.locator('#library-title').textContent()).toContain('Research');
    } finally {
      await other.close();
    }
  });
});
