/**
 * `npm run bench`: the relay's upload benchmarks, each a ratio against a baseline
 * measured in the same run on the same machine.
 *   1. CLI upload of a 1 GiB random file vs a bare WebSocket sink   (target ≥ 0.8)
 *   2. relay peak RSS during a 4 GiB upload                         (target ≤ 200 MB)
 *   3. re-upload of the same 1 GiB file (all chunks held) vs first  (target ≥ 3×)
 * and, with Chromium (tests/bench/web.ts):
 *   4. app upload of a picked 1 GiB file vs a bare page sending it             (target ≥ 0.8)
 *   5. time to resume after reload and re-pick                                (target < 2 s)
 *   6. renderer memory growth during a 4 GiB app upload                        (target ≤ 256 MB)
 * then the library benchmarks (tests/bench/library.ts): listing 10,000 files, searching
 * 100,000 names, scrolling 10,000 rows. `BENCH_ONLY=library` runs only those.
 * The HTTPS costs (CLI over wss vs ws, a link over https vs http, the app over https vs
 * http; targets ≥ 0.85) run in the full bench; `BENCH_ONLY=tls` runs only those.
 * The scale-out benchmarks (tests/bench/scale.ts: PostgreSQL + Ceph RGW against a bare S3
 * client, 50 clients over two relays) run in the full bench; `BENCH_ONLY=scale` runs only those.
 * The sync benchmarks (tests/bench/sync.ts: two `ferry sync` devices, a 10 MB file's
 * latency, the LEFT plan's steps; the idle cost of a pair over 100,000 files) too;
 * `BENCH_ONLY=sync` runs only those, `BENCH_ONLY=sync-pair` only the two devices,
 * `BENCH_ONLY=sync-idle` only the idle cost (`SYNC_IDLE_FILES` changes its count).
 * Against the peers (tests/bench/peers.ts: the app's 1 GiB upload and small files in the
 * CLI and the app against tus, the latency of `ferry put` and `ferry ls`, 50 clients at
 * once through one relay) too; `BENCH_ONLY=peers` runs only those (`BENCH_SKIP_TUS_APP=1`
 * leaves out the 1 GiB app runs).
 * End-to-end encryption's cost (tests/bench/e2e.ts: CLI put and get into an encrypted
 * folder vs a plain one, the unchanged file again, unlocking) too; `BENCH_ONLY=e2e` runs only those.
 * Prints a Markdown report for docs/benchmarks.md.
 */
import { benchSync, benchSyncIdle } from './sync.js';
import { benchE2e, benchE2eApp } from './e2e.js';
import { benchAppSmallFiles, benchAppVsTus, benchLatency, benchLoad, benchSmallFiles } from './peers.js';
import { execSync, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addUsers, startRelayProcess, FERRY_BIN, ROOT } from '../helpers/relay.js';
import { hasChromium } from '../helpers/browser.js';
import { benchWeb, benchWebMemory, benchWebTls } from './web.js';
import { benchLibrary } from './library.js';
import { benchScale } from './scale.js';
import { ensureWebBuilt } from '../../bin/build-web.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const SIZE = Number(process.env.BENCH_SIZE_MIB ?? 1024) * MiB;
const BIG = Number(process.env.BENCH_BIG_MIB ?? 4096) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const work = path.join(process.env.BENCH_DIR ?? os.tmpdir(), `ferry-bench-${process.pid}`);

function makeRandomFile(file: string, size: number): void {
  const fd = openSync(file, 'w');
  const buf = Buffer.allocUnsafe(64 * MiB);
  for (let done = 0; done < size; done += buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(buf.length, size - done));
  }
  closeSync(fd);
}

function run(cmd: string, args: string[], env: Record<string, string> = {}, onStdout?: (s: string) => void): Promise<{ code: number | null; out: string; err: string; seconds: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
      onStdout?.(out);
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err, seconds: (performance.now() - started) / 1000 }));
  });
}

