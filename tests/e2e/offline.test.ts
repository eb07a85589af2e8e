import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ALICE, signIn, standardRelay, startRelayProcess, storedSha256, tempDir, type RelayProcess } from '../helpers/relay.js';
import { addFile, hasChromium, openProfile, signInPage } from '../helpers/browser.js';
import { sha256 } from '../helpers/files.js';

/** Signs in and reloads once the service worker is ready, so the page runs under it. */
async function openAppUnderServiceWorker(page: Page, url: string): Promise<void> {
  await signInPage(page, url, ALICE.name, ALICE.password);
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await page.reload();
  await page.getByRole('heading', { name: 'My files' }).waitFor();
}

/** Stops the relay and waits until the page no longer shows it connected; returns its port for a restart. */
async function stopRelayUnder(page: Page, relay: RelayProcess): Promise<number> {
  const port = relay.port;
  await relay.stop();
  await page.getByTestId('connection').and(page.getByText('Connected')).waitFor({ state: 'detached' });
  return port;
}

describe.runIf(hasChromium)('uploads while the relay is unreachable', () => {
  it('keeps added files on the device, survives closing the browser, and uploads them by itself', async () => {
    const env = await standardRelay([], {}, { web: true });
    const profileDir = tempDir('ferry-profile-');
    let relay = env.relay;
    try {
      let profile = await openProfile(profileDir.dir);
      let page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await openAppUnderServiceWorker(page, env.relay.httpUrl);
      const port = await stopRelayUnder(page, relay);
      // Reloaded while offline: the library says so in words, no raw code, no "nothing here".
      await page.reload();
      await page.getByTestId('library-offline').waitFor();
      const library = await page.locator('section.library').textContent();
      expect(library).not.toContain('CONNECTION_LOST');
      expect(library).not.toContain('Nothing here yet');
      const data = await addFile(page, env.tmp, 'offline.bin', 3 * 1024 * 1024 + 5);
      await page.locator('.transfer[data-path="offline.bin"][data-state="offline"]').waitFor();
      await profile.context.close();

      // Later: the relay is back, the browser opens again on the same profile.
      relay = await startRelayProcess({ dataDir: env.relay.dataDir, port, web: true });
      profile = await openProfile(profileDir.dir);
      page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await page.goto(env.relay.httpUrl);
      await page.locator('.transfer[data-path="offline.bin"][data-state="done"]').waitFor({ timeout: 60_000 });
      expect(await storedSha256(relay, 'offline.bin')).toBe(sha256(data));
      // The device copy is gone once the relay acknowledged the commit.
      await expect
        .poll(() => page.evaluate(async () => {
          const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('queue', { create: true });
          const names: string[] = [];
          for await (const k of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(k);
          return names.length;
        }))
        .toBe(0);
      await profile.context.close();
    } finally {
      await relay.stop();
      await env.close();
      profileDir.remove();
    }
  });

  it('says so when a file does not fit on the device, keeps it listed, and uploads it once the relay is back', async () => {
    const env = await standardRelay([], {}, { web: true });
    const profile = await openProfile();
    let relay = env.relay;
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, env.relay.httpUrl, ALICE.name, ALICE.password);
      // Leave this origin 1 MiB of room: Chromium then refuses bigger writes with QuotaExceededError.
      const cdp = await profile.context.newCDPSession(page);
      const origin = new URL(env.relay.httpUrl).origin;
      const { usage } = await cdp.send('Storage.getUsageAndQuota', { origin });
      await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + 1024 * 1024 });

      const port = await stopRelayUnder(page, relay);
      const data = await addFile(page, env.tmp, 'too-big.bin', 4 * 1024 * 1024 + 3);
      const row = page.locator('.transfer[data-path="too-big.bin"]');
      await row.and(page.locator('[data-state="offline"]')).waitFor();
      await expect.poll(() => row.getByRole('alert').textContent()).toContain('Not enough space on this device to keep too-big.bin');
      expect(await row.locator('.state').textContent()).toBe('Waiting for the relay, not kept on this device');
      // Nothing half-written is left in the device's storage; the entry stays in the queue.
      expect(await page.evaluate(queueState)).toEqual({ copies: 0, entries: ['too-big.bin'] });

      relay = await startRelayProcess({ dataDir: env.relay.dataDir, port, web: true });
      await row.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
      expect(await storedSha256(relay, 'too-big.bin')).toBe(sha256(data));
      await expect.poll(() => page.evaluate(queueState)).toEqual({ copies: 0, entries: [] });
    } finally {
      await profile.close();
      await relay.stop();
      await env.close();
    }
  });

  it('uploads the queue from the service worker (Background Sync) when no page of the app is open', async () => {
    const env = await standardRelay([], {}, { web: true });
    const profile = await openProfile();
    let relay = env.relay;
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await openAppUnderServiceWorker(page, env.relay.httpUrl);
      const port = await stopRelayUnder(page, relay);
      const data = await addFile(page, env.tmp, 'background.bin', 5 * 1024 * 1024 + 11);
      await page.locator('.transfer[data-path="background.bin"][data-state="offline"]').waitFor();
      await expect.poll(() => page.evaluate(queueState)).toEqual({ copies: 1, entries: ['background.bin'] });

      // No page of the app is open any more; the relay comes back; the browser fires the
      // sync it was asked for (here through DevTools, as the device's network never changed).
      await page.goto('about:blank');
      relay = await startRelayProcess({ dataDir: env.relay.dataDir, port, web: true });
      const cdp = await profile.context.newCDPSession(page);
      const registration = new Promise<string>((resolve) =>
        cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
          const r = e.registrations.find((x) => x.scopeURL.startsWith(env.relay.httpUrl) && !x.isDeleted);
          if (r) resolve(r.registrationId);
        }),
      );
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.dispatchSyncEvent', { origin: env.relay.httpUrl, registrationId: await registration, tag: 'ferry-queue', lastChance: false });
      await expect.poll(() => storedSha256(relay, 'background.bin').catch(() => undefined), { timeout: 30_000 }).toBe(sha256(data));

      // The app, opened again, finds the queue empty and the file in the library.
      await page.goto(env.relay.httpUrl);
      await page.locator('.entry[data-path="background.bin"]').waitFor();
      await expect.poll(() => page.evaluate(queueState)).toEqual({ copies: 0, entries: [] });
      const c = await signIn(relay, ALICE.name, ALICE.password);
      expect((await c.request('history', { path: 'background.bin' })).versions).toHaveLength(1);
      c.close();
    } finally {
      await profile.close();
      await relay.stop();
      await env.close();
    }
  });

  it('takes files from the share sheet (share target) and uploads them', async () => {
    const env = await standardRelay([], {}, { web: true });
    const profile = await openProfile();
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await openAppUnderServiceWorker(page, env.relay.httpUrl);
      // What the share sheet sends: a multipart POST to the share target's action.
      const status = await page.evaluate(async () => {
        const form = new FormData();
        form.append('files', new File(['shared from another app'], 'shared-note.txt', { type: 'text/plain' }));
        const r = await fetch('/share', { method: 'POST', body: form, redirect: 'manual' });
        return r.type === 'opaqueredirect' ? 303 : r.status;
      });
      expect(status).toBe(303);
      await page.goto(`${env.relay.httpUrl}/?shared=1`);
      await page.locator('.transfer[data-path="shared-note.txt"][data-state="done"]').waitFor({ timeout: 30_000 });
      expect(await storedSha256(env.relay, 'shared-note.txt')).toBe(sha256(Buffer.from('shared from another app')));
      // Uploaded once, not once per time the queue was read.
      const c = await signIn(env.relay, ALICE.name, ALICE.password);
      expect((await c.request('history', { path: 'shared-note.txt' })).versions).toHaveLength(1);
      c.close();
    } finally {
      await profile.close();
      await env.close();
    }
  });
});

/** In the page: how many copies the offline queue holds in OPFS, and the names of its IndexedDB entries. */
async function queueState(): Promise<{ copies: number; entries: string[] }> {
  const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('queue', { create: true });
  let copies = 0;
  for await (const _ of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) copies++;
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open('ferry');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const entries = await new Promise<{ name: string }[]>((resolve, reject) => {
    const r = db.transaction('queue').objectStore('queue').getAll();
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  db.close();
  return { copies, entries: entries.map((e) => e.name) };
}
