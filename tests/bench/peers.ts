/**
 * Ferry against the peer a person would pick instead, and its own latencies (issue:
 * faster than every peer), each in one run on this machine:
 * - small files: `ferry put` of a folder of 1 KB files (every file durable before it is
 *   reported) against tus-js-client → @tus/server (FileStore) on the same files, with
 *   the same number in flight, interleaved, best of `runs`;
 * - latency: `ferry put` of one 10 MB file and `ferry ls`, process start to exit, with
 *   what Node itself and loading the CLI take of it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FERRY_BIN, ROOT, addUsers, startRelayProcess } from '../helpers/relay.js';
import { BUNDLE } from '../../bin/build-node.js';
import { openPage } from './cdp.js';
import { run } from './scale.js';
import { appUpload, signInApp } from './web.js';

/** Files in flight at once for both sides (what `ferry put` uses for small files). */
const CONCURRENCY = 16;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Starts a child that prints "port N"; resolves with the port and a stop function. */
async function serverChild(script: string, args: string[]): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A folder of `count` files of `size` random bytes; returns their SHA-256 by name. */
function makeSmallFiles(dir: string, count: number, size: number): Map<string, string> {
  mkdirSync(dir, { recursive: true });
  const hashes = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const name = `f${String(i).padStart(5, '0')}.bin`;
    const data = randomBytes(size);
    writeFileSync(path.join(dir, name), data);
    hashes.set(name, createHash('sha256').update(data).digest('hex'));
  }
  return hashes;
}

export async function benchSmallFiles(opts: { work: string; runs: number; count?: number }): Promise<string[]> {
  const count = opts.count ?? Number(process.env.BENCH_SMALL_FILES ?? 10_000);
  const work = path.join(opts.work, 'small');
  mkdirSync(work, { recursive: true });
  const user = { name: 'small', password: 'small-password', role: 'user' as const };
  const dataDir = path.join(work, 'data');
  await addUsers(dataDir, [user]);
  const relay = await startRelayProcess({ dataDir });
  const env = { FERRY_CONFIG: path.join(work, 'cli.json'), FERRY_PASSWORD: user.password };
  const tusDir = path.join(work, 'tus');
  mkdirSync(tusDir);
  const tus = await serverChild(path.join(ROOT, 'tests/bench/tus-server.mjs'), [tusDir]);
  const ferry: number[] = [];
  const tusRuns: number[] = [];
  try {
    const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], env);
    if (login.code !== 0) throw new Error(login.err);
    for (let i = 0; i < opts.runs; i++) {
      // New bytes every run, so nothing is deduplicated.
      const dir = path.join(work, `files${i}`);
      console.error(`small files run ${i + 1}/${opts.runs}: making ${count} × 1 KB`);
      const hashes = makeSmallFiles(dir, count, 1024);
      await run('sync', []);
      console.error(`small files run ${i + 1}/${opts.runs}: ferry put`);
      const put = await run(process.execPath, [FERRY_BIN, 'put', dir, '--to', `run${i}`], env);
      if (put.code !== 0) throw new Error(`ferry put failed: ${put.err}`);
      ferry.push(put.seconds);
      // Every file is there with its bytes' hash.
      const ls = await run(process.execPath, [FERRY_BIN, 'ls', `run${i}/files${i}`, '--json'], env);
      const entries = (JSON.parse(ls.out) as { entries: { name: string; sha256?: string }[] }).entries;
      const good = entries.filter((e) => hashes.get(e.name) === e.sha256).length;
      if (good !== count) throw new Error(`ferry put stored ${good} of ${count} files intact`);
      await run('sync', []);
      console.error(`small files run ${i + 1}/${opts.runs}: tus`);
      const t = await run(process.execPath, [path.join(ROOT, 'tests/bench/tus-put.mjs'), `http://127.0.0.1:${tus.port}/files`, dir, String(CONCURRENCY)]);
      if (t.code !== 0 || !t.out.includes(`done ${count}`)) throw new Error(`tus upload failed: ${t.err}`);
      const stored = readdirSync(tusDir).filter((n) => !n.endsWith('.json')).length;
      if (stored < count * (i + 1)) throw new Error(`tus stored ${stored} files, expected ${count * (i + 1)}`);
      tusRuns.push(t.seconds);
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await tus.stop();
    await relay.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const rate = (s: number) => count / s;
  const f = Math.min(...ferry);
  const t = Math.min(...tusRuns);
  return [
    `| \`ferry put\` of a folder of ${count} × 1 KB files, process start to exit (best of ${opts.runs}; runs ${ferry.map((s) => s.toFixed(2)).join(', ')} s) | — | ${rate(f).toFixed(0)} files/s | — | ≥ 500 files/s |`,
    `| the same files, tus-js-client (Node) → @tus/server FileStore, ${CONCURRENCY} at a time as Ferry (runs ${tusRuns.map((s) => s.toFixed(2)).join(', ')} s) | ${rate(t).toFixed(0)} files/s | ${rate(f).toFixed(0)} files/s | ${(t / f).toFixed(2)} | — |`,
  ];
}

