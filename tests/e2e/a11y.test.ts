/**
 * Accessibility of every screen, checked with axe-core (WCAG 2.x A and AA rules) in a
 * real Chromium, at 390 px and 1280 px: sign-in, My files, a folder, search results, the
 * actions menu, each dialog, the trash, a view-only shared folder, administration; plus
 * what axe cannot see: an h1 and a main landmark everywhere, the skip link, a live
 * region that announces finished transfers, and the keyboard path to the file picker.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { uploadFile } from '../../relay/client/index.js';
import { ADMIN, ALICE, ROOT, sharedFolder, signIn, standardRelay } from '../helpers/relay.js';
import { hasChromium, openProfile, openSpace, signInPage, openAdmin, openTab } from '../helpers/browser.js';
import { bufferSource } from '../helpers/files.js';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface Violation {
  id: string;
  impact: string;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's violations on the page as it is now (evaluated outside the page's CSP). */
async function violations(page: Page): Promise<string[]> {
  const found = (await page.evaluate(`(async () => {
    if (!window.axe) { ${AXE}\n }
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  })()`)) as Violation[];
  const lines = found.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
  if (lines.length) console.log(lines.join('\n'));
  return lines;
}

/** What every screen has, whatever axe says: one h1, one main landmark, no visible text under 14 px. */
async function landmarks(page: Page): Promise<void> {
  expect(await page.locator('h1').count(), 'one h1').toBe(1);
  expect(await page.locator('main').count(), 'one main landmark').toBe(1);
  const small = await page.evaluate(() => {
    const found: string[] = [];
    for (const el of document.querySelectorAll<HTMLElement>('body *')) {
      if (el.closest('.visually-hidden') || !el.offsetParent) continue;
      const text = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim());
      const size = parseFloat(getComputedStyle(el).fontSize);
      if (text && size < 14) found.push(`${el.tagName.toLowerCase()}.${el.className} ${size}px`);
    }
    return found.slice(0, 5);
  });
  expect(small, 'text under 14 px').toEqual([]);
}

