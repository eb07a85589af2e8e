import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ALICE, standardRelay, startRelayProcess, relayLog, storedSha256, waitFor } from '../helpers/relay.js';
import { hasChromium, openProfile, signInPage } from '../helpers/browser.js';
import { randomData, sha256 } from '../helpers/files.js';

const MiB = 1024 * 1024;

/** Fraction uploaded of the transfer row for `name`, read from its progress bar. */
function progressOf(page: Page, name: string): Promise<number> {
  return page.locator(`.transfer[data-path="${name}"] progress`).evaluate((p) => (p as HTMLProgressElement).value);
}

async function waitForProgress(page: Page, name: string, atLeast: number): Promise<void> {
  await waitFor(async () => ((await progressOf(page, name).catch(() => 0)) >= atLeast ? true : undefined), 60_000);
}

describe.runIf(hasChromium)('the web app resumes uploads', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function setup(sizeMiB: number) {
    const env = await standardRelay([], {}, { web: true });
    cleanup.push(() => env.close());
    const profile = await openProfile();
    cleanup.push(() => profile.close());
    const page = profile.context.pages()[0] ?? (await profile.context.newPage());
    await signInPage(page, env.relay.httpUrl, ALICE.name, ALICE.password);
    const data = randomData(sizeMiB * MiB);
    const file = path.join(env.tmp, 'big.bin');
    writeFileSync(file, data);
    return { env, profile, page, data, file };
  }


  it('after a reload the file waits; picking it again resumes without sending acknowledged chunks', async () => {
    const { env, page, data, file } = await setup(400);
    await page.getByTestId('file-input').setInputFiles(file);
    await waitForProgress(page, 'big.bin', 0.3);
    await page.reload();
    const row = page.locator('.transfer[data-path="big.bin"]');
    await row.and(page.locator('[data-state="waiting"]')).waitFor();
    await page.getByTestId('file-input').setInputFiles(file);
    await row.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => row.getByTestId('sha256').textContent()).toContain(sha256(data));
    const transfer = relayLog(env.relay.dataDir).find((l) => l.event === 'transfer' && l.path === 'big.bin')!;
    // The second leg carried only what the relay had not acknowledged.
    expect(transfer.received as number).toBeLessThan(0.75 * data.length);
    expect(await storedSha256(env.relay, 'big.bin')).toBe(sha256(data));
  });

  it('resumes by itself when the relay is killed and restarted', async () => {
    const { env, page, data, file } = await setup(300);
    await page.getByTestId('file-input').setInputFiles(file);
    await waitForProgress(page, 'big.bin', 0.25);
    const port = env.relay.port;
    await env.relay.kill();
    await page.getByTestId('connection').and(page.getByText('Reconnecting…')).waitFor();
    const restarted = await startRelayProcess({ dataDir: env.relay.dataDir, port, web: true });
    cleanup.push(() => restarted.stop());
    await page.locator('.transfer[data-path="big.bin"][data-state="done"]').waitFor({ timeout: 60_000 });
    expect(await storedSha256(restarted, 'big.bin')).toBe(sha256(data));
  });

  it('resumes by itself after going offline and back online', async () => {
    const { env, profile, page, data, file } = await setup(300);
    await page.getByTestId('file-input').setInputFiles(file);
    await waitForProgress(page, 'big.bin', 0.25);
    await profile.context.setOffline(true);
    await page.getByTestId('connection').and(page.getByText('Reconnecting…')).waitFor();
    const during = await progressOf(page, 'big.bin');
    await new Promise((r) => setTimeout(r, 500));
    expect(await progressOf(page, 'big.bin')).toBe(during);
    await profile.context.setOffline(false);
    await page.locator('.transfer[data-path="big.bin"][data-state="done"]').waitFor({ timeout: 60_000 });
    expect(await storedSha256(env.relay, 'big.bin')).toBe(sha256(data));
  });
});
