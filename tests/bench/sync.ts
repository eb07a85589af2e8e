/**
 * `ferry sync` between two devices on this machine (one relay, two CLI processes, each
 * with its own config and folder):
 * - latency: from closing a 10 MB file on A until B holds it byte-identical, 20 times;
 * - the LEFT plan's steps, timed: a 10 MB file A→B; a 500 MB file and 50 × 1 KB files
 *   added on B while A is down, A restarted until it has everything; 10 % of the 500 MB
 *   file changed on A until B is identical (with the bytes sent each way).
 */
import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
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

/** CPU time (user + system, seconds) of a process so far, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of the line; 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

const CLOCK_TICKS = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;

/**
 * Idle cost: a `ferry sync` pair over 100,000 small files (1,000 folders × 100), in sync,
 * with nothing changing: CPU and memory over a minute, the cost of the full scan it runs
 * every 30 minutes, and the time one changed file takes to reach the relay among them.
 */
export async function benchSyncIdle(opts: { work: string; files?: number }): Promise<string[]> {
  const files = opts.files ?? 100_000;
  const work = path.join(opts.work, 'sync-idle');
  mkdirSync(work, { recursive: true });
  const user = { name: 'idler', password: 'idle-password', role: 'user' as const };
  const dataDir = path.join(work, 'data');
  await addUsers(dataDir, [user]);
  const relay = await startRelayProcess({ dataDir });
  const home = path.join(work, 'device');
  const dir = path.join(home, 'folder');
  const env = { ...process.env, FERRY_CONFIG: path.join(home, 'config.json'), FERRY_PASSWORD: user.password };
  let child: ChildProcess | undefined;
  try {
    console.error(`sync idle: writing ${files} files`);
    const perFolder = 100;
    for (let i = 0; i < files / perFolder; i++) {
      mkdirSync(path.join(dir, `f${i}`), { recursive: true });
      for (let j = 0; j < perFolder; j++) writeFileSync(path.join(dir, `f${i}`, `n${j}.txt`), `file ${i}/${j}\n`);
    }
    execSync(`${JSON.stringify(process.execPath)} ${JSON.stringify(FERRY_BIN)} login ${relay.httpUrl} --user ${user.name}`, { env, stdio: 'ignore' });
    console.error('sync idle: first sync (every file sent)');
    const t0 = performance.now();
    execSync(`${JSON.stringify(process.execPath)} ${JSON.stringify(FERRY_BIN)} sync ${JSON.stringify(dir)} idle --once`, { env, stdio: 'ignore', maxBuffer: 1 << 30 });
    const firstSync = (performance.now() - t0) / 1000;

    console.error('sync idle: the pair started again, until up to date');
    let out = '';
    const started = performance.now();
    child = spawn(process.execPath, [FERRY_BIN, 'sync', dir, 'idle'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (b) => (out = (out + b).slice(-100_000)));
    child.stderr!.on('data', (b) => (out = (out + b).slice(-100_000)));
    const pid = child.pid!;
    const statusDir = path.join(home, 'sync');
    const upToDate = () => {
      for (const name of existsSync(statusDir) ? readdirSync(statusDir) : []) {
        if (!name.endsWith('.json')) continue;
        try {
          const s = JSON.parse(readFileSync(path.join(statusDir, name), 'utf8')) as { pid: number; status: { state: string; lastSyncAt?: number } };
          if (s.pid === pid && s.status.state === 'up to date' && s.status.lastSyncAt) return s.status.lastSyncAt;
        } catch {
          // being rewritten
        }
      }
      return undefined;
    };
    const deadline = Date.now() + 600_000;
    let firstRound: number | undefined;
    while (!(firstRound = upToDate())) {
      if (Date.now() > deadline) throw new Error(`the pair did not get up to date:\n${out}`);
      await sleep(100);
    }
    const startupSeconds = (performance.now() - started) / 1000;
    const startupCpu = cpuSeconds(pid);
    await sleep(2000);

    console.error('sync idle: one minute with nothing changing');
    const cpu0 = cpuSeconds(pid);
    const w0 = performance.now();
    await sleep(60_000);
    const idleCpu = (cpuSeconds(pid) - cpu0) / ((performance.now() - w0) / 1000);
    const rss = rssMiB(pid, 'VmRSS');
    const peak = rssMiB(pid, 'VmHWM');

    console.error('sync idle: one file changed among them');
    const cpu1 = cpuSeconds(pid);
    const changedAt = Date.now();
    writeFileSync(path.join(dir, 'f7', 'n7.txt'), 'changed\n');
    const seen = performance.now();
    while (!((upToDate() ?? 0) > changedAt && /sent f7\/n7\.txt/.test(out))) {
      if (performance.now() - seen > 120_000) throw new Error(`the change was not sent:\n${out.slice(-2000)}`);
      await sleep(20);
    }
    const oneChange = (performance.now() - seen) / 1000;
    const roundCpu = cpuSeconds(pid) - cpu1;
    // The full round every 30 minutes costs about what the first round after the start did.
    const fullScanShare = startupCpu / FULL_SCAN_EVERY_S;
    const n = files.toLocaleString('en');
    return [
      `| first sync of ${n} small files (every one sent) | ${firstSync.toFixed(0)} s (${(files / firstSync).toFixed(0)} files/s) | — |`,
      `| the pair started again over ${n} files in sync, until up to date (scan + tree + compare) | ${startupSeconds.toFixed(1)} s, ${startupCpu.toFixed(1)} s CPU | — |`,
      `| idle, watching ${n} files, nothing changing (60 s) | ${(idleCpu * 100).toFixed(2)} % of a core; RSS ${rss.toFixed(0)} MiB (peak ${peak.toFixed(0)} MiB) | < 1 % of a core, < 200 MB |`,
      `| one file changed among ${n}: written until sent | ${oneChange.toFixed(2)} s, ${roundCpu.toFixed(2)} s CPU | — |`,
      `| the round over everything every ${FULL_SCAN_EVERY_S / 60} min (as costly as the start's) | ${(fullScanShare * 100).toFixed(2)} % of a core on average | — |`,
    ];
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await relay.stop();
  }
}

/** `ferry sync`'s default full scan period (relay/cli/sync-command.ts FULL_SCAN_S). */
const FULL_SCAN_EVERY_S = 1800;
