/**
 * The app keeping a folder in sync (File System Access API) with the relay, through the
 * same engine as `ferry sync`. A test cannot click through the browser's folder picker,
 * so the picker is replaced by one that returns a folder of the origin's private file
 * system: the same FileSystemDirectoryHandle interface, the same writes and moves, and
 * FileSystemObserver reports its changes as it does a picked folder's.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { downloadFile, uploadFile } from '../../relay/client/index.js';
import { ALICE, aliceOnRelay, signIn } from '../helpers/relay.js';
import { hasChromium, openProfile, rowAction, signInPage } from '../helpers/browser.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';
import { ferry } from '../helpers/cli.js';

const PICKED = 'picked-folder';

/** The picker answers with `PICKED` in the origin's private file system. */
const FAKE_PICKER = `
  window.showDirectoryPicker = async () => (await navigator.storage.getDirectory()).getDirectoryHandle(${JSON.stringify(PICKED)}, { create: true });
`;

/** Writes a file into the picked folder (folders made on the way). */
async function writeLocal(page: Page, path: string, data: Uint8Array | string): Promise<void> {
  await page.evaluate(
    async ({ root, path, data }) => {
      let d = await (await navigator.storage.getDirectory()).getDirectoryHandle(root, { create: true });
      const parts = path.split('/');
      for (const p of parts.slice(0, -1)) d = await d.getDirectoryHandle(p, { create: true });
      const w = await (await d.getFileHandle(parts[parts.length - 1], { create: true })).createWritable();
      await w.write(typeof data === 'string' ? data : new Uint8Array(data));
      await w.close();
    },
    { root: PICKED, path, data: typeof data === 'string' ? data : [...data] },
  );
}

/** The picked folder's files and their SHA-256, by path (the marker left out). */
async function localTree(page: Page): Promise<Record<string, string>> {
  return page.evaluate(async (root) => {
    const out: Record<string, string> = {};
    const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
    const walk = async (d: FileSystemDirectoryHandle, rel: string) => {
      for await (const [name, h] of (d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
        const p = rel ? `${rel}/${name}` : name;
        if (h.kind === 'directory') await walk(h as FileSystemDirectoryHandle, p);
        else if (p !== '.ferry-sync') out[p] = hex(await crypto.subtle.digest('SHA-256', await (await (h as FileSystemFileHandle).getFile()).arrayBuffer()));
      }
    };
    await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle(root, { create: true }), '');
    return out;
  }, PICKED);
}

/** The app's client log, as lines. */
async function clientLog(page: Page): Promise<string[]> {
  return page.evaluate(
    () =>
      new Promise<string[]>((resolve, reject) => {
        const r = indexedDB.open('ferry');
        r.onerror = () => reject(r.error);
        r.onsuccess = () => {
          const q = r.result.transaction('log').objectStore('log').getAll();
          q.onsuccess = () => resolve(q.result.map((e: { message: string }) => e.message));
        };
      }),
  );
}

