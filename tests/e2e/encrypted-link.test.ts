/**
 * Encrypted share links, against a real relay and a real Chromium: `ferry link` on a file
 * of an encrypted folder seals a copy under a new key put in the link's fragment; a fresh
 * browser with no account opens the page, shows the name (opened there), downloads,
 * decrypts and checks the file, and saves it byte-identical. The relay's log and database
 * never hold the key or the name; a link without its key, or with another key, opens
 * nothing; nobody else reaches the copies; revoking deletes the copy.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { hasChromium, launch } from '../helpers/browser.js';
import { ferry } from '../helpers/cli.js';
import { randomData, sha256 } from '../helpers/files.js';
import { ALICE, BOB, ROOT, signIn, standardRelay } from '../helpers/relay.js';
import { keyOfFragment } from '../../relay/crypto/link.js';
import { toBase64Url } from '../../relay/crypto/format.js';
import { randomBytes } from '../../relay/crypto/primitives.js';

const OUT = path.join(ROOT, 'test-results', 'screenshots');
const NAME = `quarterly plan ${Date.now().toString(36)}.bin`;

/** Every file under `dir`, as text (the relay's database, logs and chunks). */
function everything(dir: string): string {
  let all = '';
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    all += statSync(p).isDirectory() ? everything(p) : readFileSync(p).toString('latin1');
  }
  return all;
}

