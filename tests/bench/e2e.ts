/**
 * End-to-end encryption's cost, from the CLI, in one run: `ferry put` and `ferry get` of
 * the same random file into an encrypted folder and into a plain one (interleaved, best
 * of N; each run's file differs in every chunk, so neither upload finds it stored), putting the
 * unchanged file again, and unlocking with the passphrase (Argon2id at its defaults). The
 * same from the app in Chromium (over the raw DevTools protocol): a picked file uploaded into
 * an encrypted folder and into a plain one, and each downloaded to the device (OPFS).
 */
import { execSync, spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FERRY_BIN, addUsers, startRelayProcess } from '../helpers/relay.js';
import { openPage, type CdpPage } from './cdp.js';
import { signInApp } from './web.js';
import { KDF_DEFAULTS } from '../../relay/crypto/format.js';

function ferry(args: string[], env: Record<string, string>): Promise<{ seconds: number; out: string; err: string; code: number | null }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FERRY_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ seconds: (performance.now() - started) / 1000, out, err, code }));
  });
}

async function ok(args: string[], env: Record<string, string>): Promise<number> {
  const r = await ferry(args, env);
  if (r.code !== 0) throw new Error(`ferry ${args.join(' ')}: ${r.err}`);
  return r.seconds;
}

export async function benchE2e(opts: { file: string; work: string; runs: number; size: number; settle: () => void }): Promise<string[]> {
  const user = { name: 'sealer', password: 'sealer-password', role: 'user' as const };
  const dataDir = path.join(opts.work, 'e2e-data');
  rmSync(dataDir, { recursive: true, force: true });
  await addUsers(dataDir, [user]);
  const relay = await startRelayProcess({ dataDir });
  const env = { FERRY_CONFIG: path.join(opts.work, 'e2e-cli.json'), FERRY_PASSWORD: user.password, FERRY_PASSPHRASE: 'a bench passphrase' };
  const t = { plainPut: [] as number[], sealedPut: [] as number[], again: [] as number[], plainGet: [] as number[], sealedGet: [] as number[], unlock: [] as number[] };
  try {
    await ok(['login', relay.httpUrl, '--user', user.name], env);
    await ok(['keys', 'init'], env);
    for (let i = 0; i < opts.runs; i++) {
      console.error(`e2e run ${i + 1}/${opts.runs}`);
      // Content the relay has not seen (it deduplicates per user): the run's number at the
      // start of every 4 MiB, which falls in every chunk, plain or sealed.
      const fd = openSync(opts.file, 'r+');
      for (let at = 0; at < opts.size; at += 4 * 2 ** 20) writeSync(fd, Buffer.from(`run ${i} of the e2e bench`), 0, 16, at);
      closeSync(fd);
      await ok(['mkdir', `vault${i}`, '--encrypted'], env);
      opts.settle();
      t.plainPut.push(await ok(['put', opts.file, '--to', `plain${i}`], env));
      opts.settle();
      t.sealedPut.push(await ok(['put', opts.file, '--to', `vault${i}`], env));
      opts.settle();
      t.again.push(await ok(['put', opts.file, '--to', `vault${i}`], env));
      const back = path.join(opts.work, 'e2e-back.bin');
      opts.settle();
      t.plainGet.push(await ok(['get', `plain${i}/${path.basename(opts.file)}`, '-o', back, '--force'], env));
      opts.settle();
      t.sealedGet.push(await ok(['get', `vault${i}/${path.basename(opts.file)}`, '-o', back, '--force'], env));
      rmSync(back, { force: true });
      await ok(['lock'], env);
      t.unlock.push(await ok(['unlock'], env));
    }
  } finally {
    await relay.stop();
  }
  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (s: number) => opts.size / 2 ** 20 / s;
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  const mib = opts.size / 2 ** 20;
  return [
    `| CLI upload of ${mib} MiB into an encrypted folder vs a plain one (best of ${opts.runs}; runs ${list(t.plainPut)} / ${list(t.sealedPut)} s) | ${mibs(best(t.plainPut)).toFixed(1)} MiB/s | ${mibs(best(t.sealedPut)).toFixed(1)} MiB/s | ${(best(t.plainPut) / best(t.sealedPut)).toFixed(2)} | ≥ 0.8 |`,
    `| CLI download of the same, encrypted vs plain (runs ${list(t.plainGet)} / ${list(t.sealedGet)} s) | ${mibs(best(t.plainGet)).toFixed(1)} MiB/s | ${mibs(best(t.sealedGet)).toFixed(1)} MiB/s | ${(best(t.plainGet) / best(t.sealedGet)).toFixed(2)} | ≥ 0.8 |`,
    `| putting the unchanged encrypted file again vs its first upload (runs ${list(t.again)} s) | ${best(t.sealedPut).toFixed(2)} s | ${best(t.again).toFixed(2)} s | ${(best(t.sealedPut) / best(t.again)).toFixed(1)}× faster | ≥ 3× |`,
    `| ferry unlock (process start to exit; Argon2id ${KDF_DEFAULTS.memoryKiB / 1024} MiB, ${KDF_DEFAULTS.iterations} passes, ${KDF_DEFAULTS.parallelism} lane; runs ${list(t.unlock)} s) | — | ${best(t.unlock).toFixed(2)} s | — | stated |`,
  ];
}

const SEALER = { name: 'sealer', password: 'sealer-password', role: 'user' as const };
const BENCH_PASSPHRASE = 'a bench passphrase';