/** Flushes dirty pages so each measured run starts with the disk idle. */
function settle(): void {
  execSync('sync');
}

async function sinkRun(file: string): Promise<number> {
  settle();
  const outFile = path.join(work, 'sink.out');
  let resolvePort: (p: number) => void;
  const port = new Promise<number>((r) => (resolvePort = r));
  const server = run(process.execPath, [path.join(ROOT, 'tests/bench/sink.mjs'), 'serve', outFile], {}, (s) => {
    const m = /port (\d+)/.exec(s);
    if (m) resolvePort(Number(m[1]));
  });
  const started = performance.now();
  const client = await run(process.execPath, [path.join(ROOT, 'tests/bench/sink.mjs'), 'send', `ws://127.0.0.1:${await port}`, file]);
  await server;
  const seconds = (performance.now() - started) / 1000;
  if (client.code !== 0 || statSync(outFile).size !== statSync(file).size) throw new Error(`sink run failed: ${client.err}`);
  rmSync(outFile);
  return seconds;
}

function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

async function ferryPut(file: string, remote: string, env: Record<string, string>): Promise<{ seconds: number; out: string }> {
  settle();
  const r = await run(process.execPath, [FERRY_BIN, 'put', file, '--to', remote], env);
  if (r.code !== 0) throw new Error(`ferry put failed: ${r.err}`);
  return { seconds: r.seconds, out: r.out };
}

/** Seconds for `curl` to fetch a URL to /dev/null. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function curlSeconds(url: string, extra: string[] = []): Promise<number> {
  settle();
  const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', ...extra, url]);
  if (r.code !== 0) throw new Error(`curl failed: ${r.err}`);
  return r.seconds;
}

async function benchLink(file: string, cliEnv: Record<string, string>): Promise<string> {
  console.error('link download vs fs.createReadStream');
  await ferryPut(file, 'shared', cliEnv);
  const made = await run(process.execPath, [FERRY_BIN, 'link', `shared/${path.basename(file)}`], cliEnv);
  if (made.code !== 0) throw new Error(made.err);
  const linkUrl = `${made.out.trim()}/file`;
  let resolvePort: (p: number) => void;
  const port = new Promise<number>((r) => (resolvePort = r));
  const server = spawn(process.execPath, [path.join(ROOT, 'tests/bench/file-server.mjs'), file], { stdio: ['ignore', 'pipe', 'inherit'] });
  server.stdout.on('data', (d) => resolvePort(Number(/port (\d+)/.exec(String(d))![1])));
  const plainUrl = `http://127.0.0.1:${await port}/`;
  const plain: number[] = [];
  const link: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      plain.push(await curlSeconds(plainUrl));
      link.push(await curlSeconds(linkUrl));
    }
  } finally {
    server.kill();
  }
  const mibs = (s: number) => SIZE / MiB / s;
  const p = Math.min(...plain);
  const l = Math.min(...link);
  return `| share-link download of ${SIZE / MiB} MiB with curl vs fs.createReadStream over HTTP (best of ${RUNS}; runs ${plain.map((x) => x.toFixed(2)).join(', ')} / ${link.map((x) => x.toFixed(2)).join(', ')} s) | ${mibs(p).toFixed(1)} MiB/s | ${mibs(l).toFixed(1)} MiB/s | ${(p / l).toFixed(2)} | ≥ 0.9 |`;
}

/**
 * The cost of TLS, in one run: CLI upload over wss against ws, and a share-link download
 * over https against http, from the same relay (`--tls auto` serves both on its port).
 */
