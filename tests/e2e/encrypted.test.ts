/**
 * End-to-end encrypted folders in the app, in a real Chromium: keys set up (the recovery
 * key shown once), an encrypted folder made, a file uploaded into it and saved back
 * byte-identical, names shown only in the app (the relay holds sealed ones), a file put
 * there by the CLI read by the app, and the folder locked and unlocked.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/relay.js';
import { aliceInApp, hasChromium, openTab, rowAction } from '../helpers/browser.js';
import { ferry } from '../helpers/cli.js';
import { randomData, sha256 } from '../helpers/files.js';
import { ALICE, BOB, sharedFolder } from '../helpers/relay.js';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { createAccountKeys } from '../../relay/crypto/account.js';
import { PLAIN_CHUNK } from '../../relay/crypto/format.js';

const PASSPHRASE = 'the app passphrase of alice';
const OUT = path.join(ROOT, 'test-results', 'screenshots');

describe.runIf(hasChromium)('encrypted folders in the app', () => {
  const f = aliceInApp();
  /** The file uploaded into the encrypted folder by the first test. */
  let uploaded: Buffer;

  /** More → Encryption keys, opened. */
  async function keysPanel() {
    const { page } = f;
    await openTab(page, 'More');
    const summary = page.getByText('Encryption keys', { exact: true }).first();
    const details = summary.locator('xpath=..');
    if (!(await details.evaluate((d) => (d as HTMLDetailsElement).open))) await summary.click();
    return page.getByTestId('keys-panel');
  }

  it('sets up keys, makes an encrypted folder, uploads into it and saves the file back byte-identical', async () => {
    const { page } = f;
    mkdirSync(OUT, { recursive: true });
    const panel = await keysPanel();
    await panel.getByLabel('New passphrase').fill(PASSPHRASE);
    await panel.getByLabel('The same again').fill(PASSPHRASE);
    await panel.getByLabel(/losing both/).check();
    await panel.getByRole('button', { name: 'Set up encryption' }).click();
    await panel.getByTestId('recovery-key').waitFor({ timeout: 30_000 });
    await page.screenshot({ path: path.join(OUT, 'recovery-key-1280.png') });
    const recovery = await panel.getByTestId('recovery-key').textContent();
    expect(recovery).toMatch(/^([0-9A-Z]{5}-){10}[0-9A-Z]{1,5}$/);
    await panel.getByLabel('I have written it down').check();
    await panel.getByRole('button', { name: 'Done' }).click();
    await panel.getByText(/Unlocked on this browser/).waitFor();

    await openTab(page, 'Files');
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Name of the new folder').fill('vault');
    await page.getByLabel(/End-to-end encrypted/).check();
    await page.getByRole('button', { name: 'Make folder' }).click();
    const folder = page.locator('.entry', { hasText: 'vault' });
    await folder.getByText('Encrypted folder').waitFor();
    await folder.locator('button.name').click();
    await page.getByTestId('e2e-note').waitFor();

    const data = randomData(9 * 1024 * 1024 + 5);
    uploaded = data;
    const file = path.join(f.env.tmp, 'private notes.bin');
    writeFileSync(file, data);
    await page.getByTestId('file-input').setInputFiles(file);
    const row = page.locator('.entry', { hasText: 'private notes.bin' });
    await row.getByText('encrypted', { exact: false }).first().waitFor({ timeout: 60_000 });
    await row.getByText('9 MiB').first().waitFor().catch(() => {});
    // The relay holds a sealed name only.
    const listed = await f.alice.request('tree', { folder: 'vault' });
    expect(listed.entries.map((e) => e.path)).toHaveLength(1);
    expect(listed.entries[0].path).toMatch(/^vault\/e1\.[A-Za-z0-9_-]+$/);

    const saved = page.waitForEvent('download', { timeout: 60_000 });
    await rowAction(page, 'private notes.bin', 'Download private notes.bin');
    const download = await saved;
    expect(download.suggestedFilename()).toBe('private notes.bin');
    const to = path.join(f.env.tmp, 'saved.bin');
    await download.saveAs(to);
    expect(sha256(readFileSync(to))).toBe(sha256(data));
  });

  it('reads what the CLI put there, and shows nothing while locked until unlocked', async () => {
    const { page } = f;
    const cli = { FERRY_CONFIG: path.join(f.env.tmp, 'cli.json'), FERRY_PASSWORD: ALICE.password, FERRY_PASSPHRASE: PASSPHRASE };
    expect((await ferry(['login', f.env.relay.httpUrl, '--user', ALICE.name], { env: cli })).code).toBe(0);
    expect((await ferry(['unlock'], { env: cli })).code).toBe(0);
    const local = path.join(f.env.tmp, 'from the laptop.txt');
    writeFileSync(local, 'written on the command line');
    const put = await ferry(['put', local, '--to', 'vault'], { env: cli });
    expect(put.code, put.stderr).toBe(0);
    await page.locator('.entry', { hasText: 'from the laptop.txt' }).waitFor({ timeout: 20_000 });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(OUT, 'encrypted-1280.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(OUT, 'encrypted-390.png') });
    await page.setViewportSize({ width: 1280, height: 800 });

    const panel = await keysPanel();
    await panel.getByRole('button', { name: 'Lock now' }).click();
    await openTab(page, 'Files');
    const locked = page.getByTestId('e2e-locked');
    await locked.waitFor();
    expect(await page.locator('.entry', { hasText: 'from the laptop.txt' }).count()).toBe(0);
    await page.screenshot({ path: path.join(OUT, 'encrypted-locked-1280.png') });
    await locked.getByLabel('Passphrase').fill('not it');
    await locked.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('alert').filter({ hasText: /passphrase/i }).first().waitFor();
    await locked.getByLabel('Passphrase').fill(PASSPHRASE);
    await locked.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('.entry', { hasText: 'from the laptop.txt' }).waitFor();
    await page.locator('.entry', { hasText: 'private notes.bin' }).waitFor();
  });

  it('lists an encrypted link made on the command line with its name and whole link (key included), opened here', async () => {
    const { page } = f;
    const cli = { FERRY_CONFIG: path.join(f.env.tmp, 'cli.json') };
    const made = await ferry(['link', 'vault/from the laptop.txt'], { env: cli });
    expect(made.code, made.stderr).toBe(0);
    const url = made.stdout.trim();
    expect(url).toMatch(/#k=[A-Za-z0-9_-]{43}$/);
    await openTab(page, 'Links');
    const row = page.locator(`.links li[data-link="${url.split('/s/')[1].split('#')[0]}"]`);
    await row.getByText('from the laptop.txt').waitFor();
    expect(await row.locator('.mono').textContent()).toBe(url);
    await row.getByText('end-to-end encrypted').waitFor();
    await page.screenshot({ path: path.join(OUT, 'encrypted-links-1280.png') });
  });

  it('makes an encrypted link in the app that a fresh browser opens, checks and saves byte-identical', async () => {
    const { page } = f;
    await openTab(page, 'Files');
    await rowAction(page, 'private notes.bin', 'Share link: private notes.bin');
    const dialog = page.getByRole('dialog');
    await dialog.getByTestId('share-e2e').waitFor();
    await dialog.getByLabel('Most downloads').fill('2');
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const field = dialog.getByTestId('share-url');
    await field.waitFor({ timeout: 60_000 });
    const url = await field.inputValue();
    expect(url).toMatch(new RegExp(`^${f.env.relay.httpUrl}/s/[A-Za-z0-9_-]{24}#k=[A-Za-z0-9_-]{43}$`));
    await page.screenshot({ path: path.join(OUT, 'encrypted-share-1280.png') });
    await dialog.getByRole('button', { name: 'Close' }).click();

    const visitor = await page.context().browser()!.newContext({ acceptDownloads: true });
    try {
      const v = await visitor.newPage();
      await v.goto(url);
      await v.locator('#e2e-name', { hasText: 'private notes.bin' }).waitFor();
      const [download] = await Promise.all([v.waitForEvent('download', { timeout: 60_000 }), v.getByRole('button', { name: 'Download' }).click()]);
      const to = path.join(f.env.tmp, 'from-the-link.bin');
      await download.saveAs(to);
      expect(sha256(readFileSync(to))).toBe(sha256(uploaded));
    } finally {
      await visitor.close();
    }
  });

  it('shows who holds a shared encrypted folder\'s key with fingerprints to compare, flags a key the relay swapped, and trusts a new one only when asked', async () => {
    const { page } = f;
    // Bob, a member with keys of his own (made on his command line).
    const bob = { FERRY_CONFIG: path.join(f.env.tmp, 'bob.json'), FERRY_PASSWORD: BOB.password, FERRY_PASSPHRASE: 'bob has a passphrase too' };
    expect((await ferry(['login', f.env.relay.httpUrl, '--user', BOB.name], { env: bob })).code).toBe(0);
    expect((await ferry(['keys', 'init'], { env: bob })).code).toBe(0);
    const bobsOwn = /Public key fingerprint: ([0-9a-f ]+)/.exec((await ferry(['keys', 'show'], { env: bob })).stdout)?.[1].trim();
    expect(bobsOwn).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
    await sharedFolder(f.env.relay, 'Team', { alice: 'edit', bob: 'edit' });
    await page.reload();
    const panel = await keysPanel();
    await panel.getByLabel('Passphrase').fill(PASSPHRASE);
    await panel.getByRole('button', { name: 'Unlock' }).click();
    await panel.getByText(/Unlocked on this browser/).waitFor({ timeout: 30_000 });
    const mine = (await panel.locator('.mono').first().textContent())!.trim();
    // Unlocking opens the names of my encrypted links too.
    await page.getByRole('button', { name: 'Revoke link to private notes.bin' }).first().waitFor({ state: 'attached' });

    await openTab(page, 'Files');
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: /Team/ }).click();
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Name of the new folder').fill('plans');
    await page.getByLabel(/End-to-end encrypted/).check();
    await page.getByRole('button', { name: 'Make folder' }).click();
    await page.locator('.entry', { hasText: 'plans' }).locator('button.name').click();
    await page.getByTestId('e2e-note').waitFor();
    // Opening it shared its key with Bob, wrapped to the public key this browser pinned for him.
    await expect.poll(async () => (await ferry(['ls', 'Team:plans'], { env: bob })).code, { timeout: 20_000 }).toBe(0);

    await page.getByRole('button', { name: 'Who holds the key' }).click();
    const dialog = page.getByTestId('e2e-people');
    const alice = dialog.locator('li[data-user="alice"]');
    const bobRow = dialog.locator('li[data-user="bob"]');
    expect((await alice.getByTestId('fingerprint').textContent())!.trim()).toBe(mine);
    await alice.getByText('you', { exact: true }).waitFor();
    expect((await bobRow.getByTestId('fingerprint').textContent())!.trim()).toBe(bobsOwn);
    await bobRow.getByTestId('key-pinned').waitFor();
    await bobRow.getByText('holds the current key').waitFor();
    await page.screenshot({ path: path.join(OUT, 'encrypted-people-1280.png') });
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The relay swaps Bob's public key for one it made: the app shows the change, and shares
    // nothing with the new key until Alice says she compared it.
    const db = new Database(path.join(f.env.relay.dataDir, 'ferry.db'));
    db.pragma('busy_timeout = 5000');
    const bobId = (db.prepare('SELECT id FROM users WHERE name = ?').get(BOB.name) as { id: number }).id;
    const real = (db.prepare('SELECT record FROM user_keys WHERE user_id = ?').get(bobId) as { record: string }).record;
    const forged = (await createAccountKeys('the relay chose this one', { algorithm: 'argon2id', memoryKiB: 1024, iterations: 1, parallelism: 1 })).record;
    db.prepare('UPDATE user_keys SET record = ? WHERE user_id = ?').run(JSON.stringify({ ...JSON.parse(real), publicKey: forged.publicKey }), bobId);
    try {
      await page.getByRole('button', { name: 'Who holds the key' }).click();
      const changed = bobRow.getByTestId('key-changed');
      await changed.waitFor();
      expect(await changed.textContent()).toContain(bobsOwn);
      const shown = (await bobRow.getByTestId('fingerprint').textContent())!.trim();
      expect(shown).not.toBe(bobsOwn);
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(OUT, 'encrypted-key-changed-390.png') });
      await page.setViewportSize({ width: 1280, height: 800 });
      await dialog.getByRole('button', { name: 'I compared it: trust the new key' }).click();
      await bobRow.getByTestId('key-pinned').waitFor();
      await dialog.getByRole('button', { name: 'Close' }).click();
      // The keys panel lists the pin, and forgetting it goes back to trust on first use.
      const keysNow = await keysPanel();
      const pin = keysNow.getByTestId('pins').locator('li[data-user="bob"]');
      expect(await pin.textContent()).toContain(shown);
      db.prepare('UPDATE user_keys SET record = ? WHERE user_id = ?').run(real, bobId);
      await pin.getByRole('button', { name: 'Forget the key of bob' }).click();
      await expect.poll(() => keysNow.locator('li[data-user="bob"]').count()).toBe(0);
    } finally {
      db.prepare('UPDATE user_keys SET record = ? WHERE user_id = ?').run(real, bobId);
      db.close();
    }
    await openTab(page, 'Files');
    await page.getByRole('button', { name: 'Who holds the key' }).click();
    await bobRow.getByTestId('key-new').waitFor();
    expect((await bobRow.getByTestId('fingerprint').textContent())!.trim()).toBe(bobsOwn);
    await dialog.getByRole('button', { name: 'I compared it: trust this key' }).click();
    await bobRow.getByTestId('key-pinned').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
  });

  it('opens an encrypted photo and text file in the viewer on this device (never through the relay\'s media address)', async () => {
    const { page } = f;
    const cli = { FERRY_CONFIG: path.join(f.env.tmp, 'cli.json'), FERRY_PASSWORD: ALICE.password, FERRY_PASSPHRASE: PASSPHRASE };
    const photo = path.join(f.env.tmp, 'holiday photo.jpg');
    writeFileSync(photo, await sharp({ create: { width: 640, height: 360, channels: 3, background: { r: 30, g: 120, b: 200 } } }).jpeg().toBuffer());
    const note = path.join(f.env.tmp, 'secret plan.md');
    writeFileSync(note, '# The plan\n\nMeet at the harbour at noon.\n');
    const put = await ferry(['put', photo, note, '--to', 'vault'], { env: cli });
    expect(put.code, put.stderr).toBe(0);
    await openTab(page, 'Files');
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: /My files/ }).click();
    await page.locator('.entry', { hasText: 'vault' }).locator('button.name').first().click();
    const mediaRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/media/')) mediaRequests.push(r.url());
    });
    await page.locator('.entry', { hasText: 'holiday photo.jpg' }).locator('button.name').click();
    const viewer = page.locator('dialog.viewer');
    const img = viewer.locator('img');
    await img.waitFor({ timeout: 30_000 });
    await expect.poll(() => img.evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBe(640);
    expect(await img.getAttribute('src')).toMatch(/^blob:/);
    await page.screenshot({ path: path.join(OUT, 'encrypted-viewer-1280.png') });
    // The next file has no preview (it is offered for download), the one after is text,
    // highlighted, read from this device.
    await viewer.getByRole('button', { name: 'Next file' }).click();
    await viewer.getByText('There is no preview of this kind of file.').waitFor();
    await viewer.getByRole('button', { name: 'Next file' }).click();
    await viewer.getByText('Meet at the harbour at noon.').waitFor({ timeout: 30_000 });
    await viewer.getByRole('button', { name: 'Close the viewer' }).click();
    expect(mediaRequests).toEqual([]);
  });

  it('round trips 0 B, 1 B, chunk ± 1 and 100 MiB through the app byte-identical', async () => {
    const { page } = f;
    const cli = { FERRY_CONFIG: path.join(f.env.tmp, 'cli.json'), FERRY_PASSWORD: ALICE.password, FERRY_PASSPHRASE: PASSPHRASE };
    expect((await ferry(['mkdir', 'sizes', '--encrypted'], { env: cli })).code).toBe(0);
    const sizes = [0, 1, PLAIN_CHUNK - 1, PLAIN_CHUNK, PLAIN_CHUNK + 1, 100 * 1024 * 1024];
    const files = sizes.map((n, i) => {
      const file = path.join(f.env.tmp, `size ${i}.bin`);
      const data = randomData(n);
      writeFileSync(file, data);
      return { file, name: `size ${i}.bin`, sha: sha256(data) };
    });
    await openTab(page, 'Files');
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: /My files/ }).click();
    await page.locator('.entry', { hasText: 'sizes' }).locator('button.name').first().click();
    await page.getByTestId('e2e-note').waitFor();
    await page.getByTestId('file-input').setInputFiles(files.map((x) => x.file));
    for (const x of files) await page.locator('.entry', { hasText: x.name }).waitFor({ timeout: 120_000 });
    for (const x of files) {
      const saved = page.waitForEvent('download', { timeout: 120_000 });
      await rowAction(page, x.name, `Download ${x.name}`);
      const to = path.join(f.env.tmp, `back ${x.name}`);
      await (await saved).saveAs(to);
      expect(sha256(readFileSync(to)), x.name).toBe(x.sha);
    }
  }, 240_000);

  it('renames and moves files within an encrypted folder, names sealed again here; refuses to move them out', async () => {
    const { page } = f;
    await openTab(page, 'Files');
    await page.getByRole('navigation', { name: 'Spaces' }).getByRole('button', { name: /My files/ }).click();
    await page.locator('.entry', { hasText: 'vault' }).locator('button.name').first().click();
    await page.getByTestId('e2e-note').waitFor();
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Name of the new folder').fill('archive');
    await page.getByRole('button', { name: 'Make folder' }).click();
    await page.locator('.entry', { hasText: 'archive' }).waitFor();

    // One file: a new name in a folder below, typed as a person reads it.
    await rowAction(page, 'private notes.bin', 'Rename or move private notes.bin');
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name', { exact: true }).fill('notes 2026.bin');
    await dialog.getByLabel(/In folder/).fill('vault/archive');
    await dialog.getByRole('button', { name: 'Move' }).click();
    await page.getByText('Moved it to vault/archive.').waitFor();
    await expect.poll(() => page.locator('.entry', { hasText: 'private notes.bin' }).count()).toBe(0);
    // The relay holds it under two sealed names below the plain one, every version kept.
    const sealedPaths = (await f.alice.request('tree', { folder: 'vault' })).entries.filter((e) => e.kind === 'file').map((e) => e.path);
    expect(sealedPaths.some((p) => /^vault\/e1\.[A-Za-z0-9_-]+\/e1\.[A-Za-z0-9_-]+$/.test(p))).toBe(true);
    expect(sealedPaths.join(' ')).not.toMatch(/notes|archive/);
    const cli = { FERRY_CONFIG: path.join(f.env.tmp, 'cli.json'), FERRY_PASSWORD: ALICE.password, FERRY_PASSPHRASE: PASSPHRASE };
    const got = path.join(f.env.tmp, 'moved.bin');
    const get = await ferry(['get', 'vault/archive/notes 2026.bin', '-o', got], { env: cli });
    expect(get.code, get.stderr).toBe(0);
    expect(sha256(readFileSync(got))).toBe(sha256(uploaded));

    // Out of the encrypted folder: refused with what to do instead; nothing moved.
    await page.locator('.entry', { hasText: 'archive' }).locator('button.name').click();
    await page.locator('.entry', { hasText: 'notes 2026.bin' }).waitFor();
    await rowAction(page, 'notes 2026.bin', 'Rename or move notes 2026.bin');
    await dialog.getByLabel(/In folder/).fill('plain');
    await dialog.getByRole('button', { name: 'Move' }).click();
    await dialog.getByRole('alert').filter({ hasText: /move only within it/ }).waitFor();
    await page.screenshot({ path: path.join(OUT, 'encrypted-move-refused-1280.png') });
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // Several at once, back up to the encrypted folder's top, each keeping its name.
    await page.getByLabel('Select notes 2026.bin').check();
    await page.getByRole('button', { name: 'Move…' }).click();
    await dialog.getByLabel(/In folder/).fill('vault');
    await dialog.getByRole('button', { name: 'Move' }).click();
    await page.getByText('Moved it to vault.').or(page.getByText('Moved 1 of 1 to vault.')).first().waitFor();
    const back = await ferry(['get', 'vault/notes 2026.bin', '-o', path.join(f.env.tmp, 'back.bin')], { env: cli });
    expect(back.code, back.stderr).toBe(0);
    expect(sha256(readFileSync(path.join(f.env.tmp, 'back.bin')))).toBe(sha256(uploaded));
  });
});
