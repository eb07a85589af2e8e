/**
 * The data folder on a small tmpfs, filled through uploads, then to the last byte:
 * chunk writes, database writes and log lines fail, the relay answers STORAGE_FAILED,
 * keeps serving reads and other clients, starts again on the full disk, and writes again
 * once space is freed. Needs root (mount); skipped with a message elsewhere.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ADMIN, ALICE, addUsers, sharedFolder, signIn, startRelayProcess, tempDir, type RelayProcess } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { rawClient } from '../helpers/raw.js';
import { LogFile } from '../../relay/log.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';

const MiB = 1024 * 1024;

function tryMount(dir: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return (err as { stderr?: Buffer }).stderr?.toString().trim() || (err as Error).message;
  }
}

const tmp = tempDir('ferry-full-');
const mnt = path.join(tmp.dir, 'mnt');
mkdirSync(mnt);
const mountError = tryMount(mnt);
if (mountError) console.log(`disk-full tests skipped: cannot mount a tmpfs here (${mountError})`);

describe.skipIf(!!mountError)('a full disk', () => {
  const dataDir = path.join(mnt, 'data');
  const filler = path.join(mnt, 'filler');
  /**
   * Space set aside before anything fills the disk and given back when room is made: how
   * much is left after uploads fill it depends on where the last chunk write failed (0 to
   * a chunk), so the filler alone may not leave room for the upload that follows.
   */
  const reserve = path.join(mnt, 'reserve');
  let relay: RelayProcess;
  let alice: FerryClient;
  let admin: FerryClient;
  /** A shared folder alice and the admin are in: the file another client reads. */
  let space: number;
  const keeper = randomData(3 * MiB);
  const cliEnv = { FERRY_CONFIG: path.join(tmp.dir, 'cli.json') };

  beforeAll(async () => {
    writeFileSync(reserve, Buffer.alloc(8 * MiB, 1));
    await addUsers(dataDir, [ADMIN, ALICE]);
    relay = await startRelayProcess({ dataDir });
    alice = await signIn(relay, ALICE.name, ALICE.password, { reconnectTimeoutMs: 30_000 });
    admin = await signIn(relay, ADMIN.name, ADMIN.password, { reconnectTimeoutMs: 30_000 });
    space = await sharedFolder(relay, 'keep', { alice: 'edit', admin: 'edit' });
    await uploadFile(alice, bufferSource(keeper), { space, path: 'keep/keeper.bin' });
    const login = await ferry(['login', relay.httpUrl, '--user', ALICE.name], { env: { ...cliEnv, FERRY_PASSWORD: ALICE.password } });
    expect(login.code, login.stderr).toBe(0);
  });
  afterAll(async () => {
    alice?.close();
    admin?.close();
    await relay?.stop();
    try {
      execFileSync('umount', [mnt]);
    } catch {
      execFileSync('umount', ['-l', mnt]);
    }
    tmp.remove();
  });

  /** Reads and other clients still work. */
  async function stillServing() {
    const sink = memorySink();
    await downloadFile(admin, sink, { space, path: 'keep/keeper.bin' });
    expect(sha256(sink.bytes())).toBe(sha256(keeper));
    expect((await admin.request('list', { space, folder: 'keep' })).entries.map((e) => e.name)).toEqual(['keeper.bin']);
    expect((await fetch(`${relay.httpUrl}/healthz`)).status).toBe(200);
    expect(relay.child.exitCode).toBeNull();
  }

  it('refuses chunks with STORAGE_FAILED once uploads fill it, keeps what was acknowledged, lists nothing half-written', async () => {
    const stored: { name: string; data: Buffer }[] = [];
    let failure: { code?: string } | undefined;
    for (let i = 0; i < 20 && !failure; i++) {
      const data = randomData(8 * MiB);
      try {
        await uploadFile(alice, bufferSource(data), { path: `fill/${i}.bin` });
        stored.push({ name: `${i}.bin`, data });
      } catch (err) {
        failure = err as { code?: string };
      }
    }
    expect(failure?.code).toBe('STORAGE_FAILED');
    expect(stored.length).toBeGreaterThan(2);
    const listed = (await alice.request('list', { folder: 'fill' })).entries.map((e) => e.name).sort();
    expect(listed).toEqual(stored.map((s) => s.name).sort());
    for (const s of stored) expect(await alice.request('verify', { path: `fill/${s.name}` })).toMatchObject({ ok: true });
    // No partial chunk file is left behind.
    expect(readdirSync(path.join(dataDir, 'chunks', '.tmp')).filter((f) => !f.startsWith('direct-probe'))).toEqual([]);
    await stillServing();
  });

  it('keeps its code on the command line: ferry: STORAGE_FAILED', async () => {
    const file = path.join(tmp.dir, 'big.bin');
    writeFileSync(file, randomData(12 * MiB));
    const put = await ferry(['put', file, '--to', 'cli'], { env: cliEnv });
    expect(put.code).toBe(1);
    expect(put.stderr).toMatch(/^ferry: STORAGE_FAILED: /m);
    expect(put.stderr).not.toContain('INTERNAL');
  });

  it('to the last byte: database writes fail with STORAGE_FAILED, log lines are dropped, nothing crashes', async () => {
    // Fill what is left, in pieces, until the file system refuses.
    writeFileSync(filler, '');
    try {
      for (;;) appendFileSync(filler, Buffer.alloc(64 * 1024));
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    try {
      for (;;) appendFileSync(filler, Buffer.alloc(512));
    } catch {
      /* full */
    }
    expect(statfsSync(mnt).bavail).toBe(0);
    // Metadata writes: a link row each, until the database cannot grow.
    const codes = new Set<string>();
    for (let i = 0; i < 5000 && !codes.has('STORAGE_FAILED'); i++) {
      try {
        await alice.request('link.create', { space, path: 'keep/keeper.bin' });
      } catch (err) {
        codes.add((err as { code: string }).code);
      }
    }
    expect([...codes]).toEqual(['STORAGE_FAILED']);
    // Signing in needs a session row: refused the same way, the relay stays up.
    await expect(signIn(relay, ALICE.name, ALICE.password)).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    // Log lines by the hundred (every connection is logged), with nowhere to write them.
    for (let i = 0; i < 100; i++) {
      const raw = await rawClient(relay.wsUrl, { 'User-Agent': `while-full-${i}` });
      raw.close();
    }
    await new Promise((r) => setTimeout(r, 300));
    await stillServing();
  });

  it('starts again on the full disk and serves reads', async () => {
    await relay.kill();
    relay = await startRelayProcess({ dataDir, port: relay.port });
    await new Promise((r) => setTimeout(r, 500));
    await stillServing();
  });

  it('writes again once there is room: uploads commit, log lines held meanwhile are written', async () => {
    for (let i = 0; i < 20; i++) (await rawClient(relay.wsUrl, { 'User-Agent': `still-full-${i}` })).close();
    await new Promise((r) => setTimeout(r, 300));
    rmSync(filler);
    rmSync(reserve);
    expect(statfsSync(mnt).bavail * statfsSync(mnt).bsize).toBeGreaterThanOrEqual(8 * MiB);
    const data = randomData(2 * MiB);
    const r = await uploadFile(alice, bufferSource(data), { path: 'after/room.bin' });
    expect(r.sha256).toBe(sha256(data));
    expect(await alice.request('verify', { path: 'after/room.bin' })).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 1500));
    const logs = readdirSync(path.join(dataDir, 'logs')).filter((f) => /^relay\.\d+\.log$/.test(f));
    const text = logs.map((f) => readFileSync(path.join(dataDir, 'logs', f), 'utf8')).join('');
    for (let i = 0; i < 20; i++) expect(text).toContain(`"ua":"still-full-${i}"`);
    expect(existsSync(path.join(dataDir, 'logs', 'current.log'))).toBe(true);
  });

  it('a log file on a full disk keeps at most 1 MiB of lines, then says how many it lost', async () => {
    // The relay is done with: nothing it does (a database checkpoint, a log line) may make
    // room while this fills the disk.
    await relay.stop();
    const dir = path.join(mnt, 'logtest');
    const log = new LogFile(dir);
    log.write(`${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: 'first' })}\n`);
    log.flush();
    writeFileSync(filler, '');
    try {
      for (;;) appendFileSync(filler, Buffer.alloc(64 * 1024));
    } catch {
      /* full */
    }
    try {
      for (;;) appendFileSync(filler, Buffer.alloc(512));
    } catch {
      /* full */
    }
    expect(statfsSync(mnt).bavail).toBe(0);
    const line = (i: number) => `${JSON.stringify({ level: 30, time: new Date().toISOString(), msg: 'x'.repeat(100), i })}\n`;
    for (let i = 0; i < 20_000; i++) log.write(line(i));
    expect(() => log.flush()).not.toThrow();
    rmSync(filler);
    log.close();
    const lines = readFileSync(path.join(dir, 'current.log'), 'utf8').split('\n').filter(Boolean);
    const parsed = lines.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
    const lost = parsed.filter((l) => l.event === 'log.lost').reduce((n, l) => n + l.lines, 0);
    const kept = parsed.filter((l) => typeof l.i === 'number').length;
    expect(lost).toBeGreaterThan(0);
    // Every line is either in the file or counted (a line cut short by the full disk counts as lost).
    expect(kept + lost).toBeGreaterThanOrEqual(20_000);
    expect(kept * 130).toBeLessThan(1.2 * MiB);
  });
});

if (mountError) afterAll(() => tmp.remove());