/**
 * `ferry put` of one 10 MB file and `ferry ls`, process start to exit, median of `runs`
 * each, with what of it Node's own start and loading the CLI's code take.
 */
export async function benchLatency(opts: { work: string; runs?: number }): Promise<string[]> {
  const runs = opts.runs ?? 7;
  const work = path.join(opts.work, 'latency');
  mkdirSync(work, { recursive: true });
  const user = { name: 'quick', password: 'quick-password', role: 'user' as const };
  const dataDir = path.join(work, 'data');
  await addUsers(dataDir, [user]);
  const relay = await startRelayProcess({ dataDir });
  const env = { FERRY_CONFIG: path.join(work, 'cli.json'), FERRY_PASSWORD: user.password };
  const node: number[] = [];
  const load: number[] = [];
  const put: number[] = [];
  const ls: number[] = [];
  try {
    const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], env);
    if (login.code !== 0) throw new Error(login.err);
    const importBundle = `await import(${JSON.stringify(pathToFileURL(BUNDLE).href)})`;
    for (let i = 0; i < runs; i++) {
      const file = path.join(work, `ten-${i}.bin`);
      writeFileSync(file, randomBytes(10_000_000));
      await run('sync', []);
      node.push((await run(process.execPath, ['-e', ''])).seconds);
      load.push((await run(process.execPath, ['--input-type=module', '-e', importBundle])).seconds);
      const p = await run(process.execPath, [FERRY_BIN, 'put', file], env);
      if (p.code !== 0) throw new Error(p.err);
      put.push(p.seconds);
      const l = await run(process.execPath, [FERRY_BIN, 'ls'], env);
      if (l.code !== 0 || !l.out.includes(`ten-${i}.bin`)) throw new Error(`ferry ls: ${l.err}`);
      ls.push(l.seconds);
      rmSync(file);
    }
  } finally {
    await relay.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
  const n = median(node);
  const ld = median(load);
  return [
    `| \`ferry put\` of one 10 MB file, process start to exit (median of ${runs}; runs ${put.map((s) => (s * 1000).toFixed(0)).join(', ')} ms) | — | ${ms(median(put))} | — | < 200 ms |`,
    `| \`ferry ls\`, process start to exit (median of ${runs}; runs ${ls.map((s) => (s * 1000).toFixed(0)).join(', ')} ms) | — | ${ms(median(ls))} | — | < 100 ms |`,
    `| of which: Node starting with nothing to run (\`node -e ''\`) | — | ${ms(n)} | — | — |`,
    `| of which: loading the CLI's code (import of its bundle, less Node's start) | — | ${ms(ld - n)} | — | — |`,
  ];
}

/**
 * Seconds for tus-js-client in Chromium to upload every one of `files` (picked together)
 * to @tus/server (FileStore), `concurrency` at a time, each as requests of `chunkSize`.
 */