describe.runIf(hasChromium)('the app keeps a folder on this computer in sync', () => {
  const f = aliceOnRelay([], { web: true });

  async function remoteTree(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const c = await signIn(f.env.relay, ALICE.name, ALICE.password);
    try {
      const { entries } = await c.request('tree', { folder: 'Synced', limit: 5000 });
      for (const e of entries) {
        if (e.kind !== 'file') continue;
        const sink = memorySink();
        await downloadFile(c, sink, { path: e.path });
        out[e.path.slice('Synced/'.length)] = sha256(sink.bytes());
      }
    } finally {
      c.close();
    }
    return out;
  }

  it('both ways, with a change made while the app was closed, after a reload', async () => {
    const profile = await openProfile();
    try {
      await profile.context.addInitScript(FAKE_PICKER);
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, f.env.relay.httpUrl, ALICE.name, ALICE.password);
      const big = randomData(5 * 1024 * 1024 + 77);
      await writeLocal(page, 'notes.txt', 'first words');
      await writeLocal(page, 'photos/big.bin', big);

      await page.getByText('Folder sync').click();
      await page.getByLabel('Folder in the space').fill('Synced');
      await page.getByLabel("This device's name").fill('laptop browser');
      await page.getByRole('button', { name: 'Choose a folder on this computer…' }).click();
      const state = page.locator(`[data-sync="${PICKED}"] [data-testid="sync-state"]`);
      await state.filter({ hasText: 'Up to date' }).waitFor({ timeout: 60_000 });
      const local = await localTree(page);
      expect(local['photos/big.bin']).toBe(sha256(big));
      await expect.poll(remoteTree, { timeout: 30_000 }).toEqual(local);

      // From the relay to the folder: a new file, while the page is open.
      const fromCli = randomData(300_000);
      await uploadFile(f.alice, bufferSource(fromCli), { path: 'Synced/from-cli.bin' });
      await expect.poll(async () => (await localTree(page))['from-cli.bin'], { timeout: 30_000 }).toBe(sha256(fromCli));

      // From the folder to the relay: an edit, seen by the observer (or the scan).
      await writeLocal(page, 'notes.txt', 'second words, longer');
      await expect.poll(async () => (await remoteTree())['notes.txt'], { timeout: 30_000 }).toBe(sha256(Buffer.from('second words, longer')));

      // Closed, a change on the relay, opened again: the folder restarts by itself.
      await page.goto('about:blank');
      const meanwhile = randomData(10_000);
      await uploadFile(f.alice, bufferSource(meanwhile), { path: 'Synced/photos/meanwhile.bin' });
      await f.alice.request('trash', { path: 'Synced/from-cli.bin' });
      await page.goto(f.env.relay.httpUrl);
      await page.locator('#library-title').waitFor();
      await expect.poll(async () => (await localTree(page))['photos/meanwhile.bin'], { timeout: 30_000 }).toBe(sha256(meanwhile));
      await expect.poll(async () => 'from-cli.bin' in (await localTree(page)), { timeout: 30_000 }).toBe(false);
      expect(await remoteTree()).toEqual(await localTree(page));

      // Both sides changed the same file while this computer was offline: both kept, the
      // folder's copy beside it, and the app says so.
      await profile.context.setOffline(true);
      await state.filter({ hasText: 'Offline' }).waitFor({ timeout: 30_000 });
      await writeLocal(page, 'notes.txt', 'edited here');
      await uploadFile(f.alice, bufferSource(Buffer.from('edited on the relay')), { path: 'Synced/notes.txt' });
      await profile.context.setOffline(false);
      await page.locator(`[data-sync="${PICKED}"] [data-testid="sync-conflicts"]`).waitFor({ timeout: 30_000 });
      await expect.poll(async () => Object.keys(await localTree(page)).filter((p) => p.includes('(conflict from laptop browser')).length, { timeout: 30_000 }).toBe(1);
      await expect.poll(remoteTree, { timeout: 30_000 }).toEqual(await localTree(page));
      const tree = await localTree(page);
      expect(tree['notes.txt']).toBe(sha256(Buffer.from('edited on the relay')));
      expect(Object.entries(tree).find(([p]) => p.includes('conflict'))?.[1]).toBe(sha256(Buffer.from('edited here')));
      // No part files or swap files left in the folder.
      const names = await page.evaluate(async (root) => {
        const all: string[] = [];
        const walk = async (d: FileSystemDirectoryHandle) => {
          for await (const [n, h] of (d as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
            all.push(n);
            if (h.kind === 'directory') await walk(h as FileSystemDirectoryHandle);
          }
        };
        await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle(root));
        return all;
      }, PICKED);
      expect(names.filter((n) => n.endsWith('.ferry-part') || n.endsWith('.crswap'))).toEqual([]);

      // The library marks the copy; one action settles it, and the folder follows.
      const copyName = Object.keys(tree).find((p) => p.includes('conflict'))!;
      await page.locator('button.name.folder', { hasText: 'Synced' }).click();
      await page.getByTestId('conflict-mark').waitFor();
      await rowAction(page, copyName, `Keep this version: ${copyName}`);
      await expect.poll(async () => await localTree(page), { timeout: 30_000 }).toEqual({ ...tree, 'notes.txt': sha256(Buffer.from('edited here')), [copyName]: undefined });
      expect(Object.keys(await localTree(page))).not.toContain(copyName);
      await rowAction(page, 'notes.txt', 'Versions of notes.txt');
      await page.getByTestId('version-conflict').first().waitFor();
      await page.getByRole('button', { name: 'Close' }).click();

      // Nothing failed on the way (the client log says every step).
      const log = await clientLog(page);
      expect(log.filter((l) => l.startsWith('sync ') && /ERROR|failed/.test(l) && !l.includes('CONNECTION_LOST'))).toEqual([]);

      // My devices: this browser with its folder, and another device that can be revoked from here.
      const other = await signIn(f.env.relay, ALICE.name, ALICE.password);
      await other.request('device.report', { name: 'old phone', kind: 'app' });
      await page.getByText('My devices').click();
      const me = page.locator('[data-device]', { hasText: 'this device' });
      await me.getByTestId('device-folder').filter({ hasText: `${PICKED} ⇄ Synced · up to date` }).waitFor({ timeout: 30_000 });
      expect(await me.textContent()).toContain('laptop browser');
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Revoke old phone' }).click();
      await page.getByRole('button', { name: 'Revoke old phone' }).waitFor({ state: 'detached' });
      await expect(other.request('list', {})).rejects.toMatchObject({ code: expect.stringMatching(/SESSION_EXPIRED|CONNECTION_LOST|AUTH_REQUIRED/) });
      other.close();

      // Stopping keeps both sides as they are.
      await page.getByRole('button', { name: `Stop syncing ${PICKED}` }).click();
      await page.locator(`[data-sync="${PICKED}"]`).waitFor({ state: 'detached' });
      expect(Object.keys(await remoteTree()).length).toBeGreaterThan(0);
    } finally {
      await profile.close();
    }
  }, 180_000);

  it('keeps a folder in sync with one in an end-to-end encrypted folder: names and contents sealed in the browser', async () => {
    const cli = { FERRY_CONFIG: `${f.env.tmp}/e2e-cli.json`, FERRY_PASSWORD: ALICE.password, FERRY_PASSPHRASE: 'passphrase for the vault' };
    for (const args of [['login', f.env.relay.httpUrl, '--user', ALICE.name], ['keys', 'init'], ['mkdir', 'vault', '--encrypted']]) {
      const r = await ferry(args, { env: cli });
      expect(r.code, r.stderr).toBe(0);
    }
    const profile = await openProfile();
    try {
      await profile.context.addInitScript(FAKE_PICKER.replace(PICKED, 'sealed-folder'));
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, f.env.relay.httpUrl, ALICE.name, ALICE.password);
      // Unlocked in the app first (More → Encryption keys).
      await page.getByText('Encryption keys', { exact: true }).click();
      await page.getByTestId('keys-panel').getByLabel('Passphrase').fill('passphrase for the vault');
      await page.getByTestId('keys-panel').getByRole('button', { name: 'Unlock' }).click();
      await page.getByTestId('keys-panel').getByText(/Unlocked on this browser/).waitFor();
      await page.evaluate(async () => {
        const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('sealed-folder', { create: true });
        const w = await (await (await d.getDirectoryHandle('plans', { create: true })).getFileHandle('secret plan.txt', { create: true })).createWritable();
        await w.write('attack at dawn');
        await w.close();
      });
      await page.getByText('Folder sync').click();
      await page.getByLabel('Folder in the space').fill('vault/box');
      await page.getByLabel("This device's name").fill('sealed browser');
      await page.getByRole('button', { name: 'Choose a folder on this computer…' }).click();
      await page.locator('[data-sync="sealed-folder"] [data-testid="sync-state"]').filter({ hasText: 'Up to date' }).waitFor({ timeout: 60_000 });
      // The relay holds sealed names only; the CLI opens them and gets the bytes.
      const c = await signIn(f.env.relay, ALICE.name, ALICE.password);
      const stored = (await c.request('tree', { folder: 'vault' })).entries.map((e) => e.path);
      c.close();
      expect(stored.length).toBeGreaterThanOrEqual(3);
      for (const p of stored) expect(p.split('/').slice(1).every((s) => s.startsWith('e1.'))).toBe(true);
      const got = await ferry(['get', 'vault/box/plans/secret plan.txt', '-o', `${f.env.tmp}/plan.txt`], { env: cli });
      expect(got.code, got.stderr).toBe(0);
      expect(got.stdout).toContain(sha256(Buffer.from('attack at dawn')));
      // And back: a file the CLI puts there reaches the browser's folder.
      const note = `${f.env.tmp}/reply.txt`;
      (await import('node:fs')).writeFileSync(note, 'dawn it is');
      expect((await ferry(['put', note, '--to', 'vault/box'], { env: cli })).code).toBe(0);
      await expect
        .poll(async () => page.evaluate(async () => {
          const d = await (await navigator.storage.getDirectory()).getDirectoryHandle('sealed-folder');
          return (await (await d.getFileHandle('reply.txt').catch(() => undefined))?.getFile())?.text();
        }), { timeout: 30_000 })
        .toBe('dawn it is');
    } finally {
      await profile.close();
    }
  }, 180_000);

  it('says what it cannot do where the browser has no folder access, and offers the CLI', async () => {
    const profile = await openProfile();
    try {
      await profile.context.addInitScript('delete window.showDirectoryPicker; delete Window.prototype.showDirectoryPicker;');
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, f.env.relay.httpUrl, ALICE.name, ALICE.password);
      await page.getByText('Folder sync').click();
      await page.getByTestId('sync-unsupported').waitFor();
      expect(await page.locator('.sync pre').textContent()).toContain('ferry sync');
      expect(await page.getByRole('button', { name: 'Choose a folder on this computer…' }).count()).toBe(0);
    } finally {
      await profile.close();
    }
  });
});