/** Clicks the button whose accessible name (aria-label or text) is `name`, in `scope` (a selector). */
function click(page: CdpPage, name: string, scope = 'body'): Promise<unknown> {
  return page.eval(`(() => {
    const b = [...document.querySelector(${JSON.stringify(scope)}).querySelectorAll('button, summary')].find((x) => (x.getAttribute('aria-label') ?? x.textContent.trim()) === ${JSON.stringify(name)});
    if (!b) throw new Error('no button ' + ${JSON.stringify(name)});
    b.click();
  })()`);
}

/**
 * Seconds for the app to upload `file` (picked) into `folder` (the top when ''), then to
 * download it to the device; on a fresh relay each time, the keys unlocked in the page.
 */
async function appRoundTrip(file: string, work: string, sealed: boolean): Promise<{ up: number; down: number }> {
  const dataDir = path.join(work, 'e2e-app-data');
  rmSync(dataDir, { recursive: true, force: true });
  await addUsers(dataDir, [SEALER]);
  const relay = await startRelayProcess({ dataDir, web: true });
  const env = { FERRY_CONFIG: path.join(work, 'e2e-app-cli.json'), FERRY_PASSWORD: SEALER.password, FERRY_PASSPHRASE: BENCH_PASSPHRASE };
  const page = await openPage(relay.httpUrl);
  try {
    await ok(['login', relay.httpUrl, '--user', SEALER.name], env);
    await ok(['keys', 'init'], env);
    await ok(['mkdir', 'vault', '--encrypted'], env);
    await ok(['mkdir', 'plain'], env);
    await signInApp(page, SEALER);
    if (sealed) {
      // Unlocked in the keys panel, as a person does.
      await page.eval(`(() => { const d = [...document.querySelectorAll('details')].find((x) => x.querySelector('summary')?.textContent.trim() === 'Encryption keys'); d.open = true; })()`);
      await page.until(`document.querySelector('#keys-secret')`);
      await page.eval(`(() => {
        const el = document.querySelector('#keys-secret');
        el.value = ${JSON.stringify(BENCH_PASSPHRASE)};
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.form.querySelector('button[type=submit]').click();
      })()`);
      await page.until(`document.querySelector('[data-testid=keys-panel]')?.textContent.includes('Unlocked on this browser')`, 60_000);
    }
    const folder = sealed ? 'vault' : 'plain';
    await page.until(`document.querySelector('.entry[data-path=${JSON.stringify(folder)}] button.name')`);
    await page.eval(`document.querySelector('.entry[data-path=${JSON.stringify(folder)}] button.name').click()`);
    await page.until(`!document.querySelector('.entry[data-path=${JSON.stringify(folder)}]')${sealed ? ` && document.querySelector('[data-testid=e2e-note]')` : ''}`);
    execSync('sync');
    const t0 = performance.now();
    await page.pickFiles('[data-testid=file-input]', [file]);
    await page.until(`document.querySelector('.transfer:not(.download)')?.dataset.state === 'done'`, 900_000);
    const up = (performance.now() - t0) / 1000;
    const name = path.basename(file);
    await page.until(`[...document.querySelectorAll('.entry')].some((e) => e.textContent.includes(${JSON.stringify(name)}))`);
    execSync('sync');
    const t1 = performance.now();
    await click(page, `Actions for ${name}`);
    await click(page, `Download ${name}`);
    await page.until(`document.querySelector('.transfer.download')?.dataset.state === 'done'`, 900_000);
    const down = (performance.now() - t1) / 1000;
    return { up, down };
  } finally {
    await page.close();
    await relay.stop();
  }
}

/** The app's upload and download into an encrypted folder against a plain one, alternating. */
export async function benchE2eApp(opts: { file: string; work: string; runs: number; size: number; settle: () => void }): Promise<string[]> {
  const plain: { up: number; down: number }[] = [];
  const sealed: { up: number; down: number }[] = [];
  for (let i = 0; i < opts.runs; i++) {
    console.error(`e2e app run ${i + 1}/${opts.runs}: plain`);
    opts.settle();
    plain.push(await appRoundTrip(opts.file, opts.work, false));
    console.error(`e2e app run ${i + 1}/${opts.runs}: encrypted`);
    opts.settle();
    sealed.push(await appRoundTrip(opts.file, opts.work, true));
  }
  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (s: number) => opts.size / 2 ** 20 / s;
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  const mib = opts.size / 2 ** 20;
  const up = [plain.map((r) => r.up), sealed.map((r) => r.up)];
  const down = [plain.map((r) => r.down), sealed.map((r) => r.down)];
  return [
    `| app upload of ${mib} MiB (picked) into an encrypted folder vs a plain one (best of ${opts.runs}; runs ${list(up[0])} / ${list(up[1])} s) | ${mibs(best(up[0])).toFixed(1)} MiB/s | ${mibs(best(up[1])).toFixed(1)} MiB/s | ${(best(up[0]) / best(up[1])).toFixed(2)} | ≥ 0.8 |`,
    `| app download of the same to the device (runs ${list(down[0])} / ${list(down[1])} s) | ${mibs(best(down[0])).toFixed(1)} MiB/s | ${mibs(best(down[1])).toFixed(1)} MiB/s | ${(best(down[0]) / best(down[1])).toFixed(2)} | ≥ 0.8 |`,
  ];
}
