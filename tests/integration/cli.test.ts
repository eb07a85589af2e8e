import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { ADMIN, ALICE, sharedFolder, standardRelay } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { randomData, sha256 } from '../helpers/files.js';

describe('the ferry command line', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let aliceEnv: Record<string, string>;
  let adminEnv: Record<string, string>;
  let work: string;

  beforeAll(async () => {
    env = await standardRelay();
    work = path.join(env.tmp, 'work');
    mkdirSync(work);
    aliceEnv = { FERRY_CONFIG: path.join(env.tmp, 'alice.json') };
    adminEnv = { FERRY_CONFIG: path.join(env.tmp, 'admin.json') };
    const a = await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: { ...aliceEnv, FERRY_PASSWORD: ALICE.password } });
    expect(a.code, a.stderr).toBe(0);
    const b = await ferry(['login', env.relay.httpUrl, '--user', ADMIN.name], { env: adminEnv, input: `${ADMIN.password}\n` });
    expect(b.code, b.stderr).toBe(0);
  });
  afterAll(() => env?.close());

  it('keeps the session in a private file', () => {
    const file = aliceEnv.FERRY_CONFIG;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ url: env.relay.httpUrl, user: 'alice' });
  });

  it('refuses a wrong password with LOGIN_FAILED on stderr and exit code 1', async () => {
    const r = await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: { FERRY_CONFIG: path.join(env.tmp, 'x.json'), FERRY_PASSWORD: 'nope' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('LOGIN_FAILED');
  });

  it('puts a folder recursively, keeping nested paths, and lists it', async () => {
    const root = path.join(work, 'album');
    mkdirSync(path.join(root, 'day1', 'raw'), { recursive: true });
    writeFileSync(path.join(root, 'cover.txt'), 'cover');
    writeFileSync(path.join(root, 'day1', 'a.txt'), 'aaa');
    writeFileSync(path.join(root, 'day1', 'raw', 'b.bin'), randomData(1000));
    const put = await ferry(['put', root, '--to', 'trips'], { env: aliceEnv });
    expect(put.code, put.stderr).toBe(0);
    const ls = await ferry(['ls', 'trips/album/day1', '--json'], { env: aliceEnv });
    const listed = JSON.parse(ls.stdout);
    expect(listed.entries.map((e: { path: string; kind: string }) => [e.kind, e.path])).toEqual([
      ['folder', 'trips/album/day1/raw'],
      ['file', 'trips/album/day1/a.txt'],
    ]);
    const raw = JSON.parse((await ferry(['ls', 'trips/album/day1/raw', '--json'], { env: aliceEnv })).stdout);
    expect(raw.entries[0]).toMatchObject({ name: 'b.bin', size: 1000, uploader: 'alice' });
  });

  it('puts a folder of many small files several at a time, every one intact and reported in order, and lists it whole through a pipe', async () => {
    const root = path.join(work, 'many');
    mkdirSync(root);
    const want = new Map<string, string>();
    for (let i = 0; i < 700; i++) {
      // A file of more than one chunk in the middle splits the small ones into two runs.
      const data = i === 350 ? randomData(CHUNK_SIZE + 1) : randomData(i % 3 === 0 ? 0 : 1 + ((i * 37) % 3000));
      const name = `n${String(i).padStart(4, '0')}.bin`;
      writeFileSync(path.join(root, name), data);
      want.set(name, sha256(data));
    }
    const put = await ferry(['put', root, '--to', 'bulk'], { env: aliceEnv });
    expect(put.code, put.stderr).toBe(0);
    const reported = put.stdout.trim().split('\n').map((l) => /bulk\/many\/(\S+)\s+v1\s.*sha256 ([0-9a-f]{64})/.exec(l)?.slice(1));
    expect(reported).toEqual([...want].map(([name, hash]) => [name, hash]));
    // A listing much larger than a pipe's buffer arrives whole (the command waits for its output to drain).
    const ls = await ferry(['ls', 'bulk/many', '--json'], { env: aliceEnv });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.length).toBeGreaterThan(200_000);
    const entries = JSON.parse(ls.stdout).entries as { name: string; sha256: string }[];
    expect(new Map(entries.map((e) => [e.name, e.sha256]))).toEqual(want);
  });

  it('says where a command spent its time with FERRY_TIMINGS=1, and nothing of it otherwise', async () => {
    const file = path.join(work, 'timed.bin');
    writeFileSync(file, randomData(CHUNK_SIZE + 5));
    const timed = await ferry(['put', file, '--to', 'timed'], { env: { ...aliceEnv, FERRY_TIMINGS: '1' } });
    expect(timed.code, timed.stderr).toBe(0);
    const line = /timings \(ms since start\): (.*)/.exec(timed.stderr)?.[1] ?? '';
    const steps = line.split(', ').map((s) => /^(.+) (\d+\.\d)$/.exec(s)!.slice(1));
    expect(steps.map(([step]) => step)).toEqual(['code loaded', 'session read', 'signed in', 'files listed', 'hashing', 'uploading', 'committing', 'done', 'end']);
    const times = steps.map(([, ms]) => Number(ms));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const plain = await ferry(['ls', 'timed'], { env: aliceEnv });
    expect(plain.stderr).not.toContain('timings');
  });

  it('keeps the executable bit from put to get', async () => {
    const script = path.join(work, 'run.sh');
    writeFileSync(script, '#!/bin/sh\necho ferry\n');
    chmodSync(script, 0o750);
    expect((await ferry(['put', script, '--to', 'bin'], { env: aliceEnv })).code).toBe(0);
    const back = path.join(work, 'run-back.sh');
    const got = await ferry(['get', 'bin/run.sh', '-o', back], { env: aliceEnv });
    expect(got.code, got.stderr).toBe(0);
    // x wherever the new file is readable (its other bits come from the umask here, as with git).
    expect(statSync(back).mode & 0o111).toBe((statSync(back).mode & 0o444) >> 2);
    expect(statSync(back).mode & 0o100).toBe(0o100);
    writeFileSync(script, 'plain now\n');
    chmodSync(script, 0o640);
    expect((await ferry(['put', script, '--to', 'bin'], { env: aliceEnv })).code).toBe(0);
    expect((await ferry(['get', 'bin/run.sh', '-o', back, '--force'], { env: aliceEnv })).code).toBe(0);
    expect(statSync(back).mode & 0o111).toBe(0);
  });

  it('honours --on-conflict rename and shows history with --versions', async () => {
    const file = path.join(work, 'memo.txt');
    writeFileSync(file, 'one');
    await ferry(['put', file], { env: aliceEnv });
    writeFileSync(file, 'two');
    const r = await ferry(['put', file, '--on-conflict', 'rename'], { env: aliceEnv });
    expect(r.stdout).toContain('memo_v2.txt  v1');
    writeFileSync(file, 'three');
    await ferry(['put', file], { env: aliceEnv });
    const h = JSON.parse((await ferry(['ls', 'memo.txt', '--versions', '--json'], { env: aliceEnv })).stdout);
    expect(h.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const bad = await ferry(['put', file, '--on-conflict', 'merge'], { env: aliceEnv });
    expect(bad.code).toBe(2);
  });

  it('gets a file byte-identical with its mtime, and gets a past version', async () => {
    const data = randomData(3 * CHUNK_SIZE + 7);
    const src = path.join(work, 'movie.bin');
    writeFileSync(src, data);
    expect((await ferry(['put', src], { env: aliceEnv })).code).toBe(0);
    const out = path.join(work, 'movie.copy');
    const g = await ferry(['get', 'movie.bin', '-o', out], { env: aliceEnv });
    expect(g.code, g.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(data));
    expect(Math.floor(statSync(out).mtimeMs / 1000)).toBe(Math.floor(statSync(src).mtimeMs / 1000));
    const old = path.join(work, 'memo.v1');
    await ferry(['get', 'memo.txt', '--version', '1', '-o', old], { env: aliceEnv });
    expect(readFileSync(old, 'utf8')).toBe('one');
  });

  it('resumes a get from the partial file, keeping chunks that still verify', async () => {
    const data = randomData(5 * CHUNK_SIZE);
    const src = path.join(work, 'resume.bin');
    writeFileSync(src, data);
    await ferry(['put', src], { env: aliceEnv });
    const target = path.join(work, 'resume.out');
    // An interrupted download: two good chunks, then a damaged third.
    const partial = Buffer.concat([data.subarray(0, 2 * CHUNK_SIZE), randomData(CHUNK_SIZE)]);
    writeFileSync(path.join(work, '.resume.out.ferry-part'), partial);
    const g = await ferry(['get', 'resume.bin', '-o', target], { env: aliceEnv });
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toContain('fetched 3, kept 2 chunks');
    expect(sha256(readFileSync(target))).toBe(sha256(data));
  });

  it('resumes an interrupted put without sending acknowledged chunks again', async () => {
    const data = randomData(60 * CHUNK_SIZE);
    const src = path.join(work, 'interrupted.bin');
    writeFileSync(src, data);
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'), { readonly: true });
    let held = 0;
    const first = await ferry(['put', src], {
      env: aliceEnv,
      onSpawn: (pid) => {
        const timer = setInterval(() => {
          held = (db.prepare("SELECT count(*) AS n FROM upload_chunks uc JOIN uploads u ON u.id = uc.upload_id WHERE u.path = 'interrupted.bin'").get() as { n: number }).n;
          if (held >= 8) {
            clearInterval(timer);
            process.kill(pid, 'SIGKILL');
          }
        }, 5);
      },
    });
    db.close();
    expect(first.signal).toBe('SIGKILL');
    const second = await ferry(['put', src], { env: aliceEnv });
    expect(second.code, second.stderr).toBe(0);
    const sent = Number(/60 chunks, (\d+) sent \(the relay had the rest\)/.exec(second.stdout)![1]);
    expect(sent).toBeLessThanOrEqual(60 - held);
    expect(second.stdout).toContain(sha256(data));
  });

  it('verifies, restores, and lets only admins delete for good', async () => {
    const v = await ferry(['verify', 'memo.txt'], { env: aliceEnv });
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('ok');
    const r = await ferry(['restore', 'memo.txt', '--version', '1'], { env: aliceEnv });
    expect(r.stdout).toContain('v1 restored as v3');
    const denied = await ferry(['rm', '--purge', 'memo.txt', '--version', '2'], { env: aliceEnv });
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('FORBIDDEN');
    // Alice's My files is hers: the admin does not see it.
    const hidden = await ferry(['rm', '--purge', 'memo.txt', '--version', '2'], { env: adminEnv });
    expect(hidden.stderr).toContain('NOT_FOUND');
    // Moved (with its three versions) into a shared folder both are in, the admin can.
    await sharedFolder(env.relay, 'desk', { alice: 'edit', admin: 'edit' });
    const mv = await ferry(['mv', 'memo.txt', 'desk:'], { env: aliceEnv });
    expect(mv.stdout.trim(), mv.stderr).toBe('me:memo.txt → desk:memo.txt');
    const rm1 = await ferry(['rm', '--purge', 'desk:memo.txt', '--version', '2'], { env: adminEnv });
    expect(rm1.code, rm1.stderr).toBe(0);
    const h = JSON.parse((await ferry(['ls', 'desk:memo.txt', '--versions', '--json'], { env: aliceEnv })).stdout);
    expect(h.versions.map((x: { version: number }) => x.version)).toEqual([3, 1]);
    const back = await ferry(['mv', 'desk:memo.txt', 'me:memo.txt'], { env: aliceEnv });
    expect(back.code, back.stderr).toBe(0);
  });

  it('works with spaces: shared folders for admins, put/get/ls/mv/mkdir/search in NAME:, the trash and back', async () => {
    const run = async (args: string[], who = aliceEnv) => {
      const r = await ferry(args, { env: who });
      expect(r.code, `ferry ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    // Only admins manage shared folders.
    const denied = await ferry(['folder', 'add', 'reports', '--member', 'alice=edit'], { env: aliceEnv });
    expect(denied.stderr).toContain('FORBIDDEN');
    expect(await run(['folder', 'add', 'reports', '--member', 'alice=edit', '--member', 'bob=view'], adminEnv)).toContain('reports:  alice=edit bob=view');
    expect(await run(['folders'], adminEnv)).toMatch(/^reports: +0 files +0 B {2}alice=edit bob=view$/m);
    const folders = JSON.parse(await run(['folders', '--json'], adminEnv)).folders;
    expect(folders.find((x: { name: string }) => x.name === 'reports').members).toEqual([{ user: 'alice', access: 'edit' }, { user: 'bob', access: 'view' }]);
    expect(await run(['folder', 'set', 'reports', '--member', 'bob=none'], adminEnv)).toContain('reports:  alice=edit');
    expect(await run(['spaces'])).toMatch(/^me: +My files\n(.*\n)*reports: +shared folder, edit$/m);
    // Into the shared folder and out again.
    const file = path.join(work, 'q1.pdf');
    writeFileSync(file, randomData(3000));
    expect(await run(['put', file, '--to', 'reports:2026'])).toMatch(/^reports:2026\/q1\.pdf {2}v1 {2}3000 bytes/m);
    expect(JSON.parse(await run(['ls', 'reports:2026', '--json'])).entries.map((e: { name: string }) => e.name)).toEqual(['q1.pdf']);
    expect(await run(['ls', 'me:'])).not.toContain('q1.pdf');
    const got = path.join(work, 'q1-back.pdf');
    await run(['get', 'reports:2026/q1.pdf', '-o', got]);
    expect(sha256(readFileSync(got))).toBe(sha256(readFileSync(file)));
    expect(await run(['mkdir', 'reports:archive/old'])).toBe('reports:archive/old/\n');
    expect(await run(['mv', 'reports:2026/q1.pdf', 'reports:archive/old'])).toBe('reports:2026/q1.pdf → reports:archive/old/q1.pdf\n');
    expect(await run(['mv', 'reports:archive/old/q1.pdf', 'reports:archive/old/Q1 final.pdf'])).toContain('→ reports:archive/old/Q1 final.pdf');
    expect(await run(['search', 'final'])).toMatch(/^ +2\.9 KiB {2}\d{4}-\d\d-\d\d \d\d:\d\d {2}reports:archive\/old\/Q1 final\.pdf$/m);
    expect(JSON.parse(await run(['search', 'FINAL', '--json'])).hits).toHaveLength(1);
    expect(await run(['search', 'final', '--in', 'me:'])).toBe('');
    // The trash, and back with every version.
    expect(await run(['rm', 'reports:archive'])).toContain('reports:archive  moved to the trash (1 file(s)');
    expect(await run(['ls', 'reports:'])).not.toContain('archive');
    expect(await run(['trash', 'reports:'])).toMatch(/alice +2\.9 KiB {2}reports:archive\/ {2}\(1 file\(s\)\)/);
    expect(JSON.parse(await run(['trash', 'reports:', '--json'])).items[0]).toMatchObject({ path: 'archive', kind: 'folder', files: 1 });
    expect(await run(['untrash', 'reports:archive'])).toBe('reports:archive  restored\n');
    expect(await run(['ls', 'reports:archive/old'])).toContain('Q1 final.pdf');
    const noSuch = await ferry(['untrash', 'reports:never-there'], { env: aliceEnv });
    expect(noSuch.stderr).toMatch(/^ferry: NOT_FOUND: Nothing in the trash of reports: was at "never-there"/m);
    const unknown = await ferry(['ls', 'nosuch:'], { env: aliceEnv });
    expect(unknown.stderr).toMatch(/^ferry: NOT_FOUND: No shared folder "nosuch" of yours \(yours: desk, reports\)/m);
    // Emptying the trash and deleting a folder are the admin's.
    await run(['rm', 'reports:archive']);
    expect((await ferry(['trash', 'reports:', '--empty'], { env: aliceEnv })).stderr).toContain('FORBIDDEN');
    await run(['folder', 'set', 'reports', '--member', 'admin=edit'], adminEnv);
    expect(await run(['trash', 'reports:', '--empty'], adminEnv)).toContain('1 item(s), 1 file(s) deleted for good');
    expect(await run(['folder', 'rm', 'reports'], adminEnv)).toContain('reports:  deleted');
    expect(await run(['spaces'])).not.toContain('reports');
  });

  it('reports missing files with NOT_FOUND and leaves no partial file', async () => {
    const r = await ferry(['get', 'no/such.file', '-o', path.join(work, 'nothing')], { env: aliceEnv });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NOT_FOUND/);
    expect(() => statSync(path.join(work, '.nothing.ferry-part'))).toThrow();
  });

  it('never replaces a local file without --force, and names a missing local file plainly', async () => {
    const file = path.join(work, 'precious.txt');
    writeFileSync(file, 'mine, not the relay\'s');
    const put = await ferry(['put', path.join(work, 'memo.txt')], { env: aliceEnv });
    expect(put.code, put.stderr).toBe(0);
    const refused = await ferry(['get', 'memo.txt', '-o', file], { env: aliceEnv });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^ferry: LOCAL_FILE_EXISTS: .*--force/m);
    expect(readFileSync(file, 'utf8')).toBe('mine, not the relay\'s');
    const forced = await ferry(['get', 'memo.txt', '-o', file, '--force'], { env: aliceEnv });
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).not.toBe('mine, not the relay\'s');
    // The same file again adds nothing and says so.
    const again = await ferry(['put', path.join(work, 'memo.txt')], { env: aliceEnv });
    expect(again.stdout).toMatch(/memo\.txt {2}v\d+ {2}unchanged/);
    const missing = await ferry(['put', path.join(work, 'no-such-file.bin')], { env: aliceEnv });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^ferry: NOT_FOUND: No local file or folder ".*no-such-file\.bin"\.$/m);
    expect(missing.stderr).not.toContain('INTERNAL');
    expect(missing.stderr).not.toContain('    at ');
  });

  it('logout revokes the session on the relay', async () => {
    const token = JSON.parse(readFileSync(adminEnv.FERRY_CONFIG, 'utf8')).token;
    expect((await ferry(['logout'], { env: adminEnv })).code).toBe(0);
    const after = await ferry(['ls'], { env: adminEnv });
    expect(after.stderr).toContain('AUTH_REQUIRED');
    // Reusing the old token fails too.
    writeFileSync(adminEnv.FERRY_CONFIG, JSON.stringify({ url: env.relay.httpUrl, user: 'admin', token }));
    const reuse = await ferry(['ls'], { env: adminEnv });
    expect(reuse.code).toBe(1);
    expect(reuse.stderr).toContain('SESSION_EXPIRED');
  });
});
