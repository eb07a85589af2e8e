/**
 * Real Chromium for end-to-end tests: Debian's build driven by playwright-core.
 * CHROME_PATH overrides the binary.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { ALICE, aliceOnRelay, tempDir, type AliceOnRelay } from './relay.js';
import { randomData } from './files.js';

export const CHROME_PATH = process.env.CHROME_PATH ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROME_PATH);

/** Debian's certutil (libnss3-tools), which makes the NSS databases Chromium on Linux trusts CAs from. */
export const CERTUTIL = ['/usr/bin/certutil'].find((p) => existsSync(p));

/**
 * A fresh home folder whose NSS database trusts `caFile` for websites, as a person
 * installs a CA for Chromium on Linux: give it to Chromium as `HOME`.
 */
export function homeTrusting(caFile: string, home: string): string {
  rmSync(home, { recursive: true, force: true });
  const db = path.join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync(CERTUTIL ?? 'certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
  execFileSync(CERTUTIL ?? 'certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'Ferry relay CA', '-i', caFile]);
  return home;
}

export const CHROME_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A persistent browser profile (so IndexedDB survives closing and reopening). */
export async function openProfile(dir?: string, opts: { args?: string[]; env?: Record<string, string> } = {}): Promise<{ context: BrowserContext; dir: string; close: () => Promise<void> }> {
  const profile = dir ? { dir, remove: () => {} } : tempDir('ferry-profile-');
  const context = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROME_PATH,
    headless: true,
    args: [...CHROME_ARGS, ...(opts.args ?? [])],
    ...(opts.env ? { env: { ...process.env, ...opts.env } as Record<string, string> } : {}),
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
  });
  return {
    context,
    dir: profile.dir,
    close: async () => {
      await context.close();
      profile.remove();
    },
  };
}

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROME_PATH, headless: true, args: CHROME_ARGS });
}

/** Writes `size` random bytes to `dir/name` and adds the file in the app; returns the bytes. */
export async function addFile(page: Page, dir: string, name: string, size: number): Promise<Buffer> {
  const data = randomData(size);
  const file = path.join(dir, name);
  writeFileSync(file, data);
  await page.getByTestId('file-input').setInputFiles(file);
  return data;
}

/** Signs in through the login form. */
export async function signInPage(page: Page, url: string, user: string, password: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#library-title').waitFor();
}

/** Opens a row's actions menu and picks one (`item` is its accessible name, like "Download a.txt"). */
export async function rowAction(page: Page, name: string, item: string): Promise<void> {
  await page.getByRole('button', { name: `Actions for ${name}` }).click();
  await page.getByRole('menuitem', { name: item }).click();
}

/** Opens Administration (an admin's own view): from the sidebar, or on a phone from More. */
export async function openAdmin(page: Page): Promise<void> {
  const link = page.getByRole('button', { name: 'Administration' }).first();
  if (!(await link.isVisible())) await page.getByRole('navigation', { name: 'App' }).getByRole('button', { name: 'More' }).click();
  await page.getByRole('button', { name: 'Administration' }).filter({ visible: true }).first().click();
  await page.locator('#admin-title').waitFor();
}

/** Opens a pane of the phone's bottom navigation (Files, Transfers, Links, More). */
export async function openTab(page: Page, name: 'Files' | 'Transfers' | 'Links' | 'More'): Promise<void> {
  const nav = page.getByRole('navigation', { name: 'App' });
  if (await nav.isVisible()) await nav.getByRole('button', { name }).click();
}

/** Opens a space from the navigation: "My files" or a shared folder's name. */
export async function openSpace(page: Page, name: string): Promise<void> {
  const spaces = page.getByRole('navigation', { name: 'Spaces' });
  if (!(await spaces.isVisible())) await openTab(page, 'Files');
  await spaces.getByRole('button', { name }).click();
  await page.locator('#library-title', { hasText: name }).waitFor();
}

export interface AliceInApp extends AliceOnRelay {
  profile: Awaited<ReturnType<typeof openProfile>>;
  page: Page;
}

/** For a describe block: `aliceOnRelay` with the web app, and alice signed in to it in Chromium. */
export function aliceInApp(): AliceInApp {
  const f = aliceOnRelay([], { web: true }) as AliceInApp;
  beforeAll(async () => {
    f.profile = await openProfile();
    f.page = f.profile.context.pages()[0] ?? (await f.profile.context.newPage());
    await signInPage(f.page, f.env.relay.httpUrl, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    await f.profile?.close();
  });
  return f;
}
