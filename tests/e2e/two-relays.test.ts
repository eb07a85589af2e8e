/**
 * The web app on one relay while others use another, both on one PostgreSQL database:
 * the open folder shows a file uploaded through the other relay without a reload, and an
 * admin's live log shows the other relay's lines, each saying which relay wrote it.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { ADMIN, ALICE, signIn, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { hasChromium, openAdmin, openProfile, signInPage } from '../helpers/browser.js';
import { POSTGRES, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { PostgresMetaStore } from '../../relay/store/postgres-meta-store.js';
import { Accounts } from '../../relay/auth/accounts.js';
import { uploadFile } from '../../relay/client/index.js';
import { bufferSource, randomData } from '../helpers/files.js';

if (hasChromium && !POSTGRES) console.log('two-relay app tests skipped: PostgreSQL is not installed (apt-get install postgresql-15)');

describe.runIf(hasChromium && POSTGRES)('the app with clients on another relay', () => {
  let pg: PostgresServer;
  let tmp: ReturnType<typeof tempDir>;
  let a: RelayProcess;
  let b: RelayProcess;
  const profiles: Awaited<ReturnType<typeof openProfile>>[] = [];
  const page = async () => {
    const p = await openProfile();
    profiles.push(p);
    return (p.context.pages()[0] ?? (await p.context.newPage())) as Page;
  };

  beforeAll(async () => {
    pg = await startPostgres();
    const url = await pg.createDatabase();
    const meta = await PostgresMetaStore.open(url);
    const accounts = new Accounts(meta, 86_400_000);
    for (const u of [ADMIN, ALICE]) await accounts.addUser(u.name, u.role, u.password);
    await meta.close();
    tmp = tempDir();
    const chunks = path.join(tmp.dir, 'chunks');
    mkdirSync(chunks);
    const args = ['--meta', url, '--chunks', chunks];
    [a, b] = await Promise.all(['a', 'b'].map((n) => startRelayProcess({ dataDir: path.join(tmp.dir, n), args, web: true })));
  }, 60_000);

  afterAll(async () => {
    for (const p of profiles) await p.close();
    await a?.stop();
    await b?.stop();
    await pg?.stop();
    tmp?.remove();
  });

  it('shows in the open folder, without a reload, a file uploaded through the other relay', async () => {
    const alicePage = await page();
    await signInPage(alicePage, a.httpUrl, ALICE.name, ALICE.password);
    const onB = await signIn(b, ALICE.name, ALICE.password);
    try {
      await uploadFile(onB, bufferSource(randomData(5000)), { path: 'through-b.txt' });
      await alicePage.locator('.entry[data-path="through-b.txt"]').waitFor({ timeout: 5_000 });
    } finally {
      onB.close();
    }
  });

  it("shows the other relay's lines in an admin's live log, saying which relay wrote them", async () => {
    const adminPage = await page();
    await signInPage(adminPage, a.httpUrl, ADMIN.name, ADMIN.password);
    await openAdmin(adminPage);
    await adminPage.getByLabel('Event', { exact: true }).fill('transfer');
    const onB = await signIn(b, ALICE.name, ALICE.password);
    try {
      await uploadFile(onB, bufferSource(randomData(7000)), { path: 'logged-at-b.txt' });
      const log = adminPage.getByTestId('relay-log');
      await expect.poll(() => log.textContent(), { timeout: 10_000 }).toContain('logged-at-b.txt');
      const row = (await log.locator('li', { hasText: 'logged-at-b.txt' }).first().textContent()) ?? '';
      expect(row).toContain(`"relay":"${os.hostname()}:${b.port}"`);
    } finally {
      onB.close();
    }
  });
});