async function benchTls(file: string): Promise<string[]> {
  const user = { name: 'bench', password: 'bench-password', role: 'admin' as const };
  const dataDir = path.join(work, 'tls-data');
  rmSync(dataDir, { recursive: true, force: true });
  await addUsers(dataDir, [user]);
  let relay = await startRelayProcess({ dataDir });
  const ca = path.join(dataDir, 'tls', 'ca.crt');
  const plainEnv = { FERRY_CONFIG: path.join(work, 'cli-ws.json'), FERRY_PASSWORD: user.password };
  const tlsEnv = { FERRY_CONFIG: path.join(work, 'cli-wss.json'), FERRY_PASSWORD: user.password };
  const login = async () => {
    for (const [env, url, extra] of [[plainEnv, relay.httpUrl, []], [tlsEnv, `https://localhost:${relay.port}`, ['--ca', ca]]] as const) {
      const r = await run(process.execPath, [FERRY_BIN, 'login', url, '--user', user.name, ...extra], env);
      if (r.code !== 0) throw new Error(r.err);
    }
  };
  await login();
  const ws: number[] = [];
  const wss: number[] = [];
  const linkHttp: number[] = [];
  const linkHttps: number[] = [];
  const bareHttps: number[] = [];
  // The relay's own CPU time per download (user + system), read from /proc.
  const cpuHttp: number[] = [];
  const cpuHttps: number[] = [];
  const cpuOf = (pid: number) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  };
  const timed = async (into: number[], cpu: number[], url: string, extra: string[] = []) => {
    const before = cpuOf(relay.child.pid!);
    into.push(await curlSeconds(url, extra));
    cpu.push(cpuOf(relay.child.pid!) - before);
  };
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const [env, into] of [[plainEnv, ws], [tlsEnv, wss]] as const) {
        console.error(`tls run ${i + 1}/${RUNS}: ferry put over ${into === ws ? 'ws' : 'wss'}`);
        into.push((await ferryPut(file, `tls${i}-${into === ws ? 'ws' : 'wss'}`, env)).seconds);
        // New content for the next upload: the relay forgets what it holds (its CA stays).
        await relay.stop();
        for (const f of ['ferry.db', 'ferry.db-wal', 'ferry.db-shm', 'chunks']) rmSync(path.join(dataDir, f), { recursive: true, force: true });
        await addUsers(dataDir, [user]);
        relay = await startRelayProcess({ dataDir, port: relay.port });
        await login();
      }
    }
    await ferryPut(file, 'shared', plainEnv);
    const made = await run(process.execPath, [FERRY_BIN, 'link', `shared/${path.basename(file)}`], plainEnv);
    if (made.code !== 0) throw new Error(made.err);
    const id = new URL(made.out.trim()).pathname;
    // A bare Node HTTPS server sending the same file with the relay's certificate: what TLS itself costs here.
    let resolvePort: (p: number) => void;
    const port = new Promise<number>((r) => (resolvePort = r));
    const tlsDir = path.join(dataDir, 'tls');
    const server = spawn(process.execPath, [path.join(ROOT, 'tests/bench/file-server.mjs'), file, path.join(tlsDir, 'server.crt'), path.join(tlsDir, 'server.key')], { stdio: ['ignore', 'pipe', 'inherit'] });
    server.stdout.on('data', (d) => resolvePort(Number(/port (\d+)/.exec(String(d))![1])));
    const bareUrl = `https://localhost:${await port}/`;
    try {
      for (let i = 0; i < RUNS; i++) {
        await timed(linkHttp, cpuHttp, `${relay.httpUrl}${id}/file`);
        await timed(linkHttps, cpuHttps, `https://localhost:${relay.port}${id}/file`, ['--cacert', ca]);
        bareHttps.push(await curlSeconds(bareUrl, ['--cacert', ca]));
      }
    } finally {
      server.kill();
    }
  } finally {
    await relay.stop();
  }
  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (s: number) => SIZE / MiB / s;
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  return [
    `| CLI upload of ${SIZE / MiB} MiB over wss (the relay's own CA) vs over ws (best of ${RUNS}; runs ${list(ws)} / ${list(wss)} s) | ${mibs(best(ws)).toFixed(1)} MiB/s | ${mibs(best(wss)).toFixed(1)} MiB/s | ${(best(ws) / best(wss)).toFixed(2)} | ≥ 0.85 |`,
    `| share-link download of ${SIZE / MiB} MiB with curl over https vs over http (best of ${RUNS}; runs ${list(linkHttp)} / ${list(linkHttps)} s) | ${mibs(best(linkHttp)).toFixed(1)} MiB/s | ${mibs(best(linkHttps)).toFixed(1)} MiB/s | ${(best(linkHttp) / best(linkHttps)).toFixed(2)} | ≥ 0.85 |`,
    `| the same link over https vs a bare Node HTTPS server (fs.createReadStream in 256 KiB reads, same certificate; runs ${list(bareHttps)} s) | ${mibs(best(bareHttps)).toFixed(1)} MiB/s | ${mibs(best(linkHttps)).toFixed(1)} MiB/s | ${(best(bareHttps) / best(linkHttps)).toFixed(2)} | — |`,
    `| the relay's CPU time per GiB of link download, http vs https (median; runs ${list(cpuHttp)} / ${list(cpuHttps)} s); at 1 Gbit/s (119 MiB/s) TLS adds ${(((median(cpuHttps) - median(cpuHttp)) / (SIZE / 2 ** 30)) * (119 / 1024) * 100).toFixed(0)} % of one core | ${(median(cpuHttp) / (SIZE / 2 ** 30)).toFixed(2)} s | ${(median(cpuHttps) / (SIZE / 2 ** 30)).toFixed(2)} s | — | — |`,
  ];
}

