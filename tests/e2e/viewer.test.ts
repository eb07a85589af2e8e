/**
 * Seeing files in the app: thumbnails the relay made of images another client uploaded,
 * the grid, the viewer (image, audio that streams, PDF, highlighted code, stepping
 * through the folder), and acting on a selection (zip, move, trash). Screenshots at
 * 390 and 1280 px go to docs/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { uploadFile } from '../../relay/client/index.js';
import { ROOT } from '../helpers/relay.js';
import { aliceInApp, hasChromium, openTab, rowAction } from '../helpers/browser.js';
import { bufferSource } from '../helpers/files.js';

const OUT = path.join(ROOT, 'docs', 'screenshots');

/** One second of a 440 Hz tone as a WAV file. */
function tone(): Buffer {
  const rate = 8000;
  const data = Buffer.alloc(rate * 2);
  for (let i = 0; i < rate; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 8000), i * 2);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8); h.write('fmt ', 12);
  h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34); h.write('data', 36); h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** A one-page PDF that says "Ferry test page". */
function pdf(): Buffer {
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    null,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const stream = 'BT /F1 18 Tf 40 100 Td (Ferry test page) Tj ET';
  objects[3] = `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`;
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

describe.runIf(hasChromium)('seeing files', () => {
  const f = aliceInApp();

  it('shows thumbnails of images another client uploaded, in the list and the grid', async () => {
    const colours = { 'red.jpg': { r: 220, g: 30, b: 30 }, 'green.png': { r: 30, g: 180, b: 60 }, 'blue.webp': { r: 40, g: 70, b: 220 } };
    for (const [name, background] of Object.entries(colours)) {
      const img = sharp({ create: { width: 900, height: 600, channels: 3, background } });
      const data = name.endsWith('jpg') ? await img.jpeg().toBuffer() : name.endsWith('png') ? await img.png().toBuffer() : await img.webp().toBuffer();
      await uploadFile(f.alice, bufferSource(data), { path: `Photos/${name}` });
    }
    await uploadFile(f.alice, bufferSource(tone()), { path: 'Photos/tone.wav' });
    await uploadFile(f.alice, bufferSource(pdf()), { path: 'Photos/page.pdf' });
    await uploadFile(f.alice, bufferSource(Buffer.from('export function add(a: number, b: number): number {\n  return a + b; // sums\n}\n')), { path: 'Photos/add.ts' });
    await uploadFile(f.alice, bufferSource(Buffer.from('MZ')), { path: 'Photos/tool.exe' });
    const { page } = f;
    await page.locator('.entry[data-path="Photos"] button.folder').click();
    const thumb = page.locator('.entry[data-path="Photos/red.jpg"] img');
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: 10_000 }).toBe(256);
    // Files without a thumbnail keep their icon.
    expect(await page.locator('.entry[data-path="Photos/add.ts"] img').count()).toBe(0);
    await page.getByRole('button', { name: 'Grid' }).click();
    await expect.poll(() => page.locator('.entries.grid .entry').count()).toBe(7);
    await expect.poll(() => page.locator('.entry[data-path="Photos/blue.webp"] img').evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 10_000 }).toBe(256);
    mkdirSync(OUT, { recursive: true });
    for (const width of [390, 1280]) {
      await page.setViewportSize({ width, height: width < 600 ? 844 : 900 });
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      await page.locator('section.library').screenshot({ path: path.join(OUT, `grid-${width}.png`) });
    }
    // The layout is remembered on this device.
    await page.reload();
    await page.locator('.entries.grid .entry').first().waitFor();
    await page.getByRole('button', { name: 'List' }).click();
    await page.locator('.entries.list').waitFor();
  });

  it('opens files in the viewer: image, audio that streams, PDF, highlighted code, and steps through them', async () => {
    const { page } = f;
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.locator('.entry[data-path="Photos/red.jpg"] button.file').click();
    const viewer = page.getByRole('dialog', { name: 'red.jpg' });
    await expect.poll(() => viewer.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 10_000 }).toBe(900);
    await page.screenshot({ path: path.join(OUT, 'viewer-image-1280.png') });
    // An open file has an address: a reload opens it again, Back closes it.
    expect(new URL(page.url()).pathname).toBe('/files/me/Photos/red.jpg');
    await page.reload();
    await page.getByRole('dialog', { name: 'red.jpg' }).locator('img').waitFor();
    await page.goBack();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe('/files/me/Photos');
    await page.goForward();
    await page.getByRole('dialog', { name: 'red.jpg' }).waitFor();
    // Sorted by name: add.ts, blue.webp, green.png, page.pdf, red.jpg, tone.wav, tool.exe.
    await page.keyboard.press('ArrowRight');
    const audio = page.getByRole('dialog', { name: 'tone.wav' }).locator('audio');
    expect(new URL(page.url()).pathname).toBe('/files/me/Photos/tone.wav');
    await expect.poll(() => audio.evaluate((a: HTMLAudioElement) => a.duration), { timeout: 10_000 }).toBeCloseTo(1, 1);
    await page.getByRole('button', { name: 'Next file' }).click();
    await page.getByRole('dialog', { name: 'tool.exe' }).getByText('There is no preview of this kind of file.').waitFor();
    expect(await page.getByRole('button', { name: 'Next file' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Close the viewer' }).click();
    await rowAction(page, 'add.ts', 'Open add.ts');
    const code = page.getByRole('dialog', { name: 'add.ts' }).locator('pre.code');
    await expect.poll(() => code.textContent()).toContain('return a + b; // sums');
    expect(await code.locator('.hljs-keyword').first().textContent()).toBe('export');
    expect(await code.locator('.hljs-comment').textContent()).toBe('// sums');
    await page.getByRole('button', { name: 'Next file' }).click();
    await page.getByRole('button', { name: 'Next file' }).click();
    await page.getByRole('button', { name: 'Next file' }).click();
    const frame = page.getByRole('dialog', { name: 'page.pdf' }).locator('iframe');
    await frame.waitFor();
    // The browser's PDF viewer got the file inline (its own document, not a download).
    const src = await frame.getAttribute('src');
    const head = await page.evaluate(async (u) => { const r = await fetch(u!, { method: 'HEAD' }); return [r.status, r.headers.get('content-type'), r.headers.get('content-disposition')]; }, src);
    expect(head[0]).toBe(200);
    expect(head[1]).toBe('application/pdf');
    expect(head[2]).toMatch(/^inline/);
    // The frame holds the PDF itself, not the app (the service worker leaves /media/ alone).
    await expect.poll(async () => {
      const pdfFrame = page.frames().find((fr) => fr.url().includes('/media/'));
      return pdfFrame ? pdfFrame.evaluate(() => document.contentType).catch(() => 'unreadable') : 'none';
    }, { timeout: 10_000 }).toBe('application/pdf');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('button', { name: 'Previous file' }).click();
    await page.getByRole('dialog', { name: 'green.png' }).locator('img').waitFor();
    await page.screenshot({ path: path.join(OUT, 'viewer-image-390.png') });
    // Share from the viewer.
    await page.getByRole('dialog', { name: 'green.png' }).getByRole('button', { name: 'Share link' }).click();
    await page.getByRole('dialog', { name: 'Share Photos/green.png' }).waitFor();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    // Escape hides the dialog at once; its close event (which sets the address) follows as a task.
    await expect.poll(() => new URL(page.url()).pathname).toBe('/files/me/Photos');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it('acts on a selection: zips it, moves it into a folder, trashes it', async () => {
    const { page } = f;
    await page.getByRole('checkbox', { name: 'Select red.jpg' }).check();
    await page.getByRole('checkbox', { name: 'Select green.png' }).check();
    await page.getByText('2 selected').waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as zip', exact: true }).click()]);
    // A selection in one folder is named after that folder.
    expect(download.suggestedFilename()).toBe('Photos.zip');
    await page.getByRole('button', { name: 'Move…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Move 2 items' });
    await dialog.getByLabel(/In folder/).fill('Photos/Colours');
    await dialog.getByRole('button', { name: 'Move' }).click();
    await page.getByText('Moved 2 of 2 to My files/Photos/Colours.').waitFor();
    const listed = await f.alice.request('list', { folder: 'Photos/Colours' });
    expect(listed.entries.map((e) => e.name)).toEqual(['green.png', 'red.jpg']);
    await page.getByRole('checkbox', { name: 'Select all' }).check();
    await page.getByText('6 selected').waitFor();
    await page.getByRole('checkbox', { name: 'Select Colours' }).uncheck();
    await page.getByRole('button', { name: 'Move to trash' }).click();
    await page.getByText('Moved 5 of 5 to the trash.', { exact: false }).waitFor();
    expect((await f.alice.request('list', { folder: 'Photos' })).entries.map((e) => e.name)).toEqual(['Colours']);
    expect((await f.alice.request('trash.list', {})).items).toHaveLength(5);
    await rowAction(page, 'Colours', 'Move to trash: Colours');
    await page.getByRole('button', { name: 'Undo' }).click();
    await page.locator('.entry[data-path="Photos/Colours"]').waitFor();
  });

  it('draws only the rows near the screen of a long folder, and every row is reachable by scrolling', async () => {
    const { page } = f;
    await Promise.all(Array.from({ length: 4 }, async (_, k) => {
      for (let i = k; i < 300; i += 4) await uploadFile(f.alice, bufferSource(Buffer.from(`row ${i}`)), { path: `Long/row ${String(i).padStart(3, '0')}.txt` });
    }));
    await page.goto(`${f.env.relay.httpUrl}/files/me/Long`);
    const first = page.locator('.entries .entry').first();
    await expect.poll(() => first.getAttribute('aria-setsize'), { timeout: 10_000 }).toBe('300');
    const drawn = () => page.locator('.entries .entry').count();
    expect(await drawn()).toBeLessThan(60);
    // The list is as tall as all its rows, so the scroll bar tells the truth.
    const rowHeight = await first.evaluate((el) => el.getBoundingClientRect().height);
    const listHeight = await page.locator('.entries').evaluate((el) => el.getBoundingClientRect().height);
    expect(listHeight).toBeGreaterThanOrEqual(300 * rowHeight - 2);
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await page.locator('.entry[data-path="Long/row 299.txt"]').waitFor();
    expect(await page.locator('.entry[data-path="Long/row 299.txt"]').getAttribute('aria-posinset')).toBe('300');
    expect(await page.locator('.entry[data-path="Long/row 000.txt"]').count()).toBe(0);
    expect(await drawn()).toBeLessThan(60);
    // Select all takes every row, drawn or not.
    await page.getByRole('checkbox', { name: 'Select all' }).check();
    await page.getByText('300 selected').waitFor();
    await page.getByRole('button', { name: 'Clear selection' }).click();
  });

  it('on a phone: selects and zips, opens a file full screen, and follows a download in the Transfers pane', async () => {
    const { page } = f;
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${f.env.relay.httpUrl}/files/me/Photos/Colours`);
    await page.locator('.entry[data-path="Photos/Colours/red.jpg"]').waitFor();
    await page.getByRole('checkbox', { name: 'Select red.jpg' }).check();
    await page.getByRole('checkbox', { name: 'Select green.png' }).check();
    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as zip', exact: true }).click()]);
    expect(zip.suggestedFilename()).toBe('Colours.zip');
    await page.getByRole('button', { name: 'Clear selection' }).click();
    await page.locator('.entry[data-path="Photos/Colours/red.jpg"] button.file').click();
    const viewer = page.getByRole('dialog', { name: 'red.jpg' });
    await expect.poll(() => viewer.locator('img').evaluate((img: HTMLImageElement) => img.naturalWidth), { timeout: 10_000 }).toBe(900);
    // Full screen on a phone, every control within it.
    const box = (await viewer.boundingBox())!;
    expect([Math.round(box.width), Math.round(box.height)]).toEqual([390, 844]);
    const [saved] = await Promise.all([page.waitForEvent('download'), viewer.getByRole('button', { name: 'Download' }).click()]);
    expect(saved.suggestedFilename()).toBe('red.jpg');
    await page.keyboard.press('Escape');
    await openTab(page, 'Transfers');
    const row = page.locator('.transfer.download[data-path="Photos/Colours/red.jpg"]');
    await expect.poll(() => row.getAttribute('data-state')).toBe('done');
    expect(await row.getByTestId('download-bytes').textContent()).toMatch(/^([\d.]+ KiB) of \1$/);
    await page.screenshot({ path: path.join(OUT, 'transfers-download-390.png') });
    await openTab(page, 'Files');
    await page.setViewportSize({ width: 1280, height: 900 });
  });
});