describe.runIf(hasChromium)('encrypted share links', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let browser: Browser;
  let cli: Record<string, string>;
  const data = randomData(9 * 1024 * 1024 + 5);
  let url = '';

  const ok = async (args: string[], extra: Record<string, string> = {}) => {
    const r = await ferry(args, { env: { ...cli, ...extra } });
    expect(r.code, `ferry ${args.join(' ')}: ${r.stderr}`).toBe(0);
    return r;
  };

  beforeAll(async () => {
    env = await standardRelay([], {}, { web: true });
    browser = await launch();
    cli = { FERRY_CONFIG: path.join(env.tmp, 'cli.json') };
    await ok(['login', env.relay.httpUrl, '--user', ALICE.name], { FERRY_PASSWORD: ALICE.password });
    await ok(['keys', 'init'], { FERRY_PASSPHRASE: 'a long passphrase of alice' });
    await ok(['mkdir', 'vault', '--encrypted']);
    const file = path.join(env.tmp, NAME);
    writeFileSync(file, data);
    await ok(['put', file, '--to', 'vault']);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await env?.close();
  });

  it('seals a copy for the link: the key travels only in the fragment, the relay holds neither it nor the name', async () => {
    const made = await ok(['link', `vault/${NAME}`, '--max-downloads', '5']);
    url = made.stdout.trim();
    expect(url).toMatch(new RegExp(`^${env.relay.httpUrl}/s/[A-Za-z0-9_-]{24}#k=[A-Za-z0-9_-]{43}$`));
    const key = url.split('#k=')[1];
    const stored = everything(env.relay.dataDir);
    expect(stored).not.toContain(key);
    expect(stored).not.toContain(NAME);
    // The page as served names neither.
    const page = await (await fetch(url.split('#')[0], { headers: { Accept: 'text/html' } })).text();
    expect(page).toContain('End-to-end encrypted');
    expect(page).not.toContain(NAME);
    // Its owner's devices show the whole link again, and the name.
    const listed = await ok(['links']);
    expect(listed.stdout).toContain(`${NAME} (encrypted)`);
    expect(listed.stdout).toContain(url);
  }, 120_000);

  it('opens in a fresh browser with no account: name shown, file decrypted, checked and saved byte-identical', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    try {
      const page = await context.newPage();
      await page.goto(url);
      await page.locator('#e2e-name', { hasText: NAME }).waitFor();
      await page.getByText(/^Ready: the file is decrypted on this device/).waitFor();
      expect(await page.locator('#e2e-progress').isVisible()).toBe(false);
      for (const width of [390, 1280]) {
        await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await page.screenshot({ path: path.join(OUT, `encrypted-link-${width}.png`) });
      }
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Download' }).click()]);
      expect(download.suggestedFilename()).toBe(NAME);
      const saved = path.join(env.tmp, 'saved.bin');
      await download.saveAs(saved);
      expect(sha256(readFileSync(saved))).toBe(sha256(data));
      await page.getByText(/SHA-256 matches/).waitFor();
      expect(await page.locator('#e2e-sha').textContent()).toBe(sha256(data));
    } finally {
      await context.close();
    }
  }, 120_000);

  it('resumes a download whose connection dropped from the last whole chunk (HTTP Range), and still checks the whole file', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    const ranges: (string | undefined)[] = [];
    try {
      const page = await context.newPage();
      // The first response stops after 5 MiB of the sealed bytes, as a dropped connection would.
      await page.route('**/s/*/file', async (route) => {
        const range = route.request().headers().range;
        ranges.push(range);
        if (range) return route.continue();
        const whole = await route.fetch();
        await route.fulfill({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body: (await whole.body()).subarray(0, 5 * 1024 * 1024) });
      });
      await page.goto(url);
      await page.locator('#e2e-name', { hasText: NAME }).waitFor();
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Download' }).click()]);
      const saved = path.join(env.tmp, 'resumed.bin');
      await download.saveAs(saved);
      expect(sha256(readFileSync(saved))).toBe(sha256(data));
      // Again from the end of the first whole sealed chunk (4 MiB), not from the start.
      expect(ranges).toEqual([undefined, `bytes=${4 * 1024 * 1024}-`]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('refuses bytes altered on the way: nothing saved, E2E_TAMPERED shown', async () => {
    const context = await browser.newContext({ acceptDownloads: true });
    try {
      const page = await context.newPage();
      await page.route('**/s/*/file', async (route) => {
        const body = Buffer.from(await (await route.fetch()).body());
        body[5 * 1024 * 1024] ^= 1;
        await route.fulfill({ status: 200, headers: { 'content-type': 'application/octet-stream' }, body });
      });
      let downloads = 0;
      page.on('download', () => downloads++);
      await page.goto(url);
      await page.locator('#e2e-name', { hasText: NAME }).waitFor();
      await page.getByRole('button', { name: 'Download' }).click();
      await page.getByText(/altered on the way or on the server\. Nothing was saved\. \(E2E_TAMPERED\)/).waitFor({ timeout: 60_000 });
      expect(downloads).toBe(0);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('without its key, or with another key, the page opens nothing', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(url.split('#')[0]);
      await page.getByText(/missing its key/).waitFor();
      expect(await page.getByRole('button', { name: 'Download' }).isDisabled()).toBe(true);
      const other = toBase64Url(randomBytes(32));
      expect(keyOfFragment(`#k=${other}`)).toHaveLength(32);
      await page.goto(`${url.split('#')[0]}#k=${other}`);
      await page.reload();
      await page.getByText(/does not open this file/).waitFor();
      expect(await page.getByRole('button', { name: 'Download' }).isDisabled()).toBe(true);
      expect(await page.locator('#e2e-name').textContent()).toBe('Encrypted file');
    } finally {
      await context.close();
    }
  }, 60_000);

  it('keeps the copies to their owner, refuses plain links to encrypted files, and deletes the copy when the link is revoked', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    const bob = await signIn(env.relay, BOB.name, BOB.password);
    try {
      const { space } = await alice.request('link.space', {});
      expect((await alice.request('spaces', {})).spaces.map((s) => s.id)).not.toContain(space);
      const copies = (await alice.request('list', { space, folder: '' })).entries;
      expect(copies).toHaveLength(1);
      await expect(bob.request('list', { space, folder: '' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // A link to bob's own link space never takes alice's copy; a plain link to a sealed file is refused.
      await expect(bob.request('link.create', { space, path: copies[0].path, e2e: { key: 'AAAA' } })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(alice.request('link.create', { space, path: copies[0].path })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      const vault = (await alice.request('list', { folder: 'vault' })).entries[0];
      await expect(alice.request('link.create', { path: vault.path })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });

      await ok(['unlink', url]);
      expect((await alice.request('list', { space, folder: '' })).entries).toEqual([]);
      expect((await fetch(url.split('#')[0], { headers: { Accept: 'text/html' } })).status).toBe(404);
    } finally {
      alice.close();
      bob.close();
    }
  }, 60_000);
});