async function tusInBrowser(files: string[], work: string, opts: { chunkSize: number; concurrency: number }): Promise<number> {
  const dir = path.join(work, 'tus-browser');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tus = await serverChild(path.join(ROOT, 'tests/bench/tus-server.mjs'), [dir]);
  const page = await openPage(`http://127.0.0.1:${tus.port}/`);
  try {
    await page.until(`typeof tus !== 'undefined' && document.querySelector('#pick')`);
    await page.eval(`(() => {
      document.querySelector('#pick').addEventListener('change', async (e) => {
        const files = [...e.target.files];
        let next = 0;
        const one = (file) => new Promise((resolve, reject) => new tus.Upload(file, {
          endpoint: '/files', chunkSize: ${Number.isFinite(opts.chunkSize) ? opts.chunkSize : 'Infinity'}, retryDelays: [], storeFingerprintForResuming: false,
          metadata: { filename: file.name }, onError: reject, onSuccess: resolve,
        }).start());
        try {
          await Promise.all(Array.from({ length: ${opts.concurrency} }, async () => { while (next < files.length) await one(files[next++]); }));
          window.doneMs = performance.now();
        } catch (err) { window.tusError = String(err); }
      });
    })()`);
    await run('sync', []);
    const t0 = performance.now();
    await page.pickFiles('#pick', files);
    await page.until('window.doneMs !== undefined || window.tusError !== undefined', 900_000);
    const seconds = (performance.now() - t0) / 1000;
    const error = await page.eval<string | undefined>('window.tusError');
    if (error) throw new Error(`tus upload failed: ${error}`);
    const stored = readdirSync(dir).filter((n) => !n.endsWith('.json'));
    const bytes = stored.reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    if (stored.length !== files.length || bytes !== files.reduce((n, f) => n + statSync(f).size, 0)) throw new Error('tus stored other files than those picked');
    return seconds;
  } finally {
    await page.close();
    await tus.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The app's upload of a picked file against tus-js-client → @tus/server in the same
 * Chromium (one request for the whole file, and 4 MiB requests), interleaved, best of `runs`.
 */
export async function benchAppVsTus(opts: { file: string; work: string; runs: number }): Promise<string[]> {
  const size = statSync(opts.file).size;
  const dataDir = path.join(opts.work, 'app-vs-tus');
  const app: number[] = [];
  const whole: number[] = [];
  const chunked: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    console.error(`app vs tus run ${i + 1}/${opts.runs}: tus, one request`);
    whole.push(await tusInBrowser([opts.file], opts.work, { chunkSize: Infinity, concurrency: 1 }));
    console.error(`app vs tus run ${i + 1}/${opts.runs}: app`);
    app.push((await appUpload(opts.file, dataDir)).seconds);
    console.error(`app vs tus run ${i + 1}/${opts.runs}: tus, 4 MiB requests`);
    chunked.push(await tusInBrowser([opts.file], opts.work, { chunkSize: 4 * 1024 * 1024, concurrency: 1 }));
  }
  rmSync(dataDir, { recursive: true, force: true });
  const MiB = 1024 * 1024;
  const mibs = (s: number) => size / MiB / s;
  const best = (xs: number[]) => Math.min(...xs);
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  return [
    `| app upload of ${size / MiB} MiB vs tus-js-client → @tus/server in the same Chromium, \`chunkSize: Infinity\` (best of ${opts.runs}; runs ${list(whole)} / ${list(app)} s) | ${mibs(best(whole)).toFixed(1)} MiB/s | ${mibs(best(app)).toFixed(1)} MiB/s | ${(best(whole) / best(app)).toFixed(2)} | ≥ 1.2 |`,
    `| the same against tus with \`chunkSize\` 4 MiB (runs ${list(chunked)} s) | ${mibs(best(chunked)).toFixed(1)} MiB/s | ${mibs(best(app)).toFixed(1)} MiB/s | ${(best(chunked) / best(app)).toFixed(2)} | — |`,
  ];
}

/**
 * The app uploading `count` picked 1 KB files (pick to every row done, each checked on
 * the relay afterwards) against tus-js-client in the same Chromium on the same files,
 * `CONCURRENCY` at a time, interleaved, best of `runs`.
 */
export async function benchAppSmallFiles(opts: { work: string; runs: number; count?: number }): Promise<string[]> {
  const count = opts.count ?? Number(process.env.BENCH_APP_SMALL_FILES ?? 1000);
  const work = path.join(opts.work, 'app-small');
  mkdirSync(work, { recursive: true });
  const user = { name: 'bench', password: 'bench-password', role: 'user' as const };
  const app: number[] = [];
  const tusRuns: number[] = [];
  try {
    for (let i = 0; i < opts.runs; i++) {
      const dir = path.join(work, `files${i}`);
      const hashes = makeSmallFiles(dir, count, 1024);
      const files = [...hashes.keys()].map((n) => path.join(dir, n));
      await run('sync', []);
      console.error(`app small files run ${i + 1}/${opts.runs}: app`);
      const dataDir = path.join(work, 'data');
      rmSync(dataDir, { recursive: true, force: true });
      await addUsers(dataDir, [user]);
      const relay = await startRelayProcess({ dataDir, web: true });
      const page = await openPage(relay.httpUrl);
      try {
        await signInApp(page, user);
        const t0 = performance.now();
        await page.pickFiles('[data-testid=file-input]', files);
        await page.until(`document.querySelector('[data-testid=transfer-counts]')?.dataset.done === '${count}' || document.querySelector('.transfer[data-state=failed]')`, 600_000);
        app.push((performance.now() - t0) / 1000);
        if (await page.eval<boolean>(`!!document.querySelector('.transfer[data-state=failed]')`)) throw new Error('an app upload failed');
        const env = { FERRY_CONFIG: path.join(work, 'cli.json'), FERRY_PASSWORD: user.password };
        const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], env);
        if (login.code !== 0) throw new Error(login.err);
        const ls = await run(process.execPath, [FERRY_BIN, 'ls', '--json'], env);
        const entries = (JSON.parse(ls.out) as { entries: { name: string; sha256?: string }[] }).entries;
        const good = entries.filter((e) => hashes.get(e.name) === e.sha256).length;
        if (good !== count) throw new Error(`the app stored ${good} of ${count} files intact`);
      } finally {
        await page.close();
        await relay.stop();
      }
      console.error(`app small files run ${i + 1}/${opts.runs}: tus`);
      tusRuns.push(await tusInBrowser(files, work, { chunkSize: Infinity, concurrency: CONCURRENCY }));
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const rate = (s: number) => count / s;
  const a = Math.min(...app);
  const t = Math.min(...tusRuns);
  return [
    `| the app uploading ${count} picked 1 KB files, pick to every one done (best of ${opts.runs}; runs ${app.map((s) => s.toFixed(2)).join(', ')} s) | — | ${rate(a).toFixed(0)} files/s | — | ≥ 200 files/s |`,
    `| the same files, tus-js-client in the same Chromium, ${CONCURRENCY} at a time (runs ${tusRuns.map((s) => s.toFixed(2)).join(', ')} s) | ${rate(t).toFixed(0)} files/s | ${rate(a).toFixed(0)} files/s | ${(t / a).toFixed(2)} | — |`,
  ];
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

function rssOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
}

/**
 * 50 clients (10 people, 5 devices each), each a process of its own, uploading at once
 * through one relay, one file each from 1 MiB to 200 MiB (3.3 GiB in all, every chunk
 * distinct); meanwhile another process lists a folder every 100 ms. Every upload is
 * checked (the relay's SHA-256 against the bytes sent, and `verify` reading every chunk back).
 */
export async function benchLoad(opts: { work: string }): Promise<string[]> {
  const CLIENTS = 50;
  const MiB = 1024 * 1024;
  const work = path.join(opts.work, 'load');
  mkdirSync(work, { recursive: true });
  const people = Array.from({ length: 10 }, (_, i) => ({ name: `load${i}`, password: `load-password-${i}`, role: 'user' as const }));
  const dataDir = path.join(work, 'data');
  await addUsers(dataDir, people);
  const relay = await startRelayProcess({ dataDir });
  const sizes = Array.from({ length: CLIENTS }, (_, i) => Math.round(MiB + 199 * MiB * (i / (CLIENTS - 1)) ** 2));
  const children: ReturnType<typeof spawn>[] = [];
  let lister: ReturnType<typeof spawn> | undefined;
  try {
    // The lister's folder has a few files to list.
    const env = { FERRY_CONFIG: path.join(work, 'cli.json'), FERRY_PASSWORD: people[0].password };
    const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', people[0].name], env);
    if (login.code !== 0) throw new Error(login.err);
    const listed = path.join(work, 'listed');
    makeSmallFiles(listed, 20, 1000);
    const put = await run(process.execPath, [FERRY_BIN, 'put', listed, '--to', 'load'], env);
    if (put.code !== 0) throw new Error(put.err);
    const outputs: string[] = Array.from({ length: CLIENTS }, () => '');
    const exits: Promise<number | null>[] = [];
    // Ten at a time sign in: the relay allows 32 connections not yet signed in per address.
    for (let i = 0; i < CLIENTS; i++) {
      // The clients yield to the relay (nice 10): here they share its two cores, where 50
      // real devices would bring their own; otherwise the relay gets 1/51 of the CPU.
      const child = spawn('nice', ['-n', '10', process.execPath, '--import', 'tsx', path.join(ROOT, 'tests/bench/load-client.ts'), relay.wsUrl, people[i % 10].name, people[i % 10].password, String(i), String(sizes[i])], { stdio: ['pipe', 'pipe', 'inherit'] });
      children.push(child);
      child.stdout!.on('data', (d) => (outputs[i] += d));
      exits.push(new Promise<number | null>((r) => child.once('exit', r)));
      if (i % 10 === 9) {
        while (outputs.slice(0, i + 1).some((o) => !o.includes('ready'))) {
          if (children.some((c) => c.exitCode !== null)) throw new Error('a load client stopped before the start');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    let listerOut = '';
    // The lister runs ahead of the 50 clients on this machine's two cores (nice -10 as root),
    // so what it measures is the relay's answer, not its own wait for a core.
    const niced = process.getuid?.() === 0;
    lister = spawn(niced ? 'nice' : process.execPath, [...(niced ? ['-n', '-10', process.execPath] : []), '--import', 'tsx', path.join(ROOT, 'tests/bench/lister.ts'), relay.wsUrl, people[0].name, people[0].password, 'load/listed', '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const listerExit = new Promise((r) => lister!.once('exit', r));
    lister.stdout!.on('data', (d) => (listerOut += d));
    // Every client signed in (each made its data), and the lister ready.
    while (!listerOut.includes('ready') || outputs.some((o) => !o.includes('ready'))) {
      if (children.some((c) => c.exitCode !== null) || lister.exitCode !== null) throw new Error('a load client or the lister stopped before the start');
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const baseRss = rssOf(relay.child.pid!, 'VmRSS');
    let peakRss = baseRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssOf(relay.child.pid!, 'VmRSS'))), 250);
    console.error(`load: ${CLIENTS} clients uploading ${(sizes.reduce((a, b) => a + b, 0) / MiB).toFixed(0)} MiB at once`);
    const started = performance.now();
    for (const c of children) c.stdin!.write('go\n');
    const codes = await Promise.all(exits);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    lister.kill('SIGTERM');
    await listerExit;
    const { ms: listMs, failed: listsFailed } = JSON.parse(listerOut.trim().split('\n').pop()!) as { ms: number[]; failed: number };
    const results = outputs.map((o, i) => (codes[i] === 0 ? (JSON.parse(o.trim().split('\n').pop()!) as { verified: boolean; reconnects: number; ackMs: number[]; seconds: number }) : undefined));
    const verified = results.filter((r) => r?.verified).length;
    const reconnects = results.reduce((n, r) => n + (r?.reconnects ?? 0), 0);
    const acks = results.flatMap((r) => r?.ackMs ?? []);
    const total = sizes.reduce((a, b) => a + b, 0);
    return [
      `| ${CLIENTS} clients (10 people × 5 devices, a process each, at nice 10) uploading at once through one relay, one file each of 1–200 MiB (${(total / MiB).toFixed(0)} MiB in all): ${verified} of ${CLIENTS} verified, ${(total / MiB / seconds).toFixed(0)} MiB/s together in ${seconds.toFixed(1)} s, ${reconnects} reconnects after 10 s without progress | — | list from another process${niced ? ' (nice -10)' : ''} every 100 ms: p50 ${percentile(listMs, 50).toFixed(1)} ms, p99 ${percentile(listMs, 99).toFixed(1)} ms, slowest ${Math.max(...listMs).toFixed(0)} ms (${listMs.length} lists, ${listsFailed} unanswered within 10 s) | — | list p99 < 50 ms |`,
      `| the same: chunk acknowledgements (send to ack, seen by the clients) | — | p50 ${percentile(acks, 50).toFixed(0)} ms, p99 ${percentile(acks, 99).toFixed(0)} ms (${acks.length} chunks) | — | stated |`,
      `| the same: relay memory | ${(baseRss / 1e6).toFixed(0)} MB before | ${(peakRss / 1e6).toFixed(0)} MB peak RSS | — | stated |`,
    ];
  } finally {
    if (lister && lister.exitCode === null) lister.kill('SIGTERM');
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await relay.stop();
    rmSync(work, { recursive: true, force: true });
  }
}
