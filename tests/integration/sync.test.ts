/**
 * `ferry sync` between devices on one machine: real relay, real CLI processes, real
 * folders. Each device is its own CLI config (its own session and sync state).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync, closeSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../helpers/cli.js';
import { fileSha256, folderTree as tree } from '../helpers/files.js';
import { ADMIN, ALICE, BOB, FERRY_BIN, signIn, standardRelay, waitFor } from '../helpers/relay.js';
import { partFiles } from '../../relay/sync/node-local.js';
import type { FerryClient } from '../../relay/client/index.js';

let env: Awaited<ReturnType<typeof standardRelay>>;
let alice: FerryClient;

beforeAll(async () => {
  env = await standardRelay();
  alice = await signIn(env.relay, ALICE.name, ALICE.password);
});
afterAll(async () => {
  for (const d of running) d.kill('SIGKILL');
  alice?.close();
  await env?.close();
});

const running = new Set<ChildProcess>();

interface Device {
  name: string;
  dir: string;
  env: Record<string, string>;
}

async function device(name: string, remote: string): Promise<Device & { remote: string }> {
  const home = path.join(env.tmp, `device-${name}-${remote.replace(/\W/g, '_')}`);
  const dir = path.join(home, 'folder');
  mkdirSync(dir, { recursive: true });
  const dEnv = { FERRY_CONFIG: path.join(home, 'config.json'), FERRY_PASSWORD: ALICE.password };
  const r = await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: dEnv });
  expect(r.code, r.stderr).toBe(0);
  return { name, dir, env: dEnv, remote };
}

/** One round of `ferry sync --once`. */
async function once(d: Device & { remote: string }, extra: string[] = []) {
  const r = await ferry(['sync', d.dir, d.remote, '--device', d.name, '--once', ...extra], { env: d.env });
  return r;
}

