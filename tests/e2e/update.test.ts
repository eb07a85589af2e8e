import { appendFileSync, cpSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN, ROOT, addUsers, startRelayProcess, tempDir } from '../helpers/relay.js';
import { hasChromium, openProfile, signInPage } from '../helpers/browser.js';

describe.runIf(hasChromium)('a new version of the app', () => {
  it('is announced as ready and applied only when the person chooses', async () => {
    const tmp = tempDir();
    const web = path.join(tmp.dir, 'web');
    cpSync(path.join(ROOT, 'dist', 'web'), web, { recursive: true });
    const dataDir = path.join(tmp.dir, 'data');
    await addUsers(dataDir, [ADMIN]);
    let relay = await startRelayProcess({ dataDir, web });
    const profile = await openProfile();
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, relay.httpUrl, ADMIN.name, ADMIN.password);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
      // The relay is upgraded: it now serves a changed service worker, a new version of the app.
      const port = relay.port;
      await relay.stop();
      appendFileSync(path.join(web, 'sw.js'), '\n// a later build\n');
      relay = await startRelayProcess({ dataDir, web, port });
      await page.getByTestId('connection').and(page.getByText('Connected')).waitFor({ timeout: 20_000 });
      await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r?.update()));
      const prompt = page.getByRole('status').filter({ hasText: 'A new version of Ferry is ready' });
      await prompt.waitFor({ timeout: 20_000 });
      // Nothing changed under the person's feet: the page is still the one they had.
      await page.getByRole('heading', { name: 'My files' }).waitFor();
      const marker = await page.evaluate(() => ((window as unknown as { beforeUpdate: boolean }).beforeUpdate = true));
      expect(marker).toBe(true);
      await prompt.getByRole('button', { name: 'Reload to update' }).click();
      // The page reloads under the new service worker: the marker is gone, so is the prompt.
      await expect.poll(() => page.evaluate(() => !!(window as unknown as { beforeUpdate?: boolean }).beforeUpdate).catch(() => true), { timeout: 20_000 }).toBe(false);
      await page.getByRole('heading', { name: 'My files' }).waitFor();
      expect(await page.getByText('A new version of Ferry is ready').count()).toBe(0);
    } finally {
      await profile.close();
      await relay.stop();
      tmp.remove();
    }
  });
});