async function e2eReport(file: string): Promise<string[]> {
  return ['', '| end-to-end encryption | plain | encrypted | ratio | target |', '| --- | --- | --- | --- | --- |', ...(await benchE2e({ file, work, runs: RUNS, size: SIZE, settle })), ...(await benchE2eApp({ file, work, runs: RUNS, size: SIZE, settle }))];
}

async function peersReport(file: string, skipWeb: boolean): Promise<string[]> {
  const lines = [
    ...(skipWeb || process.env.BENCH_SKIP_TUS_APP === '1' ? [] : await benchAppVsTus({ file, work, runs: RUNS })),
    ...(await benchSmallFiles({ work, runs: RUNS })),
    ...(skipWeb ? [] : await benchAppSmallFiles({ work, runs: RUNS })),
    ...(await benchLatency({ work })),
    ...(await benchLoad({ work })),
  ];
  return ['', '| against the peers, and latency | peer | Ferry | ratio | target |', '| --- | --- | --- | --- | --- |', ...lines];
}

async function tlsReport(file: string, skipWeb: boolean): Promise<string[]> {
  const lines = await benchTls(file);
  if (!skipWeb) lines.push(...(await benchWebTls({ file, work, runs: RUNS })));
  return ['', '| HTTPS | over plain | over TLS | ratio | target |', '| --- | --- | --- | --- | --- |', ...lines];
}

const machine = () => `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0].model}, ${(os.totalmem() / GiB).toFixed(0)} GiB RAM, Node ${process.version}`;

async function scaleReport(file: string): Promise<string[]> {
  return ['', '| scale-out | baseline | Ferry | ratio | target |', '| --- | --- | --- | --- | --- |', ...(await benchScale({ file, work, runs: RUNS }))];
}

async function syncReport(): Promise<string[]> {
  const only = process.env.BENCH_ONLY;
  const pairs = only === 'sync-idle' ? [] : await benchSync({ work });
  const idle = only === 'sync-pair' ? [] : await benchSyncIdle({ work, files: Number(process.env.SYNC_IDLE_FILES ?? 100_000) });
  return ['', '| sync (two devices, one relay) | measured | target |', '| --- | --- | --- |', ...pairs, ...idle];
}

async function libraryReport(): Promise<string[]> {
  return ['', '| library | measured | | target |', '| --- | --- | --- | --- |', ...(await benchLibrary())];
}

