import { describe, expect, it } from 'vitest';
import { ALICE, standardRelay, startRelayProcess } from '../helpers/relay.js';
import { hasChromium, openProfile, signInPage } from '../helpers/browser.js';

describe.runIf(hasChromium)('the installable app', () => {
  it('has a manifest and service worker Chromium accepts for installing, and opens with the relay stopped', async () => {
    const env = await standardRelay([], {}, { web: true });
    const profile = await openProfile();
    let restarted: Awaited<ReturnType<typeof startRelayProcess>> | undefined;
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, env.relay.httpUrl, ALICE.name, ALICE.password);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
      const manifest = await (await fetch(`${env.relay.httpUrl}/manifest.webmanifest`)).json();
      expect(manifest).toMatchObject({ name: 'Ferry', display: 'standalone', start_url: '/', scope: '/' });
      expect(manifest.icons.map((i: { sizes: string; purpose?: string }) => `${i.sizes}${i.purpose ? ` ${i.purpose}` : ''}`)).toEqual(['192x192', '512x512', '512x512 maskable']);
      const cdp = await profile.context.newCDPSession(page);
      // The service worker must control the page before Chromium counts it.
      await page.reload();
      await page.getByRole('heading', { name: 'My files' }).waitFor();
      const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
      expect(installabilityErrors).toEqual([]);

      // The relay goes away: the app shell still opens, as the signed-in user, and says it is offline.
      const port = env.relay.port;
      await env.relay.stop();
      await page.reload();
      await page.getByRole('heading', { name: 'My files' }).waitFor();
      await expect.poll(() => page.getByTestId('connection').textContent()).not.toBe('Connected');
      // And it reconnects by itself when the relay is back.
      restarted = await startRelayProcess({ dataDir: env.relay.dataDir, port, web: true });
      await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 20_000 }).toBe('Connected');
    } finally {
      await profile.close();
      await restarted?.stop();
      await env.close();
    }
  });
});
