/**
 * Web app benchmarks over the raw DevTools protocol:
 *   1. app upload of a picked 1 GiB file vs a bare page sending it to a sink  (target ≥ 0.8),
 *      the page reading 4 MiB slices, and again reading one stream
 *   2. time to resume after a reload and re-pick                              (target < 2 s)
 *   3. renderer memory growth during a 4 GiB upload                           (target ≤ 256 MB)
 */
import { execSync, spawn } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { addUsers, ROOT, startRelayProcess } from '../helpers/relay.js';
import { openPage, rendererRss, type CdpPage } from './cdp.js';
import { homeTrusting } from '../helpers/browser.js';

const MiB = 1024 * 1024;
const user = { name: 'bench', password: 'bench-password', role: 'admin' as const };

export async function signInApp(page: CdpPage, who: { name: string; password: string } = user): Promise<void> {
  await page.until(`document.querySelector('#login-user')`);
  await page.eval(`(() => {
    const set = (sel, v) => { const el = document.querySelector(sel); el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); };
    set('#login-user', ${JSON.stringify(who.name)});
    set('#login-password', ${JSON.stringify(who.password)});
    document.querySelector('form.login button[type=submit]').click();
  })()`);
  await page.until(`document.querySelector('section.library')`);
}

const row = (name: string) => `document.querySelector('.transfer[data-path=${JSON.stringify(name)}]')`;
const progress = (name: string) => `(${row(name)}?.querySelector('progress')?.value ?? 0)`;

async function freshRelay(dataDir: string) {
  rmSync(dataDir, { recursive: true, force: true });
  await addUsers(dataDir, [user]);
  return startRelayProcess({ dataDir, web: true });
}

/**
 * Seconds for the bare page to send `file` to a sink that writes it, reading it as
 * 4 MiB slices or (`stream`) through one stream.
 */
async function bareUpload(file: string, work: string, stream = false): Promise<number> {
  const out = path.join(work, 'browser-sink.out');
  const sink = spawn(process.execPath, [path.join(ROOT, 'tests/bench/browser-sink.mjs'), out], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve) => sink.stdout!.on('data', (d) => resolve(Number(/port (\d+)/.exec(String(d))![1]))));
  const page = await openPage(`http://127.0.0.1:${port}/${stream ? '?stream' : ''}`);
  try {
    await page.until(`document.querySelector('#f')`);
    execSync('sync');
    const t0 = performance.now();
    await page.pickFiles('#f', [file]);
    await page.until('window.doneMs !== undefined', 600_000);
    const seconds = (performance.now() - t0) / 1000;
    if (statSync(out).size !== statSync(file).size) throw new Error('sink got a different size');
    return seconds;
  } finally {
    await page.close();
    sink.kill();
    rmSync(out, { force: true });
  }
}

/** Seconds for the app to upload `file` (picked to relay's commit shown as done). */
export async function appUpload(file: string, dataDir: string, opts: { https?: boolean } = {}): Promise<{ seconds: number; baseRss: number; peakRss: number; longestTask: number }> {
  const relay = await freshRelay(dataDir);
  // Over https the relay's own CA is trusted as a person installs it: in an NSS database.
  const home = opts.https ? homeTrusting(path.join(dataDir, 'tls', 'ca.crt'), path.join(dataDir, '..', 'home')) : undefined;
  const page = await openPage(opts.https ? `https://localhost:${relay.port}/` : relay.httpUrl, { home });
  try {
    await signInApp(page);
    const name = path.basename(file);
    const baseRss = rendererRss(page.browser.pid!);
    let peakRss = baseRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rendererRss(page.browser.pid!));
    }, 250);
    await page.eval(`(() => {
      window.longestTask = 0;
      new PerformanceObserver((l) => l.getEntries().forEach((e) => (window.longestTask = Math.max(window.longestTask, e.duration)))).observe({ type: 'longtask' });
    })()`);
    execSync('sync');
    const t0 = performance.now();
    await page.pickFiles('[data-testid=file-input]', [file]);
    await page.until(`${row(name)}?.dataset.state === 'done'`, 900_000);
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    const longestTask = await page.eval<number>('window.longestTask');
    return { seconds, baseRss, peakRss, longestTask };
  } finally {
    await page.close();
    await relay.stop();
  }
}


