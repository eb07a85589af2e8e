import { describe, it } from 'vitest';
import { aliceInApp } from '../helpers/browser.js';
describe('debug', () => {
  const f = aliceInApp();
  it('quota', async () => {
    const { page } = f;
    const cdp = await page.context().newCDPSession(page);
    const origin = new URL(page.url()).origin;
    console.log('ORIGIN', origin, JSON.stringify(await page.evaluate(() => navigator.storage.estimate())));
    console.log('R', JSON.stringify(await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 5 * 1024 * 1024 })));
    console.log('EST', JSON.stringify(await page.evaluate(() => navigator.storage.estimate())));
    console.log('CDP', JSON.stringify(await cdp.send('Storage.getUsageAndQuota', { origin })));
    const r = await page.evaluate(async () => {
      try {
        const root = await navigator.storage.getDirectory();
        const h = await root.getFileHandle('big', { create: true });
        const w = await h.createWritable();
        await w.write(new Uint8Array(8 * 1024 * 1024));
        await w.close();
        return 'wrote ok ' + JSON.stringify(await navigator.storage.estimate());
      } catch (e) { return 'ERR ' + (e as Error).name + ' ' + (e as Error).message; }
    });
    console.log('WRITE', r);
  }, 60_000);
});