/** A `ferry sync` that keeps running; its output is collected. */
function start(d: Device & { remote: string }): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [FERRY_BIN, 'sync', d.dir, d.remote, '--device', d.name], { env: { ...process.env, ...d.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let text = '';
  child.stdout!.on('data', (b) => (text += b));
  child.stderr!.on('data', (b) => (text += b));
  return {
    child,
    output: () => text,
    stop: () =>
      new Promise<void>((resolve) => {
        running.delete(child);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

const sha = fileSha256;

/** Bytes [at, at + n) of a file. */
function range(file: string, at: number, n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync(file, 'r');
  try {
    return buf.subarray(0, readSync(fd, buf, 0, n, at));
  } finally {
    closeSync(fd);
  }
}

/** Writes a file as an editor would, with an mtime in the past so it counts as settled. */
function put(file: string, data: Uint8Array | string, ageMs = 5000): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  const t = new Date(Date.now() - ageMs);
  utimesSync(file, t, t);
}

describe('two devices, one round at a time', () => {
  it('sends a new file, an empty folder and a folder of small files, keeping modification times', async () => {
    const a = await device('laptop', 'rounds');
    const b = await device('desk', 'rounds');
    const data = randomBytes(10 * 1024 * 1024);
    put(path.join(a.dir, 'big.bin'), data);
    mkdirSync(path.join(a.dir, 'empty'));
    for (let i = 0; i < 50; i++) put(path.join(a.dir, 'small', `f${i}.txt`), randomBytes(1024));
    expect((await once(a)).code).toBe(0);
    expect((await once(b)).code).toBe(0);
    expect(tree(b.dir)).toEqual(tree(a.dir));
    expect(Math.floor(statSync(path.join(b.dir, 'big.bin')).mtimeMs)).toBe(Math.floor(statSync(path.join(a.dir, 'big.bin')).mtimeMs));
    expect(existsSync(path.join(b.dir, 'empty'))).toBe(true);
    // Nothing changed: a second round on both moves nothing.
    const again = await once(a);
    expect(again.stdout).not.toMatch(/sent|fetched/);
  });

  it('a 10 % change of a big file moves about 10 % of it, both ways', async () => {
    const a = await device('laptop', 'delta');
    const b = await device('desk', 'delta');
    const size = 64 * 1024 * 1024;
    const data = randomBytes(size);
    put(path.join(a.dir, 'video.bin'), data, 10_000);
    expect((await once(a)).code).toBe(0);
    expect((await once(b)).code).toBe(0);
    // 10 % of the bytes, in place, in the middle.
    const fd = openSync(path.join(a.dir, 'video.bin'), 'r+');
    const tenth = Math.floor(size / 10);
    writeSync(fd, randomBytes(tenth), 0, tenth, size / 2);
    closeSync(fd);
    const t = new Date(Date.now() - 5000);
    utimesSync(path.join(a.dir, 'video.bin'), t, t);
    const up = await once(a);
    const sent = Number(/sent video\.bin \((\d+) bytes/.exec(up.stdout)?.[1]);
    const down = await once(b);
    const fetched = Number(/fetched video\.bin \((\d+) bytes/.exec(down.stdout)?.[1]);
    expect(sha(path.join(b.dir, 'video.bin'))).toBe(sha(path.join(a.dir, 'video.bin')));
    // Chunks are 4 MiB: the change touches two of sixteen, each way.
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(0.15 * size);
    expect(fetched).toBeLessThanOrEqual(0.15 * size);
  });

  it('the same file edited on two devices offline: both versions kept, marked, one conflict copy on each', async () => {
    const a = await device('laptop', 'conflict');
    const b = await device('desk', 'conflict');
    put(path.join(a.dir, 'report.txt'), 'first draft\n');
    await once(a);
    await once(b);
    put(path.join(a.dir, 'report.txt'), 'laptop edit\n', 4000);
    put(path.join(b.dir, 'report.txt'), 'desk edit, longer\n', 3000);
    expect((await once(a)).code).toBe(0);
    const r = await once(b);
    expect(r.stdout).toMatch(/conflict: report\.txt/);
    await once(a);
    const ta = tree(a.dir);
    expect(tree(b.dir)).toEqual(ta);
    const names = Object.keys(ta).sort();
    expect(names).toHaveLength(2);
    const copy = names.find((n) => n.startsWith('report (conflict from desk '))!;
    expect(copy).toMatch(/^report \(conflict from desk \d{4}-\d\d-\d\d \d\d\.\d\d\)\.txt$/);
    expect(readFileSync(path.join(a.dir, 'report.txt'), 'utf8')).toBe('laptop edit\n');
    expect(readFileSync(path.join(a.dir, copy), 'utf8')).toBe('desk edit, longer\n');
    // The relay's history of report.txt has the desk's write, marked.
    const h = await alice.request('history', { path: 'conflict/report.txt' });
    expect(h.versions.find((v) => v.conflict === 'desk')).toBeTruthy();
    expect(h.versions.find((v) => v.current)!.conflict).toBeUndefined();

    // Resolved in one action (keep the desk's): the file gets that content as its newest
    // version, the copy goes to the trash, and both devices follow.
    const done = await alice.request('conflict.resolve', { path: `conflict/${copy}`, keep: 'copy' });
    expect(done.kept).toEqual(['conflict/report.txt']);
    await once(a);
    await once(b);
    for (const d of [a, b]) {
      expect(Object.keys(tree(d.dir))).toEqual(['report.txt']);
      expect(readFileSync(path.join(d.dir, 'report.txt'), 'utf8')).toBe('desk edit, longer\n');
    }
    const after = await alice.request('history', { path: 'conflict/report.txt' });
    expect(after.versions.length).toBe(h.versions.length + 1);
    expect((await alice.request('trash.list', {})).items.some((t) => t.path === `conflict/${copy}`)).toBe(true);
    // Not a conflict copy: refused, nothing changed.
    await expect(alice.request('conflict.resolve', { path: 'conflict/report.txt', keep: 'copy' })).rejects.toMatchObject({ code: 'BAD_MESSAGE' });
  });

  it('a conflict kept both ways: the copy gets an ordinary name on every device', async () => {
    const a = await device('laptop', 'keepboth');
    const b = await device('desk', 'keepboth');
    put(path.join(a.dir, 'plan.txt'), 'one\n');
    await once(a);
    await once(b);
    put(path.join(a.dir, 'plan.txt'), 'laptop\n', 4000);
    put(path.join(b.dir, 'plan.txt'), 'desk\n', 3000);
    await once(a);
    await once(b);
    const copy = Object.keys(tree(b.dir)).find((n) => n.includes('(conflict from desk'))!;
    expect((await alice.request('conflict.resolve', { path: `keepboth/${copy}`, keep: 'both' })).kept).toEqual(['keepboth/plan.txt', 'keepboth/plan_v2.txt']);
    await once(a);
    await once(b);
    for (const d of [a, b]) expect(tree(d.dir)).toEqual({ 'plan.txt': sha(path.join(a.dir, 'plan.txt')), 'plan_v2.txt': sha(path.join(b.dir, 'plan_v2.txt')) });
    expect(readFileSync(path.join(a.dir, 'plan_v2.txt'), 'utf8')).toBe('desk\n');
  });

  it('edited here, deleted there: the edit comes back instead of being lost', async () => {
    const a = await device('laptop', 'editdelete');
    const b = await device('desk', 'editdelete');
    put(path.join(a.dir, 'plan.txt'), 'v1\n');
    await once(a);
    await once(b);
    rmSync(path.join(a.dir, 'plan.txt'));
    put(path.join(b.dir, 'plan.txt'), 'v2 from desk\n', 3000);
    await once(a); // deletes on the relay (to its trash)
    const r = await once(b); // the desk's edit brings it back
    expect(r.stdout).toMatch(/conflict: plan\.txt was deleted on the relay/);
    await once(a);
    expect(readFileSync(path.join(a.dir, 'plan.txt'), 'utf8')).toBe('v2 from desk\n');
    // …and the other way round: deleted here, edited there → the edit wins here too.
    put(path.join(a.dir, 'plan.txt'), 'v3 from laptop\n', 2000);
    rmSync(path.join(b.dir, 'plan.txt'));
    await once(a);
    await once(b);
    expect(readFileSync(path.join(b.dir, 'plan.txt'), 'utf8')).toBe('v3 from laptop\n');
  });

  it('a rename is sent as a move, not as a new upload', async () => {
    const a = await device('laptop', 'moves');
    const b = await device('desk', 'moves');
    put(path.join(a.dir, 'old name.bin'), randomBytes(2 * 1024 * 1024));
    await once(a);
    await once(b);
    const { renameSync } = await import('node:fs');
    mkdirSync(path.join(a.dir, 'sub'));
    renameSync(path.join(a.dir, 'old name.bin'), path.join(a.dir, 'sub', 'new name.bin'));
    const up = await once(a);
    expect(up.stdout).toMatch(/moved old name\.bin → sub\/new name\.bin on the relay/);
    expect(up.stdout).not.toMatch(/sent/);
    const h = await alice.request('history', { path: 'moves/sub/new name.bin' });
    expect(h.versions).toHaveLength(1);
    const down = await once(b);
    expect(down.stdout).toMatch(/moved old name\.bin → sub\/new name\.bin here/);
    expect(down.stdout).not.toMatch(/fetched/);
    expect(tree(b.dir)).toEqual(tree(a.dir));
  });

  it('ignore rules: .ferryignore (synced) and system junk stay local, and status counts them', async () => {
    const a = await device('laptop', 'ignores');
    const b = await device('desk', 'ignores');
    put(path.join(a.dir, '.ferryignore'), 'build/\n*.log\n');
    put(path.join(a.dir, 'build', 'out.o'), 'x');
    put(path.join(a.dir, 'debug.log'), 'x');
    put(path.join(a.dir, '.DS_Store'), 'x');
    put(path.join(a.dir, '~$report.docx'), 'x');
    put(path.join(a.dir, 'keep.txt'), 'kept');
    await once(a);
    await once(b);
    expect(Object.keys(tree(b.dir)).sort()).toEqual(['.ferryignore', 'keep.txt']);
    // The desk follows the synced rules too.
    put(path.join(b.dir, 'local.log'), 'x');
    await once(b);
    const st = await ferry(['sync', 'status', '--json'], { env: b.env });
    const mine = (JSON.parse(st.stdout) as { local: string; status: { ignored: number } }[]).find((s) => s.local === b.dir)!;
    expect(mine.status.ignored).toBe(1);
    const listing = await alice.request('tree', { folder: 'ignores' });
    expect(listing.entries.map((e) => e.path).sort()).toEqual(['ignores/.ferryignore', 'ignores/keep.txt']);
  });
});

describe('names other systems cannot hold', () => {
  it('a Windows folder skips case twins, reserved names and forbidden characters, reports them, and deletes nothing', async () => {
    const a = await device('linuxbox', 'names');
    const w = await device('winbox', 'names');
    for (const n of ['Report.txt', 'report.txt', 'CON.txt', 'a:b.txt', 'dot.', 'fine.txt', 'sub/Aux', 'sub/ok.txt']) put(path.join(a.dir, ...n.split('/')), n);
    await once(a);
    const r = await once(w, ['--names', 'windows']);
    expect(r.code, r.stderr).toBe(0);
    // Of the twins the first in order stays (upper case sorts first); the rest is skipped.
    expect(Object.keys(tree(w.dir)).sort()).toEqual(['Report.txt', 'fine.txt', 'sub/', 'sub/ok.txt']);
    const st = await ferry(['sync', 'status', '--json'], { env: w.env });
    const mine = (JSON.parse(st.stdout) as { local: string; status: { skipped: { path: string; why: string }[] } }[]).find((s) => s.local === w.dir)!;
    expect(mine.status.skipped.map((s) => s.path).sort()).toEqual(['CON.txt', 'a:b.txt', 'dot.', 'report.txt', 'sub/Aux']);
    expect(mine.status.skipped.find((s) => s.path === 'report.txt')!.why).toMatch(/only in letter case/);
    expect(mine.status.skipped.find((s) => s.path === 'CON.txt')!.why).toMatch(/reserved/);
    // An edit on the Windows side still goes; nothing was deleted on the relay, and the
    // Linux side keeps every name.
    put(path.join(w.dir, 'Report.txt'), 'edited on windows', 5000);
    await once(w, ['--names', 'windows']);
    await once(a);
    const listing = (await alice.request('tree', { folder: 'names' })).entries.filter((e) => e.kind === 'file').map((e) => e.path).sort();
    expect(listing).toEqual(['names/CON.txt', 'names/Report.txt', 'names/a:b.txt', 'names/dot.', 'names/fine.txt', 'names/report.txt', 'names/sub/Aux', 'names/sub/ok.txt']);
    expect(readFileSync(path.join(a.dir, 'Report.txt'), 'utf8')).toBe('edited on windows');
    expect(readFileSync(path.join(a.dir, 'report.txt'), 'utf8')).toBe('report.txt');
  });

  it('detects a case-insensitive folder by probing it (this one is not)', async () => {
    const { NodeLocalTree } = await import('../../relay/sync/node-local.js');
    const dir = path.join(env.tmp, 'probe-case');
    mkdirSync(dir, { recursive: true });
    expect(await new NodeLocalTree(dir).caseInsensitive()).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('when the local folder looks empty', () => {
  it('a missing marker (a drive not mounted) pauses the pair; nothing is deleted on the relay', async () => {
    const a = await device('laptop', 'unmounted');
    for (let i = 0; i < 10; i++) put(path.join(a.dir, `doc${i}.txt`), `doc ${i}`);
    await once(a);
    rmSync(a.dir, { recursive: true, force: true });
    mkdirSync(a.dir);
    const r = await once(a);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SYNC_PAUSED: .*no \.ferry-sync file/);
    expect((await alice.request('tree', { folder: 'unmounted' })).entries).toHaveLength(10);
    const st = await ferry(['sync', 'status'], { env: a.env });
    expect(st.stdout).toMatch(/paused.*\n\s+why: .*no \.ferry-sync file/);
  });

  it('deleting most files pauses and asks; ferry sync resume lets it go on, to the trash', async () => {
    const a = await device('laptop', 'massdelete');
    for (let i = 0; i < 10; i++) put(path.join(a.dir, `doc${i}.txt`), `doc ${i}`);
    await once(a);
    for (let i = 0; i < 8; i++) rmSync(path.join(a.dir, `doc${i}.txt`));
    const r = await once(a);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/SYNC_PAUSED: 8 of 10 files/);
    expect((await alice.request('tree', { folder: 'massdelete' })).entries).toHaveLength(10);
    expect((await ferry(['sync', 'resume', a.dir], { env: a.env })).code).toBe(0);
    expect((await once(a)).code).toBe(0);
    expect((await alice.request('tree', { folder: 'massdelete' })).entries).toHaveLength(2);
    const trash = await alice.request('trash.list', {});
    expect(trash.items.filter((t) => t.path.startsWith('massdelete/')).length).toBe(8);
  });
});

describe('two devices syncing continuously: the LEFT test plan', () => {
  const BIG = Number(process.env.SYNC_LEFT_BYTES ?? 500 * 1024 * 1024);
  it('10 MB A → B; 500 MB and 50 × 1 KB added on B while A is down, A restarted has them; 10 % of the big file changed on A reaches B moving ≤ 15 % each way', async () => {
    const a = await device('laptop', 'live');
    const b = await device('desk', 'live');
    let pa = start(a);
    const pb = start(b);
    try {
      const data = randomBytes(10 * 1024 * 1024);
      writeFileSync(path.join(a.dir, 'ten.bin'), data);
      await waitFor(() => (existsSync(path.join(b.dir, 'ten.bin')) && sha(path.join(b.dir, 'ten.bin')) === sha(path.join(a.dir, 'ten.bin')) ? true : undefined), 30_000);
      await pa.stop();
      // While the laptop is down, the desk adds a big file and a folder of small ones.
      const fd = openSync(path.join(b.dir, 'big.bin'), 'w');
      for (let at = 0; at < BIG; at += 16 * 1024 * 1024) writeSync(fd, randomBytes(Math.min(16 * 1024 * 1024, BIG - at)));
      closeSync(fd);
      for (let i = 0; i < 50; i++) put(path.join(b.dir, 'many', `n${i}.txt`), randomBytes(1024), 0);
      await waitFor(async () => ((await alice.request('tree', { folder: 'live' })).entries.length >= 53 ? true : undefined), 120_000);
      await waitFor(async () => ((await alice.request('tree', { folder: 'live' })).entries.find((e) => e.path === 'live/big.bin')?.size === BIG ? true : undefined), 120_000);
      pa = start(a);
      await waitFor(() => (JSON.stringify(tree(a.dir)) === JSON.stringify(tree(b.dir)) ? true : undefined), 120_000);
      expect(await partFiles(a.dir)).toEqual([]);

      // 10 % of the big file, in place, in the middle, on the laptop.
      const before = { a: pa.output().length, b: pb.output().length };
      const tenth = Math.floor(BIG / 10);
      const w = openSync(path.join(a.dir, 'big.bin'), 'r+');
      writeSync(w, randomBytes(tenth), 0, tenth, Math.floor(BIG / 2));
      closeSync(w);
      const wanted = sha(path.join(a.dir, 'big.bin'));
      await waitFor(() => (existsSync(path.join(b.dir, 'big.bin')) && statSync(path.join(b.dir, 'big.bin')).size === BIG && sha(path.join(b.dir, 'big.bin')) === wanted ? true : undefined), 120_000);
      const sent = [...pa.output().slice(before.a).matchAll(/sent big\.bin \((\d+) bytes/g)].reduce((n, m) => n + Number(m[1]), 0);
      const fetched = [...pb.output().slice(before.b).matchAll(/fetched big\.bin \((\d+) bytes/g)].reduce((n, m) => n + Number(m[1]), 0);
      expect(sent).toBeGreaterThanOrEqual(tenth);
      expect(sent).toBeLessThanOrEqual(0.15 * BIG);
      expect(fetched).toBeGreaterThanOrEqual(tenth);
      expect(fetched).toBeLessThanOrEqual(0.15 * BIG);
    } finally {
      await pa.stop();
      await pb.stop();
    }
  }, 300_000);
});

describe('status while syncing', () => {
  it('ferry sync status shows files, bytes, speed and time left during a transfer, then up to date', async () => {
    const a = await device('laptop', 'progress');
    const p = start(a);
    try {
      const fd = openSync(path.join(a.dir, 'large.bin'), 'w');
      for (let i = 0; i < 32; i++) writeSync(fd, randomBytes(8 * 1024 * 1024));
      closeSync(fd);
      const during = await waitFor(async () => {
        const st = await ferry(['sync', 'status'], { env: a.env });
        return /syncing\n\s+1 files, [\d.]+ MiB of 256\.0 MiB, [\d.]+ MiB\/s, about \d+ s left/.test(st.stdout) ? st.stdout : undefined;
      }, 60_000);
      expect(during).toContain('[two-way]');
      await waitFor(async () => (/: up to date/.test((await ferry(['sync', 'status'], { env: a.env })).stdout) ? true : undefined), 60_000);
    } finally {
      await p.stop();
    }
  }, 120_000);
});

describe('three devices', () => {
  const BIG = Number(process.env.SYNC_BIG_BYTES ?? 2 * 1024 ** 3);
  const CHUNK = 4 * 1024 * 1024;

  /** A big file of distinct chunks, written fast (one random block, each chunk marked). */
  function writeBig(file: string, size: number): void {
    const block = randomBytes(64 * 1024 * 1024);
    const fd = openSync(file, 'w');
    for (let at = 0; at < size; at += CHUNK) {
      const piece = Buffer.from(block.subarray(at % block.length, (at % block.length) + Math.min(CHUNK, size - at)));
      piece.writeUInt32BE(at / CHUNK, 0);
      writeSync(fd, piece, 0, piece.length, at);
    }
    closeSync(fd);
  }

  it('a big file added on B reaches C while A is killed mid-download; A resumes fetching only what it lacked; folders and later changes reach all', async () => {
    const [a, b, c] = await Promise.all([device('alpha', 'three'), device('beta', 'three'), device('gamma', 'three')]);
    let pa = start(a);
    const pb = start(b);
    const pc = start(c);
    try {
      writeBig(path.join(b.dir, 'big.bin'), BIG);
      const want = sha(path.join(b.dir, 'big.bin'));
      // A is killed while its download of the big file is under way.
      const part = path.join(a.dir, '.big.bin.ferry-part');
      await waitFor(() => (existsSync(part) && statSync(part).size >= BIG / 4 ? true : undefined), 300_000);
      await pa.stop();
      await waitFor(() => (existsSync(path.join(c.dir, 'big.bin')) && statSync(path.join(c.dir, 'big.bin')).size === BIG ? true : undefined), 300_000);
      expect(sha(path.join(c.dir, 'big.bin'))).toBe(want);
      // What A holds of it: the chunks of the part file that are right.
      const heldSize = statSync(part).size;
      let kept = 0;
      for (let at = 0; at < BIG; at += CHUNK) {
        const n = Math.min(CHUNK, BIG - at);
        if (heldSize >= at + n && range(part, at, n).equals(range(path.join(b.dir, 'big.bin'), at, n))) kept += n;
      }
      expect(kept).toBeGreaterThan(0);
      pa = start(a);
      await waitFor(() => (/fetched big\.bin/.test(pa.output()) ? true : undefined), 300_000);
      expect(sha(path.join(a.dir, 'big.bin'))).toBe(want);
      const fetched = Number(/fetched big\.bin \((\d+) bytes/.exec(pa.output())![1]);
      expect(fetched).toBeLessThanOrEqual(BIG - kept + CHUNK);
      // A folder with a subfolder made on A, and a file changed on C, reach everyone.
      put(path.join(a.dir, 'photos', '2026', 'beach.jpg'), randomBytes(300_000), 2000);
      mkdirSync(path.join(a.dir, 'photos', 'empty'));
      put(path.join(c.dir, 'notes.txt'), 'from gamma', 2000);
      const same = () => {
        // The big file was compared above; hashing 2 GiB three times per look is not needed.
        const ta = JSON.stringify(tree(a.dir, ['big.bin']));
        return ta === JSON.stringify(tree(b.dir, ['big.bin'])) && ta === JSON.stringify(tree(c.dir, ['big.bin'])) && existsSync(path.join(b.dir, 'photos', 'empty')) && existsSync(path.join(a.dir, 'notes.txt')) ? true : undefined;
      };
      await waitFor(same, 60_000);
      put(path.join(c.dir, 'notes.txt'), 'from gamma, changed', 0);
      await waitFor(() => (readFileSync(path.join(a.dir, 'notes.txt'), 'utf8') === 'from gamma, changed' && readFileSync(path.join(b.dir, 'notes.txt'), 'utf8') === 'from gamma, changed' ? true : undefined), 30_000);
      expect(await partFiles(a.dir)).toEqual([]);
    } finally {
      await pa.stop();
      await pb.stop();
      await pc.stop();
    }
  }, 900_000);
});


describe('devices', () => {
  it('a sync client shows in the device list with its folder and state; revoking it signs it out everywhere and stops it', async () => {
    const d = await device('study', 'DevicesFolder');
    writeFileSync(path.join(d.dir, 'a.txt'), 'a');
    const run = start(d);
    try {
      const mine = async () => (await alice.request('device.list', {})).devices.find((x) => x.name === 'study' && !x.revoked);
      await waitFor(async () => ((await mine())?.sync[0]?.state === 'up to date' ? true : undefined), 30_000);
      const desk = (await mine())!;
      expect(desk.kind).toBe('cli');
      expect(desk.sync).toEqual([expect.objectContaining({ local: d.dir, remote: 'DevicesFolder', mode: 'two-way', state: 'up to date', conflicts: 0 })]);
      expect(desk.lastSeenAt).toBeGreaterThan(Date.now() - 60_000);
      expect(desk.current).toBe(false);
      // The CLI lists the same.
      const listed = await ferry(['devices'], { env: d.env });
      expect(listed.stdout).toContain(desk.id);
      expect(listed.stdout).toContain(`${d.dir} ⇄ DevicesFolder  up to date`);

      // Someone else cannot revoke it; its owner can, and the running client stops at once.
      const bob = await signIn(env.relay, BOB.name, BOB.password);
      try {
        await expect(bob.request('device.revoke', { device: desk.id })).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await expect(bob.request('device.list', { all: true })).rejects.toMatchObject({ code: 'FORBIDDEN' });
        expect((await bob.request('device.list', {})).devices.some((x) => x.id === desk.id)).toBe(false);
      } finally {
        bob.close();
      }
      const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
      try {
        expect((await admin.request('device.list', { all: true })).devices.find((x) => x.id === desk.id)?.user).toBe(ALICE.name);
      } finally {
        admin.close();
      }
      const r = await alice.request('device.revoke', { device: desk.id });
      expect(r.endedSessions).toBeGreaterThanOrEqual(1);
      await waitFor(() => (run.child.exitCode !== null ? true : undefined), 30_000);
      expect(run.child.exitCode).not.toBe(0);
      expect(run.output()).toMatch(/SESSION_EXPIRED|signed out|session/i);
      expect((await alice.request('device.list', {})).devices.find((x) => x.id === desk.id)?.revoked).toBe(true);
      // Its saved session no longer works; signing in again makes it a new device.
      const again = await ferry(['ls'], { env: d.env });
      expect(again.code).not.toBe(0);
      expect((await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: d.env })).code).toBe(0);
      const devices = (await alice.request('device.list', {})).devices;
      expect(devices.find((x) => x.id === desk.id)?.revoked).toBe(true);
      expect((await ferry(['ls'], { env: d.env })).code).toBe(0);
    } finally {
      await run.stop();
    }
  }, 90_000);
});
