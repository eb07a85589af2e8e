/**
 * The app as a phone on the LAN reaches it: at a LAN name (`ferry.lan`, mapped to
 * 127.0.0.1 by Chromium's resolver rules) over https with `--tls auto`, the relay's CA
 * trusted through an NSS database made with certutil, as a person installs it, not by
 * ignoring certificate errors. And the same name over plain http: the notice, and an
 * upload that still completes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALICE, ROOT, relayLog, standardRelay, waitFor, startRelayProcess, storedSha256, tempDir } from '../helpers/relay.js';
import { addFile, CERTUTIL, hasChromium, homeTrusting, openProfile, signInPage } from '../helpers/browser.js';
import { sha256 } from '../helpers/files.js';
import { NGINX, startNginx } from '../helpers/proxies.js';
import { RelayCa } from '../../relay/tls/certificates.js';

const NAME = 'ferry.lan';
if (!CERTUTIL) console.log('https browser tests skipped: certutil is not installed (apt-get install libnss3-tools)');
const OUT = path.join(ROOT, 'test-results', 'screenshots');
mkdirSync(OUT, { recursive: true });
const RESOLVE = `--host-resolver-rules=MAP ${NAME} 127.0.0.1`;


describe.runIf(hasChromium && CERTUTIL)('the app at a LAN name', () => {
  it('over https with the CA installed: installable, under its service worker, offline queue, 50 MiB byte-identical', async () => {
    const env = await standardRelay(['--hosts', NAME], {}, { web: true });
    let relay = env.relay;
    const home = path.join(env.tmp, 'home');
    homeTrusting(path.join(env.relay.dataDir, 'tls', 'ca.crt'), home);
    const profile = await openProfile(undefined, { args: [RESOLVE], env: { HOME: home } });
    let phone: Awaited<ReturnType<typeof openProfile>> | undefined;
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      const url = `https://${NAME}:${relay.port}/`;
      await signInPage(page, url, ALICE.name, ALICE.password);
      expect(await page.evaluate(() => [window.isSecureContext, typeof crypto.subtle?.digest])).toEqual([true, 'function']);
      expect(await page.getByTestId('insecure-notice').count()).toBe(0);
      await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
      await page.reload();
      await page.getByRole('heading', { name: 'My files' }).waitFor();
      expect(await page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
      const cdp = await page.context().newCDPSession(page);
      const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
      expect(installabilityErrors).toEqual([]);

      const big = await addFile(page, env.tmp, 'fifty.bin', 50 * 1024 * 1024);
      await page.locator('.transfer[data-path="fifty.bin"][data-state="done"]').waitFor({ timeout: 120_000 });
      expect(await storedSha256(relay, 'fifty.bin')).toBe(sha256(big));

      // The relay goes away; a file added meanwhile waits on the device and goes up when it returns.
      const port = relay.port;
      await relay.stop();
      await page.getByTestId('connection').and(page.getByText('Connected')).waitFor({ state: 'detached' });
      const queued = await addFile(page, env.tmp, 'while-away.bin', 2 * 1024 * 1024 + 3);
      await page.locator('.transfer[data-path="while-away.bin"][data-state="offline"]').waitFor();
      relay = await startRelayProcess({ dataDir: env.relay.dataDir, port, web: true, args: ['--hosts', NAME] });
      await page.locator('.transfer[data-path="while-away.bin"][data-state="done"]').waitFor({ timeout: 60_000 });
      expect(await storedSha256(relay, 'while-away.bin')).toBe(sha256(queued));

      // Connect a device shows the fingerprint the relay printed, and QR codes.
      await page.locator('summary', { hasText: 'Connect a device' }).click();
      const fp = /SHA-256 fingerprint:\s+([0-9A-F:]+)/.exec(env.relay.output())![1];
      expect(await page.getByTestId('connect-fingerprint').textContent()).toBe(fp);
      await page.getByTestId('connect-qr').locator('svg').waitFor();
      await page.getByTestId('connect-qr-setup').locator('svg').waitFor();
      expect(await page.getByRole('link', { name: `https://${NAME}:${port}` }).count()).toBeGreaterThan(0);
      await page.locator('section.connect').screenshot({ path: path.join(OUT, 'connect-1280.png') });

      // With a sign-in code in the QR code, a phone that opens it is signed in without a password, once.
      await page.getByRole('button', { name: 'Sign the phone in for me' }).click();
      await page.getByTestId('connect-signin').getByText('once, until').waitFor();
      const signinUrl = await page.getByTestId('connect-qr').getAttribute('data-url');
      await page.locator('section.connect').screenshot({ path: path.join(OUT, 'connect-signin-1280.png') });
      expect(signinUrl).toMatch(new RegExp(`^https://${NAME}:${port}/#signin=[A-Za-z0-9_-]{40,}$`));
      phone = await openProfile(undefined, { args: [RESOLVE], env: { HOME: home } });
      const phonePage = phone.context.pages()[0] ?? (await phone.context.newPage());
      await phonePage.setViewportSize({ width: 390, height: 844 });
      await phonePage.goto(signinUrl!);
      await phonePage.getByRole('heading', { name: 'My files' }).waitFor();
      await expect.poll(() => phonePage.url()).toBe(`https://${NAME}:${port}/files/me`);
      expect(await phonePage.evaluate(() => location.hash)).toBe('');
      // On the phone, Connect a device as a person sees it at 390 px.
      await phonePage.locator('nav button.tab', { hasText: 'More' }).click();
      await phonePage.locator('summary', { hasText: 'Connect a device' }).click();
      await phonePage.getByTestId('connect-qr').locator('svg').waitFor();
      await phonePage.screenshot({ path: path.join(OUT, 'connect-390.png'), fullPage: true });
      // The same code a second time (another phone, or the QR code photographed) signs nobody in.
      await phone.close();
      phone = await openProfile(undefined, { args: [RESOLVE], env: { HOME: home } });
      const other = phone.context.pages()[0] ?? (await phone.context.newPage());
      await other.goto(signinUrl!);
      await other.getByText('This sign-in code is unknown, expired or was already used').waitFor();
      expect(await other.getByRole('heading', { name: 'My files' }).count()).toBe(0);
      // A code removed from the QR code is withdrawn on the relay too.
      await page.getByRole('button', { name: 'Remove the sign-in code' }).click();
      await page.getByRole('button', { name: 'Sign the phone in for me' }).click();
      await page.getByTestId('connect-signin').getByText('once, until').waitFor();
      const removedUrl = await page.getByTestId('connect-qr').getAttribute('data-url');
      await page.getByRole('button', { name: 'Remove the sign-in code' }).click();
      await expect.poll(() => page.getByTestId('connect-qr').getAttribute('data-url')).toBe(`https://${NAME}:${port}`);
      await waitFor(() => relayLog(env.relay.dataDir).find((l) => l.event === 'signin.code.cancel' && l.cancelled === true));
      await other.goto(removedUrl!);
      await other.getByText('This sign-in code is unknown, expired or was already used').waitFor();
    } finally {
      await phone?.close();
      await profile.close();
      await relay.stop();
      await env.close();
    }
  });

  it('over plain http: says what will not work and where to go, and an upload still completes byte-identical', async () => {
    const env = await standardRelay(['--hosts', NAME, '--tls', 'off'], {}, { web: true });
    const profile = await openProfile(undefined, { args: [RESOLVE] });
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await page.goto(`http://${NAME}:${env.relay.port}/`);
      const notice = page.getByTestId('insecure-notice');
      await notice.waitFor();
      await expect.poll(() => notice.textContent()).toContain('without HTTPS');
      expect(await page.evaluate(() => [window.isSecureContext, typeof crypto.subtle])).toEqual([false, 'undefined']);
      await signInPage(page, `http://${NAME}:${env.relay.port}/`, ALICE.name, ALICE.password);
      const data = await addFile(page, env.tmp, 'plain.bin', 9 * 1024 * 1024 + 1);
      await page.locator('.transfer[data-path="plain.bin"][data-state="done"]').waitFor({ timeout: 60_000 });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: path.join(OUT, 'insecure-390.png') });
      expect(await storedSha256(env.relay, 'plain.bin')).toBe(sha256(data));
    } finally {
      await profile.close();
      await env.close();
    }
  });
});

describe.runIf(hasChromium && CERTUTIL && NGINX)('the app behind nginx (docs/proxy/nginx.conf)', () => {
  it('signs in, uploads byte-identical over wss through nginx, and the relay sees https', async () => {
    const env = await standardRelay(['--hosts', NAME, '--tls', 'off', '--trust-proxy', 'on'], {}, { web: true });
    const ca = await RelayCa.open(path.join(env.tmp, 'proxy-ca'), 'test');
    const site = await ca.issue([NAME], Date.now());
    writeFileSync(path.join(env.tmp, 'site.crt'), site.cert);
    writeFileSync(path.join(env.tmp, 'site.key'), site.key);
    const nginx = await startNginx({ dir: env.tmp, upstreamPort: env.relay.port, serverName: NAME, cert: path.join(env.tmp, 'site.crt'), key: path.join(env.tmp, 'site.key') });
    const home = homeTrusting(path.join(env.tmp, 'proxy-ca', 'ca.crt'), path.join(env.tmp, 'home'));
    const profile = await openProfile(undefined, { args: [RESOLVE], env: { HOME: home } });
    try {
      const page = profile.context.pages()[0] ?? (await profile.context.newPage());
      await signInPage(page, `https://${NAME}:${nginx.port}/`, ALICE.name, ALICE.password);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
      const data = await addFile(page, env.tmp, 'through-nginx.bin', 20 * 1024 * 1024 + 7);
      await page.locator('.transfer[data-path="through-nginx.bin"][data-state="done"]').waitFor({ timeout: 60_000 });
      expect(await storedSha256(env.relay, 'through-nginx.bin')).toBe(sha256(data));
      // The relay logged the browser's connection as nginx reported it: over TLS, from this machine.
      await waitFor(() => (relayLog(env.relay.dataDir).some((l) => l.event === 'connect') ? true : undefined));
      expect(relayLog(env.relay.dataDir).filter((l) => l.event === 'upgrade.refused')).toEqual([]);
    } finally {
      await profile.close();
      await nginx.stop();
      await env.close();
    }
  });
});
