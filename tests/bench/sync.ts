/**
 * `ferry sync` between two devices on this machine (one relay, two CLI processes, each
 * with its own config and folder):
 * - latency: from closing a 10 MB file on A until B holds it byte-identical, 20 times;
 * - the LEFT plan's steps, timed: a 10 MB file A→B; a 500 MB file and 50 × 1 KB files
 *   added on B while A is down, A restarted until it has everything; 10 % of the 500 MB
 *   file changed on A until B is identical (with the bytes sent each way).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FERRY_BIN, addUsers, startRelayProcess } from '../helpers/relay.js';
import { fileSha256 } from '../helpers/files.js';

const MB = 1_000_000;

const sha = fileSha256;

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls (every 2 ms) until `file` under B has A's size, time and bytes; resolves with when. */
async function arrival(file: string, like: string, timeoutMs = 600_000): Promise<number> {
  const want = statSync(like);
  const deadline = Date.now() + timeoutMs;
  let hashOfA: string | undefined;
  for (;;) {
    const s = existsSync(file) ? statSync(file) : undefined;
    if (s && s.size === want.size && Math.floor(s.mtimeMs) === Math.floor(want.mtimeMs)) {
      const at = performance.now();
      hashOfA ??= sha(like);
      if (sha(file) === hashOfA) return at;
    }
    if (Date.now() > deadline) throw new Error(`${file} did not arrive`);
    await sleep(2);
  }
}

export async function benchSync(opts: { work: string }): Promise<string[]> {
  const work = path.join(opts.work, 'sync');
  mkdirSync(work, { recursive: true });
  const user = { name: 'syncer', password: 'sync-password', role: 'user' as const };
  const dataDir = path.join(work, 'data');
  await addUsers(dataDir, [user]);
  const relay = await startRelayProcess({ dataDir });
  const devices = ['a', 'b'].map((name) => {
    const home = path.join(work, name);
    mkdirSync(path.join(home, 'folder'), { recursive: true });
    return { name, dir: path.join(home, 'folder'), env: { FERRY_CONFIG: path.join(home, 'config.json'), FERRY_PASSWORD: user.password }, child: undefined as ChildProcess | undefined, out: '' };
  });
  const children: ChildProcess[] = [];
  const startSync = (d: (typeof devices)[number]) => {
    d.out = '';
    const child = spawn(process.execPath, [FERRY_BIN, 'sync', d.dir, 'bench', '--device', d.name], { env: { ...process.env, ...d.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (b) => (d.out += b));
    child.stderr!.on('data', (b) => (d.out += b));
    children.push(child);
    d.child = child;
  };
  const stopSync = async (d: (typeof devices)[number]) => {
    const c = d.child!;
    if (c.exitCode === null && c.signalCode === null) {
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    }
  };
  const [A, B] = devices;
  try {
    for (const d of devices) {
      const r = await new Promise<number | null>((resolve) => {
        const c = spawn(process.execPath, [FERRY_BIN, 'login', relay.httpUrl, '--user', user.name], { env: { ...process.env, ...d.env }, stdio: 'ignore' });
        c.on('exit', resolve);
      });
      if (r !== 0) throw new Error('login failed');
    }
    startSync(A);
    startSync(B);
    // Both pairs up and idle.
    await sleep(3000);

    // Latency of one 10 MB file, 20 times.
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      console.error(`sync: 10 MB file ${i + 1}/20`);
      const file = path.join(A.dir, `ten-${i}.bin`);
      const fd = openSync(file, 'w');
      writeSync(fd, randomBytes(10 * MB));
      closeSync(fd);
      const closed = performance.now();
      const at = await arrival(path.join(B.dir, `ten-${i}.bin`), file, 60_000).catch((err) => {
        throw new Error(`${err}\nA:\n${A.out.slice(-2000)}\nB:\n${B.out.slice(-2000)}`);
      });
      latencies.push(at - closed);
      await sleep(300);
    }

    // LEFT TC_2A + TC_FA: B adds 500 MB and 50 × 1 KB while A is down; A restarted.
    console.error('sync: 500 MB + 50 small files on B while A is down');
    await stopSync(A);
    const big = path.join(B.dir, 'big.bin');
    {
      const block = randomBytes(64 * MB);
      const fd = openSync(big, 'w');
      for (let at = 0; at < 500 * MB; at += 4 * MB) {
        const piece = Buffer.from(block.subarray(at % (60 * MB), (at % (60 * MB)) + Math.min(4 * MB, 500 * MB - at)));
        piece.writeUInt32BE(at / (4 * MB), 0);
        writeSync(fd, piece, 0, piece.length, at);
      }
      closeSync(fd);
    }
    mkdirSync(path.join(B.dir, 'small'));
    for (let i = 0; i < 50; i++) writeFileSync(path.join(B.dir, 'small', `s${i}.txt`), randomBytes(1000));
    // Until the relay has it all (B's upload), then A is started.
    const bDone = performance.now();
    await waitForLine(B, /sent big\.bin/);
    const bUpload = performance.now() - bDone;
    const aStart = performance.now();
    startSync(A);
    await arrival(path.join(A.dir, 'big.bin'), big);
    for (let i = 0; i < 50; i++) await arrival(path.join(A.dir, 'small', `s${i}.txt`), path.join(B.dir, 'small', `s${i}.txt`));
    const restartCatchUp = performance.now() - aStart;

    // LEFT TC_2B: 10 % of the 500 MB file changed on A until B is identical.
    console.error('sync: 10 % of the 500 MB file changed on A');
    await sleep(1000);
    A.out = '';
    B.out = '';
    {
      const fd = openSync(path.join(A.dir, 'big.bin'), 'r+');
      writeSync(fd, randomBytes(50 * MB), 0, 50 * MB, 200 * MB);
      closeSync(fd);
    }
    const changed = performance.now();
    await arrival(path.join(B.dir, 'big.bin'), path.join(A.dir, 'big.bin'));
    const deltaTime = performance.now() - changed;
    await waitForLine(B, /fetched big\.bin/);
    const sent = Number(/sent big\.bin \((\d+) bytes/.exec(A.out)?.[1] ?? NaN);
    const fetched = Number(/fetched big\.bin \((\d+) bytes/.exec(B.out)?.[1] ?? NaN);

    const ms = (x: number) => `${Math.round(x)} ms`;
    const s = (x: number) => `${(x / 1000).toFixed(2)} s`;
    return [
      `| 10 MB file closed on A until byte-identical on B (20 runs) | p50 ${ms(percentile(latencies, 50))}, p95 ${ms(percentile(latencies, 95))} (all: ${latencies.map((x) => Math.round(x)).join(', ')}) | p50 < 500 ms |`,
      `| LEFT TC_1B: 10 MB A → B | ${ms(percentile(latencies, 50))} (p50 above) | < 0.18 s |`,
      `| LEFT TC_2A + TC_FA: 500 MB + 50 × 1 KB added on B (B sent them in ${s(bUpload)}), A restarted until it has everything | ${s(restartCatchUp)} | < 5.7 s |`,
      `| LEFT TC_2B: 10 % (50 MB) of the 500 MB file changed on A until identical on B | ${s(deltaTime)}; sent ${(sent / MB).toFixed(1)} MB, fetched ${(fetched / MB).toFixed(1)} MB | < 4.4 s |`,
    ];
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await relay.stop();
  }
}

async function waitForLine(d: { out: string }, re: RegExp, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(d.out)) {
    if (Date.now() > deadline) throw new Error(`no ${re} in:\n${d.out.slice(-2000)}`);
    await sleep(5);
  }
}
