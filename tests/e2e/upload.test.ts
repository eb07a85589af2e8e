import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { downloadFile, type FerryClient } from '../../relay/client/index.js';
import { ALICE, signIn, standardRelay } from '../helpers/relay.js';
import { hasChromium, openProfile, signInPage } from '../helpers/browser.js';
import { memorySink, randomData, sha256 } from '../helpers/files.js';

describe.runIf(hasChromium)('uploading from the web app', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let profile: Awaited<ReturnType<typeof openProfile>>;
  let context: BrowserContext;
  let page: Page;
  let alice: FerryClient;

  beforeAll(async () => {
    env = await standardRelay([], {}, { web: true });
    profile = await openProfile();
    context = profile.context;
    page = context.pages()[0] ?? (await context.newPage());
    await signInPage(page, env.relay.httpUrl, ALICE.name, ALICE.password);
    alice = await signIn(env.relay, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    alice?.close();
    await profile?.close();
    await env?.close();
  });

  it('uploads a 50 MiB file picked in the app: stored bytes identical, the relay\'s SHA-256 shown', async () => {
    const data = randomData(50 * 1024 * 1024);
    const file = path.join(env.tmp, 'fifty.bin');
    writeFileSync(file, data);
    await page.getByTestId('file-input').setInputFiles(file);
    const row = page.locator('.transfer[data-path="fifty.bin"]');
    await row.and(page.locator('[data-state="done"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => row.getByTestId('sha256').textContent()).toContain(sha256(data));
    const sink = memorySink();
    await downloadFile(alice, sink, { path: 'fifty.bin' });
    expect(sha256(sink.bytes())).toBe(sha256(data));
    // The library lists it with its facts.
    const entry = page.locator('.entry[data-path="fifty.bin"]');
    await expect.poll(() => entry.textContent()).toContain('50 MiB');
    await page.screenshot({ path: path.join(env.tmp, 'shot.png'), fullPage: true });
  });
});
