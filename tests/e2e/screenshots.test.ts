import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ALICE, ROOT, standardRelay } from '../helpers/relay.js';
import { hasChromium, openProfile, signInPage } from '../helpers/browser.js';
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
      // The whole page: on a phone the transfers panel follows the library.
      await page.screenshot({ path: path.join(OUT, `app-${width}.png`), fullPage: true });
      await page.locator('section.library').screenshot({ path: path.join(OUT, `library-${width}.png`) });
      await page.locator('section.transfers').screenshot({ path: path.join(OUT, `transfers-${width}.png`) });
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
});