/** App upload over https (the relay's own CA) against the same over http, alternating. */
export async function benchWebTls(opts: { file: string; work: string; runs: number }): Promise<string[]> {
  const dataDir = path.join(opts.work, 'web-tls-data');
  const plain: number[] = [];
  const secure: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    console.error(`web tls run ${i + 1}/${opts.runs}: app over http`);
    plain.push((await appUpload(opts.file, dataDir)).seconds);
    console.error(`web tls run ${i + 1}/${opts.runs}: app over https`);
    secure.push((await appUpload(opts.file, dataDir, { https: true })).seconds);
  }
  const size = statSync(opts.file).size;
  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (s: number) => size / MiB / s;
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  return [
    `| app upload of ${size / MiB} MiB over https (wss, the relay's own CA) vs over http (best of ${opts.runs}; runs ${list(plain)} / ${list(secure)} s) | ${mibs(best(plain)).toFixed(1)} MiB/s | ${mibs(best(secure)).toFixed(1)} MiB/s | ${(mibs(best(secure)) / mibs(best(plain))).toFixed(2)} | ≥ 0.85 |`,
  ];
}

/** Seconds from re-picking a file after a reload to the relay answering which chunks it still needs. */
async function resumeAfterReload(file: string, dataDir: string): Promise<number> {
  const relay = await freshRelay(dataDir);
  const page = await openPage(relay.httpUrl);
  try {
    await signInApp(page);
    const name = path.basename(file);
    await page.pickFiles('[data-testid=file-input]', [file]);
    await page.until(`${progress(name)} >= 0.3`, 300_000);
    await page.send('Page.reload');
    await page.until(`${row(name)}?.dataset.state === 'waiting'`);
    const t0 = performance.now();
    await page.pickFiles('[data-testid=file-input]', [file]);
    await page.until(`${row(name)}?.dataset.state === 'uploading' && ${progress(name)} >= 0.3`);
    const seconds = (performance.now() - t0) / 1000;
    await page.until(`${row(name)}?.dataset.state === 'done'`, 600_000);
    return seconds;
  } finally {
    await page.close();
    await relay.stop();
  }
}

/** Renderer memory growth while the app uploads a big file. */
export async function benchWebMemory(opts: { bigFile: string; work: string }): Promise<string[]> {
  console.error('web: big upload, renderer memory');
  const big = await appUpload(opts.bigFile, path.join(opts.work, 'web-data'));
  const size = statSync(opts.bigFile).size;
  return [
    `| renderer memory growth during a ${size / MiB} MiB app upload (${(size / MiB / big.seconds).toFixed(1)} MiB/s) | ${(big.baseRss / 1e6).toFixed(0)} MB before | ${(big.peakRss / 1e6).toFixed(0)} MB peak | +${((big.peakRss - big.baseRss) / 1e6).toFixed(0)} MB | ≤ 256 MB |`,
  ];
}

export async function benchWeb(opts: { file: string; work: string; runs: number }): Promise<string[]> {
  const dataDir = path.join(opts.work, 'web-data');
  const bare: number[] = [];
  const bareStream: number[] = [];
  const app: number[] = [];
  let longestTask = 0;
  for (let i = 0; i < opts.runs; i++) {
    console.error(`web run ${i + 1}/${opts.runs}: bare page`);
    bare.push(await bareUpload(opts.file, opts.work));
    console.error(`web run ${i + 1}/${opts.runs}: bare page, one stream`);
    bareStream.push(await bareUpload(opts.file, opts.work, true));
    console.error(`web run ${i + 1}/${opts.runs}: app`);
    const r = await appUpload(opts.file, dataDir);
    app.push(r.seconds);
    longestTask = Math.max(longestTask, r.longestTask);
  }
  console.error('web: resume after reload');
  const resume = await resumeAfterReload(opts.file, dataDir);
  const size = statSync(opts.file).size;
  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (s: number) => size / MiB / s;
  const lines = [
    `| upload ${size / MiB} MiB picked in the app vs a bare page sending it (best of ${opts.runs}) | ${mibs(best(bare)).toFixed(1)} MiB/s | ${mibs(best(app)).toFixed(1)} MiB/s | ${(mibs(best(app)) / mibs(best(bare))).toFixed(2)} | ≥ 0.8 |`,
    `| the same, against a bare page reading the file through one stream (best of ${opts.runs}) | ${mibs(best(bareStream)).toFixed(1)} MiB/s | ${mibs(best(app)).toFixed(1)} MiB/s | ${(mibs(best(app)) / mibs(best(bareStream))).toFixed(2)} | ≥ 0.8 |`,
    `| time to resume after a reload and re-pick (${size / MiB} MiB file, 30 % sent) | — | ${resume.toFixed(2)} s | — | < 2 s |`,
    `| longest main-thread task during the ${size / MiB} MiB app uploads (PerformanceObserver longtask) | — | ${longestTask.toFixed(0)} ms | — | ≤ 100 ms |`,
  ];
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  lines.push('', `Web runs (seconds): bare page ${list(bare)}; bare page, one stream ${list(bareStream)}; app ${list(app)}.`);
  return lines;
}
