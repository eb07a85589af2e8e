import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ALICE, ROOT, sharedFolder, signIn, standardRelay } from '../helpers/relay.js';
import { hasChromium, openProfile, openSpace, openTab, rowAction, signInPage } from '../helpers/browser.js';
import { uploadFile } from '../../relay/client/index.js';
import { bufferSource } from '../helpers/files.js';
import { randomData } from '../helpers/files.js';

const OUT = path.join(ROOT, 'docs', 'screenshots');

describe.runIf(hasChromium)('screenshots for the docs', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let profile: Awaited<ReturnType<typeof openProfile>>;
  let page: Page;

  beforeAll(async () => {
    env = await standardRelay([], {}, { web: true });
    profile = await openProfile();
    page = profile.context.pages()[0] ?? (await profile.context.newPage());
    await signInPage(page, env.relay.httpUrl, ALICE.name, ALICE.password);
    const album = path.join(env.tmp, 'Holiday 2026');
    mkdirSync(path.join(album, 'day 1'), { recursive: true });
    writeFileSync(path.join(album, 'day 1', 'beach.jpg'), randomData(3_000_000));
    writeFileSync(path.join(album, 'notes.txt'), 'sunny');
    writeFileSync(path.join(env.tmp, 'report.pdf'), randomData(12_000_000));
    writeFileSync(path.join(env.tmp, 'a"b<script>é😀.txt'), 'name with quotes, markup and emoji');
    writeFileSync(path.join(env.tmp, 'invoice\u202Egpj.exe'), 'a right-to-left override in the name');
    await page.getByTestId('folder-input').setInputFiles(album);
    await page.getByTestId('file-input').setInputFiles([path.join(env.tmp, 'report.pdf'), path.join(env.tmp, 'a"b<script>é😀.txt'), path.join(env.tmp, 'invoice\u202Egpj.exe')]);
    await page.locator('.transfer[data-state="done"]').nth(4).waitFor({ timeout: 60_000 });
    await page.getByTestId('file-input').setInputFiles(path.join(env.tmp, 'report.pdf'));
    await page.getByRole('dialog').getByRole('button', { name: /^Replace/ }).click();
    await page.locator('.transfer[data-state="done"]').nth(5).waitFor({ timeout: 60_000 });
  });
  afterAll(async () => {
    await profile?.close();
    await env?.close();
  });

  for (const width of [390, 1280]) {
    it(`saves the library and transfers at ${width} px`, async () => {
      mkdirSync(OUT, { recursive: true });
      await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
      await page.locator('.entry[data-path="report.pdf"]').waitFor();
      // Nothing is wider than the screen (a long option once pushed the page sideways on a phone).
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      // The header never wraps: it is one line of controls (44 px) and its padding.
      expect(await page.locator('header.bar').evaluate((el) => el.getBoundingClientRect().height)).toBeLessThan(70);
      // The whole page: on a laptop a sidebar, the files and the transfers side by side; on a
      // phone one pane at a time, chosen in the bottom navigation.
      await page.screenshot({ path: path.join(OUT, `app-${width}.png`), fullPage: width > 600 });
      await page.locator('section.library').screenshot({ path: path.join(OUT, `library-${width}.png`) });
      const tabs = page.getByRole('navigation', { name: 'App' });
      expect(await tabs.isVisible()).toBe(width < 600);
      if (width < 600) {
        // The bottom navigation: four targets a thumb reaches, Files current.
        const boxes = await tabs.getByRole('button').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().height));
        expect(boxes).toHaveLength(4);
        for (const h of boxes) expect(h).toBeGreaterThanOrEqual(44);
        expect(await tabs.getByRole('button', { name: 'Files' }).getAttribute('aria-current')).toBe('page');
        expect(await page.locator('section.transfers').isVisible()).toBe(false);
        await openTab(page, 'Transfers');
        expect(await page.locator('section.library').isVisible()).toBe(false);
        await page.screenshot({ path: path.join(OUT, `app-${width}-transfers.png`) });
      }
      await page.locator('section.transfers').screenshot({ path: path.join(OUT, `transfers-${width}.png`) });
      if (width < 600) {
        await openTab(page, 'More');
        await page.screenshot({ path: path.join(OUT, `app-${width}-more.png`) });
        await openTab(page, 'Files');
      }
      // Names with markup show as text, never as markup.
      await expect.poll(() => page.locator('.entry[data-path="a\\"b<script>é😀.txt"] .filename').textContent()).toBe('a"b<script>é😀.txt');
      expect(await page.locator('section.library script').count()).toBe(0);
      // The device's storage in words a person follows.
      expect(await page.getByTestId('device-storage').textContent()).toMatch(/^Room on this device for files waiting to upload: .+ free \(.+ used\); the browser/);
      // A right-to-left override is shown as a visible mark, so "invoice‮gpj.exe" cannot pass for a .jpg.
      const rtl = page.locator('.entry[data-path="invoice\u202Egpj.exe"] .filename');
      expect(await rtl.evaluate((el) => el.tagName)).toBe('BDI');
      expect(await rtl.textContent()).toBe('invoice[U+202E]gpj.exe');
      expect(await page.locator('section.transfers').textContent()).not.toContain('\u202E');
    });
  }

  for (const width of [390, 1280]) {
    it(`saves the spaces, an actions menu, the move dialog and the trash at ${width} px`, async () => {
      await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
      await openSpace(page, 'My files');
      await page.locator('.entry[data-path="report.pdf"]').waitFor();
      await page.getByRole('button', { name: 'Actions for report.pdf' }).click();
      const menu = page.getByRole('menu', { name: 'Actions for report.pdf' });
      await menu.waitFor();
      // Keyboard: arrows move through the items, Escape closes and gives focus back.
      await page.keyboard.press('ArrowDown');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Open report.pdf');
      await page.keyboard.press('ArrowDown');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Download report.pdf');
      await page.keyboard.press('ArrowDown');
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Versions of report.pdf');
      await page.screenshot({ path: path.join(OUT, `menu-${width}.png`) });
      await page.keyboard.press('Escape');
      expect(await menu.count()).toBe(0);
      expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Actions for report.pdf');
      // Every control of a row is at least 44 px tall for a finger.
      const small = await page.locator('.entry button').evaluateAll((els) => els.filter((e) => e.getBoundingClientRect().height < 44).length);
      expect(small).toBe(0);
      await page.locator('.entry[data-path="Holiday 2026"] button.folder').click();
      // The phone run renames notes.txt, the laptop run renames it again.
      const from = width === 390 ? 'notes.txt' : 'notes 390.txt';
      await page.locator(`.entry[data-path="Holiday 2026/${from}"]`).waitFor();
      await rowAction(page, from, `Rename or move ${from}`);
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel('Name').fill(`notes ${width}.txt`);
      await page.screenshot({ path: path.join(OUT, `move-${width}.png`) });
      await dialog.getByRole('button', { name: 'Move' }).click();
      await page.locator(`.entry[data-path="Holiday 2026/notes ${width}.txt"]`).waitFor();
      await rowAction(page, `notes ${width}.txt`, `Move to trash: notes ${width}.txt`);
      await page.getByRole('button', { name: 'Undo' }).waitFor();
      await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: 'Trash' }).click();
      await page.locator(`.item[data-path="Holiday 2026/notes ${width}.txt"]`).waitFor();
      await page.screenshot({ path: path.join(OUT, `trash-${width}.png`), fullPage: true });
      await page.getByRole('button', { name: `Restore Holiday 2026/notes ${width}.txt` }).click();
      await expect.poll(() => page.locator('.item').count()).toBe(0);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    });
  }

  it('shows a shared folder alice may only view without any control that changes it', async () => {
    const team = await sharedFolder(env.relay, 'Design team', { alice: 'view', bob: 'edit' });
    const bob = await signIn(env.relay, 'bob', 'bob-password-1');
    await uploadFile(bob, bufferSource(Buffer.from('the brief')), { space: team, path: 'brief.txt' });
    bob.close();
    await page.setViewportSize({ width: 1280, height: 900 });
    await openSpace(page, 'Design team');
    await page.locator('.entry[data-path="brief.txt"]').waitFor();
    expect(await page.locator('#library-title').textContent()).toContain('view only');
    expect(await page.getByTestId('file-input').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'New folder' }).count()).toBe(0);
    await page.getByRole('button', { name: 'Actions for brief.txt' }).click();
    const items = await page.getByRole('menuitem').evaluateAll((els) => els.map((e) => e.textContent));
    expect(items).toEqual(['Open', 'Download', 'Versions', 'Share link']);
    await page.screenshot({ path: path.join(OUT, 'view-only-1280.png') });
    await page.keyboard.press('Escape');
    // A selection here can be downloaded, not moved or trashed.
    await page.getByRole('checkbox', { name: 'Select brief.txt' }).check();
    await page.getByRole('button', { name: 'Download as zip', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Move…' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Move to trash', exact: true }).count()).toBe(0);
    await page.getByRole('button', { name: 'Clear selection' }).click();
    await openSpace(page, 'My files');
  });
});