describe.runIf(hasChromium)('accessibility', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let profile: Awaited<ReturnType<typeof openProfile>>;
  let page: Page;

  beforeAll(async () => {
    env = await standardRelay([], {}, { web: true });
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    for (const p of ['docs/report.pdf', 'docs/notes.txt', 'photo.jpg']) await uploadFile(alice, bufferSource(Buffer.from(`content of ${p}`)), { path: p });
    const team = await sharedFolder(env.relay, 'Team', { alice: 'view', admin: 'edit' });
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    await uploadFile(admin, bufferSource(Buffer.from('brief')), { space: team, path: 'brief.txt' });
    admin.close();
    alice.close();
    profile = await openProfile();
    page = profile.context.pages()[0] ?? (await profile.context.newPage());
    page.on('dialog', (d) => void d.dismiss());
  });
  afterAll(async () => {
    await profile?.close();
    await env?.close();
  });

  for (const width of [390, 1280]) {
    it(`has no axe violations on any screen of a user at ${width} px`, async () => {
      await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
      await page.goto(env.relay.httpUrl);
      await page.getByLabel('User name').waitFor();
      await landmarks(page);
      expect(await violations(page), 'sign-in').toEqual([]);
      await page.getByLabel('User name').fill(ALICE.name);
      await page.getByLabel('Password').fill(ALICE.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('.entry[data-path="photo.jpg"]').waitFor();
      await landmarks(page);
      expect(await violations(page), 'My files').toEqual([]);
      // The skip link is the first thing the keyboard reaches, and it leads to the files.
      await page.keyboard.press('Tab');
      expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the files');
      await page.keyboard.press('Enter');
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('library-title');
      if (width < 600) {
        // Each pane of the bottom navigation is a screen of its own.
        for (const pane of ['Transfers', 'Links', 'More'] as const) {
          await openTab(page, pane);
          await landmarks(page);
          expect(await violations(page), pane).toEqual([]);
        }
        await openTab(page, 'Files');
      }

      await page.locator('.entry[data-path="docs"] button.folder').click();
      await page.locator('.entry[data-path="docs/notes.txt"]').waitFor();
      expect(await violations(page), 'a folder').toEqual([]);
      await page.getByRole('button', { name: 'Grid' }).click();
      await page.locator('.entries.grid').waitFor();
      expect(await violations(page), 'the grid').toEqual([]);
      await page.getByRole('checkbox', { name: 'Select notes.txt' }).check();
      expect(await violations(page), 'a selection').toEqual([]);
      await page.getByRole('checkbox', { name: 'Select notes.txt' }).uncheck();
      await page.getByRole('button', { name: 'List' }).click();
      await page.locator('.entry[data-path="docs/notes.txt"] button.file').click();
      await page.getByRole('dialog', { name: 'notes.txt' }).locator('pre.code').waitFor();
      await landmarks(page);
      expect(await violations(page), 'the viewer').toEqual([]);
      await page.keyboard.press('Escape');
      await page.getByRole('button', { name: 'Actions for notes.txt' }).click();
      await page.getByRole('menu').waitFor();
      expect(await violations(page), 'actions menu').toEqual([]);
      await page.getByRole('menuitem', { name: 'Versions of notes.txt' }).click();
      await page.getByRole('dialog').waitFor();
      expect(await violations(page), 'versions dialog').toEqual([]);
      await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
      await page.getByRole('button', { name: 'Actions for notes.txt' }).click();
      await page.getByRole('menuitem', { name: 'Share link: notes.txt' }).click();
      await page.getByRole('dialog').waitFor();
      expect(await violations(page), 'share dialog').toEqual([]);
      await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
      await page.getByRole('button', { name: 'Actions for notes.txt' }).click();
      await page.getByRole('menuitem', { name: 'Rename or move notes.txt' }).click();
      await page.getByRole('dialog').waitFor();
      expect(await violations(page), 'move dialog').toEqual([]);
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'New folder' }).click();
      expect(await violations(page), 'new folder form').toEqual([]);
      await page.getByRole('button', { name: 'Cancel' }).click();

      await page.getByLabel('Search all my files and shared folders').fill('o');
      await page.locator('.results .entry').first().waitFor();
      expect(await violations(page), 'search results').toEqual([]);
      await page.getByLabel('Search all my files and shared folders').fill('');
      await page.getByLabel('Search all my files and shared folders').press('Escape');

      await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: 'Trash' }).click();
      await page.getByRole('heading', { name: 'Trash of My files' }).waitFor();
      await landmarks(page);
      expect(await violations(page), 'trash').toEqual([]);
      await openSpace(page, 'Team');
      await page.locator('.entry[data-path="brief.txt"]').waitFor();
      expect(await violations(page), 'view-only shared folder').toEqual([]);
      await openSpace(page, 'My files');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('User name').waitFor();
    });
  }

  it('has no axe violations in administration, and its scrolling log is reachable by keyboard', async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await signInPage(page, env.relay.httpUrl, ADMIN.name, ADMIN.password);
    await openAdmin(page);
    await page.locator('section.admin [data-folder="Team"]').waitFor();
    // With log lines on the page: their size counts too.
    await page.getByTestId('relay-log').locator('li').first().waitFor();
    await landmarks(page);
    expect(await violations(page), 'administration').toEqual([]);
    const log = page.getByTestId('relay-log');
    expect(await log.getAttribute('tabindex')).toBe('0');
    // On a phone, Administration opens from More and fits the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await openTab(page, 'Files');
    await page.locator('#library-title').waitFor();
    await openAdmin(page);
    await page.locator('section.admin [data-folder="Team"]').waitFor();
    expect(await page.getByRole('navigation', { name: 'App' }).getByRole('button', { name: 'More' }).getAttribute('aria-current')).toBe('page');
    const wide = await page.evaluate(() => [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 390.5).map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`).slice(0, 8));
    expect(wide, 'wider than the screen').toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await violations(page), 'administration on a phone').toEqual([]);
    await page.screenshot({ path: path.join(ROOT, 'docs', 'screenshots', 'admin-390.png') });
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.getByRole('button', { name: 'Sign out' }).click();
  });

  it('announces finished uploads in a live region, and Enter on the file button opens the picker', async () => {
    const page = await profile.context.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await signInPage(page, env.relay.httpUrl, ALICE.name, ALICE.password);
    const file = path.join(env.tmp, 'announce.txt');
    writeFileSync(file, 'hello');
    await page.getByTestId('file-input').focus();
    // Playwright intercepts the picker only once it is listening for it.
    const waiting = page.waitForEvent('filechooser');
    await new Promise((r) => setTimeout(r, 300));
    await page.keyboard.press('Enter');
    const chooser = await waiting;
    await chooser.setFiles(file);
    const live = page.getByTestId('announcer');
    expect(await live.getAttribute('aria-live')).toBe('polite');
    await expect.poll(() => live.textContent(), { timeout: 30_000 }).toContain('announce.txt uploaded');
  });
});
