import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN, ROOT, signIn, standardRelay } from '../helpers/relay.js';
import { hasChromium, openAdmin, openProfile, openSpace, rowAction, signInPage } from '../helpers/browser.js';

describe.runIf(hasChromium)('administration in the web app', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let adminProfile: Awaited<ReturnType<typeof openProfile>>;
  let page: Page;
  beforeAll(async () => {
    env = await standardRelay([], {}, { web: true });
    adminProfile = await openProfile();
    page = adminProfile.context.pages()[0] ?? (await adminProfile.context.newPage());
    page.on('dialog', (d) => void d.accept());
    await signInPage(page, env.relay.httpUrl, ADMIN.name, ADMIN.password);
  });
  afterAll(async () => {
    await adminProfile?.close();
    await env?.close();
  });

  it('adds a user and a shared folder; the user uploads there and cannot delete for good; the admin deletes a version; the log shows the upload', async () => {
    // Administration is a view of its own, with an address.
    expect(await page.locator('section.admin').count()).toBe(0);
    await openAdmin(page);
    expect(new URL(page.url()).pathname).toBe('/admin');
    const panel = page.locator('section.admin');
    await panel.getByLabel('Name', { exact: true }).fill('dave');
    await panel.getByLabel('Password', { exact: true }).fill('dave-password');
    await panel.getByRole('button', { name: 'Add user' }).click();
    await panel.locator('tr[data-user="dave"]').waitFor();
    // A shared folder with dave and the admin as editors.
    await panel.getByLabel('Folder name').fill('Board');
    await panel.getByRole('button', { name: 'Make shared folder' }).click();
    const board = panel.locator('[data-folder="Board"]');
    for (const user of ['dave', 'admin']) {
      await board.getByLabel('User to add to Board').selectOption(user);
      await board.getByRole('button', { name: 'Add member' }).click();
      await board.getByLabel(`Access of ${user} to Board`).waitFor();
    }
    expect(await board.getByLabel('Access of dave to Board').inputValue()).toBe('edit');
    await openSpace(page, 'Board');

    // Dave signs in elsewhere and uploads two versions of a file.
    const daveProfile = await openProfile();
    try {
      const dave = daveProfile.context.pages()[0] ?? (await daveProfile.context.newPage());
      await signInPage(dave, env.relay.httpUrl, 'dave', 'dave-password');
      await openSpace(dave, 'Board');
      const file = path.join(env.tmp, 'minutes.txt');
      for (const text of ['draft', 'final']) {
        writeFileSync(file, text);
        await dave.getByTestId('file-input').setInputFiles(file);
        // The second time the name exists: the app asks, and a new version is what dave wants.
        if (text === 'final') await dave.getByRole('dialog').getByRole('button', { name: /^Replace/ }).click();
        await dave.locator(`.transfer[data-path="minutes.txt"][data-state="done"]`).nth(text === 'draft' ? 0 : 1).waitFor({ timeout: 60_000 });
      }
      await dave.getByRole('button', { name: 'Actions for minutes.txt' }).click();
      await dave.getByRole('menuitem', { name: 'Move to trash: minutes.txt' }).waitFor();
      expect(await dave.getByRole('menuitem', { name: 'Delete for good: minutes.txt' }).count()).toBe(0);
      await dave.keyboard.press('Escape');
      expect(await dave.locator('section.admin').count()).toBe(0);

      // The admin sees the upload in the live log, then deletes version 1.
      await openAdmin(page);
      await page.getByLabel('Event', { exact: true }).fill('transfer');
      await expect.poll(() => page.getByTestId('relay-log').textContent()).toContain('minutes.txt');
      // Back returns to the shared folder, where it was.
      await page.goBack();
      await page.locator('#library-title', { hasText: 'Board' }).waitFor();
      await rowAction(page, 'minutes.txt', 'Versions of minutes.txt');
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Delete version 1 for good' }).click();
      await expect.poll(() => dialog.locator('li[data-version]').count()).toBe(1);
      await dialog.getByRole('button', { name: 'Close' }).click();
      await openAdmin(page);
      await page.screenshot({ path: path.join(ROOT, 'docs', 'screenshots', 'admin-1280.png'), fullPage: true });

      // A password reset is typed twice in a form, never shown.
      await page.getByRole('button', { name: 'Reset password of dave' }).click();
      const form = page.getByRole('form', { name: 'New password for dave' });
      await form.getByLabel('New password').fill('dave-new-password');
      await form.getByLabel('The same password again').fill('dave-new-passwort');
      await form.getByRole('button', { name: 'Set the new password' }).click();
      await expect.poll(() => form.getByRole('alert').textContent()).toBe('The two passwords differ.');
      await form.getByLabel('The same password again').fill('dave-new-password');
      await form.getByRole('button', { name: 'Set the new password' }).click();
      await expect.poll(() => page.locator('section.admin [role="status"]').textContent()).toBe('Password of dave reset; their sessions ended.');
      expect(await page.locator('section.admin input[type="password"]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).type))).not.toContain('text');
      (await signIn(env.relay, 'dave', 'dave-new-password')).close();
      await signInPage(dave, env.relay.httpUrl, 'dave', 'dave-new-password');

      // Disabling dave signs him out at once.
      await page.getByLabel('dave may sign in').uncheck();
      await expect.poll(() => dave.getByTestId('connection').textContent().catch(() => 'gone')).not.toBe('Connected');
      await expect.poll(() => page.getByTestId('storage').textContent()).toContain('in 1 version of 1 file');
    } finally {
      await daveProfile.close();
    }
  });
});