async function main() {
  // The browser benches serve the built app; a fresh clone has none yet.
  await ensureWebBuilt();
  if (process.env.BENCH_ONLY === 'library') {
    const lines = await libraryReport();
    console.log(`Ferry library benchmark — ${machine()}\n`);
    console.log(lines.join('\n'));
    return;
  }
  mkdirSync(work, { recursive: true });
  if (process.env.BENCH_ONLY === 'scale') {
    try {
      const file = path.join(work, 'random-1g.bin');
      console.error(`creating ${SIZE / MiB} MiB random file`);
      makeRandomFile(file, SIZE);
      const lines = await scaleReport(file);
      console.log(`Ferry scale-out benchmark — ${machine()}\n`);
      console.log(lines.join('\n'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return;
  }
  if (['sync', 'sync-pair', 'sync-idle'].includes(process.env.BENCH_ONLY ?? '')) {
    try {
      const lines = await syncReport();
      console.log(`Ferry sync benchmark — ${machine()}\n`);
      console.log(lines.join('\n'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return;
  }
  if (process.env.BENCH_ONLY === 'peers') {
    try {
      const file = path.join(work, 'random-1g.bin');
      console.error(`creating ${SIZE / MiB} MiB random file`);
      makeRandomFile(file, SIZE);
      const lines = await peersReport(file, !hasChromium || process.env.BENCH_SKIP_WEB === '1');
      console.log(`Ferry against its peers — ${machine()}\n`);
      console.log(lines.join('\n'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return;
  }
  if (process.env.BENCH_ONLY === 'e2e') {
    try {
      const file = path.join(work, 'random-1g.bin');
      console.error(`creating ${SIZE / MiB} MiB random file`);
      makeRandomFile(file, SIZE);
      const lines = await e2eReport(file);
      console.log(`Ferry end-to-end encryption benchmark — ${machine()}\n`);
      console.log(lines.join('\n'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return;
  }
  if (process.env.BENCH_ONLY === 'tls') {
    try {
      const file = path.join(work, 'random-1g.bin');
      console.error(`creating ${SIZE / MiB} MiB random file`);
      makeRandomFile(file, SIZE);
      const lines = await tlsReport(file, !hasChromium || process.env.BENCH_SKIP_WEB === '1');
      console.log(`Ferry HTTPS benchmark — ${machine()}\n`);
      console.log(lines.join('\n'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return;
  }
  const user = { name: 'bench', password: 'bench-password', role: 'admin' as const };
  const report: string[] = [];
  try {
    const file = path.join(work, 'random-1g.bin');
    console.error(`creating ${SIZE / MiB} MiB random file`);
    makeRandomFile(file, SIZE);
    const expected = createHash('sha256').update(readFileSync(file)).digest('hex');

    // 1 + 3: throughput vs sink, and re-upload.
    const dataDir = path.join(work, 'data');
    await addUsers(dataDir, [user]);
    const relay = await startRelayProcess({ dataDir });
    const cliEnv = { FERRY_CONFIG: path.join(work, 'cli.json'), FERRY_PASSWORD: user.password };
    const login = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], cliEnv);
    if (login.code !== 0) throw new Error(login.err);
    const sink: number[] = [];
    const first: number[] = [];
    const again: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      console.error(`run ${i + 1}/${RUNS}: sink`);
      sink.push(await sinkRun(file));
      console.error(`run ${i + 1}/${RUNS}: ferry put (new content)`);
      // A fresh folder per run, and fresh content for the relay: a new relay data folder.
      const put = await ferryPut(file, `run${i}`, cliEnv);
      if (!put.out.includes(expected)) throw new Error(`hash mismatch: ${put.out}`);
      first.push(put.seconds);
      console.error(`run ${i + 1}/${RUNS}: ferry put (same content again)`);
      const re = await ferryPut(file, `run${i}-again`, cliEnv);
      if (!/sent 0\//.test(re.out)) throw new Error(`re-upload sent chunks: ${re.out}`);
      again.push(re.seconds);
      // The next run must upload new content again: drop everything this user holds.
      await relay.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await addUsers(dataDir, [user]);
      Object.assign(relay, await startRelayProcess({ dataDir, port: relay.port }));
      const relogin = await run(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], cliEnv);
      if (relogin.code !== 0) throw new Error(relogin.err);
    }
    // 7: a share link downloaded with curl vs fs.createReadStream over HTTP, same file.
    const linkLine = await benchLink(file, cliEnv);
    await relay.stop();
    const skipWeb = !hasChromium || process.env.BENCH_SKIP_WEB === '1';
    const tlsLines = await tlsReport(file, skipWeb);
    const scaleLines = await scaleReport(file);
    const syncLines = await syncReport();
    const e2eLines = await e2eReport(file);
    const peerLines = await peersReport(file, skipWeb);
    const webLines = !skipWeb ? await benchWeb({ file, work, runs: RUNS }) : [hasChromium ? '(web benchmarks skipped: BENCH_SKIP_WEB=1)' : '(web benchmarks skipped: no Chromium)'];
    const best = (xs: number[]) => Math.min(...xs);
    const mibs = (s: number) => SIZE / MiB / s;
    const ratio = mibs(best(first)) / mibs(best(sink));
    const speedup = best(first) / best(again);

    // 2: peak RSS during a 4 GiB upload.
    console.error(`creating ${BIG / MiB} MiB random file`);
    rmSync(file);
    const big = path.join(work, 'random-4g.bin');
    makeRandomFile(big, BIG);
    rmSync(dataDir, { recursive: true, force: true });
    await addUsers(dataDir, [user]);
    const relay2 = await startRelayProcess({ dataDir });
    await run(process.execPath, [FERRY_BIN, 'login', relay2.httpUrl, '--user', user.name], cliEnv);
    const baseRss = peakRss(relay2.child.pid!);
    console.error('ferry put 4 GiB');
    const bigPut = await ferryPut(big, 'big', cliEnv);
    const rss = peakRss(relay2.child.pid!);
    await relay2.stop();
    const webBig = !skipWeb ? await benchWebMemory({ bigFile: big, work }) : [];

    const fmt = (n: number, d = 1) => n.toFixed(d);
    report.push(
      `| measure | baseline | Ferry | ratio | target |`,
      `| --- | --- | --- | --- | --- |`,
      `| upload ${SIZE / MiB} MiB, CLI vs bare WebSocket sink (best of ${RUNS}) | ${fmt(mibs(best(sink)))} MiB/s | ${fmt(mibs(best(first)))} MiB/s | ${fmt(ratio, 2)} | ≥ 0.8 |`,
      `| re-upload of the same ${SIZE / MiB} MiB (all chunks held) vs first upload | ${fmt(best(first), 2)} s | ${fmt(best(again), 2)} s | ${fmt(speedup, 1)}× | ≥ 3× |`,
      `| relay peak RSS during a ${BIG / MiB} MiB upload (${fmt(BIG / MiB / bigPut.seconds)} MiB/s) | ${fmt(baseRss / 1e6, 0)} MB at start | ${fmt(rss / 1e6, 0)} MB | — | ≤ 200 MB |`,
      linkLine,
      ...webBig,
      ...webLines.filter((l) => l.startsWith('|')),
      '',
      ...webLines.filter((l) => !l.startsWith('|') && l),
      `All runs (seconds): sink ${sink.map((s) => fmt(s, 2)).join(', ')}; ferry put ${first.map((s) => fmt(s, 2)).join(', ')}; re-upload ${again.map((s) => fmt(s, 2)).join(', ')}.`,
    );
    report.push(...tlsLines);
    report.push(...scaleLines);
    report.push(...syncLines);
    report.push(...e2eLines);
    report.push(...peerLines);
    report.push(...(await libraryReport()));
    console.log(`Ferry benchmark — ${machine()}\n`);
    console.log(report.join('\n'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
