import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliceInApp, hasChromium, rowAction } from '../helpers/browser.js';
import { sha256 } from '../helpers/files.js';
import { ROOT } from '../helpers/relay.js';

describe.runIf(hasChromium)('sharing from the web app', () => {
  const f = aliceInApp();

  it('creates a link with options, shows it to copy, counts its use, and revokes it', async () => {
    const { page } = f;
    const file = path.join(f.env.tmp, 'handout.txt');
    writeFileSync(file, 'for the team');
    await page.getByTestId('file-input').setInputFiles(file);
    await page.locator('.transfer[data-path="handout.txt"][data-state="done"]').waitFor({ timeout: 60_000 });
    await rowAction(page, 'handout.txt', 'Share link: handout.txt');
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Expires').selectOption('7 days');
    await dialog.getByLabel('Most downloads').fill('2');
    await dialog.getByLabel(/^Message/).fill('The handout for Monday.\nBring it printed.');
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const url = await dialog.getByTestId('share-url').inputValue();
    expect(url).toMatch(new RegExp(`^${f.env.relay.httpUrl}/s/[A-Za-z0-9_-]{24}$`));
    // A QR code of exactly that link, for a phone to scan.
    const qr = dialog.getByTestId('share-qr');
    await qr.locator('svg').waitFor();
    const QRCode = (await import('qrcode')).default;
    const expected = await QRCode.toString(url, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
    const paths = (svg: string) => [...svg.matchAll(/ d="([^"]+)"/g)].map((m) => m[1]);
    expect(paths(await qr.innerHTML())).toEqual(paths(expected));
    expect(paths(expected).join('').length).toBeGreaterThan(100);
    await page.screenshot({ path: path.join(ROOT, 'docs', 'screenshots', 'share-1280.png') });
    await dialog.getByRole('button', { name: 'Close' }).click();

    // The page a visitor sees, in a browser in another time zone: the expiry in theirs.
    const visitor = await page.context().browser()!.newContext({ timezoneId: 'Asia/Tokyo' });
    try {
      const v = await visitor.newPage();
      for (const width of [390, 1280]) {
        await v.setViewportSize({ width, height: width < 600 ? 844 : 900 });
        await v.goto(url);
        await v.getByText('alice shared this file with you.').waitFor();
        await expect.poll(() => v.locator('time').textContent()).toMatch(/\(Asia\/Tokyo\)$/);
        expect(await v.locator('.message').textContent()).toBe('The handout for Monday.\nBring it printed.');
        expect(await v.getByRole('link', { name: 'Download' }).boundingBox().then((b) => b!.height)).toBeGreaterThanOrEqual(44);
        expect(await v.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
        await v.screenshot({ path: path.join(ROOT, 'docs', 'screenshots', `link-page-${width}.png`) });
      }
    } finally {
      await visitor.close();
    }

    // Someone without an account downloads it.
    const got = await fetch(`${url}/file`);
    expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(sha256(Buffer.from('for the team')));
    const id = url.split('/').pop()!;
    const row = page.locator(`.links li[data-link="${id}"]`);
    // The count moves on its own, without a reload.
    await expect.poll(() => row.getByTestId('link-downloads').textContent()).toBe('1 of 2 downloads');
    // Revoking asks first; a revoked link moves out of the way, under "Revoked links".
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.accept();
    });
    await row.getByRole('button', { name: 'Revoke link to handout.txt' }).click();
    await expect.poll(() => row.locator('.state').textContent()).toBe('revoked');
    expect(asked).toContain('Revoke the link to handout.txt?');
    expect(await page.locator('.links details.revoked summary').textContent()).toBe('Revoked links (1)');
    expect(await page.locator(`.links details.revoked li[data-link="${id}"]`).count()).toBe(1);
    expect((await fetch(url)).status).toBe(410);
  });
});
