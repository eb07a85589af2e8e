/**
 * Folders as one zip: what is in it (checked with Info-ZIP's unzip, CRCs included),
 * who may have one, single-use URLs, damage on the way out, and flat memory for a big one.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile, type FerryClient } from '../../relay/client/index.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { ADMIN, ALICE, BOB, signIn, standardRelay, sharedFolder, relayLog } from '../helpers/relay.js';
import { bufferSource, randomData, sha256 } from '../helpers/files.js';
import { ferry } from '../helpers/cli.js';

const hasUnzip = (() => {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    console.log('zip tests skipped: Info-ZIP unzip is not installed (CI installs it)');
    return false;
  }
})();

/** Unpacks a zip after `unzip -t` checked every entry's CRC; returns the folder. */
function unpack(zip: string, into: string): string {
  expect(execFileSync('unzip', ['-t', zip], { encoding: 'utf8' })).toMatch(/No errors detected/);
  mkdirSync(into, { recursive: true });
  execFileSync('unzip', ['-q', zip, '-d', into]);
  return into;
}

function rss(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

describe.runIf(hasUnzip)('zip downloads', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let alice: FerryClient;
  let bob: FerryClient;
  const big = randomData(2 * CHUNK_SIZE + 12345);
  const files: Record<string, Buffer> = {
    'Holiday/notes.txt': Buffer.from('sunny'),
    'Holiday/day 1/beach é😀.jpg': randomData(70_000),
    'Holiday/day 1/video.bin': big,
    'Holiday/empty.txt': Buffer.alloc(0),
    'elsewhere.txt': Buffer.from('not in the folder'),
  };

  beforeAll(async () => {
    env = await standardRelay();
    alice = await signIn(env.relay, ALICE.name, ALICE.password);
    bob = await signIn(env.relay, BOB.name, BOB.password);
    for (const [p, data] of Object.entries(files)) await uploadFile(alice, bufferSource(data), { path: p });
  });
  afterAll(async () => {
    alice?.close();
    bob?.close();
    await env?.close();
  });

  async function fetchZip(url: string, name: string): Promise<{ status: number; file: string; headers: Headers }> {
    const res = await fetch(`${env.relay.httpUrl}${url}`);
    const file = path.join(env.tmp, name);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    return { status: res.status, file, headers: res.headers };
  }

  it('packs a folder with everything under it, byte-identical, named relative to the folder', async () => {
    const t = await alice.request('zip.ticket', { paths: ['Holiday'] });
    expect(t).toMatchObject({ name: 'Holiday.zip', files: 4, bytes: 5 + 70_000 + big.length });
    const { status, file, headers } = await fetchZip(t.url, 'holiday.zip');
    expect(status).toBe(200);
    expect(headers.get('content-type')).toBe('application/zip');
    expect(headers.get('content-disposition')).toContain('filename="Holiday.zip"');
    const dir = unpack(file, path.join(env.tmp, 'unpacked'));
    for (const [p, data] of Object.entries(files)) {
      if (!p.startsWith('Holiday/')) continue;
      expect(sha256(readFileSync(path.join(dir, p))), p).toBe(sha256(data));
    }
    expect(readdirSync(dir)).toEqual(['Holiday']);
    // The URL works once.
    expect((await fetch(`${env.relay.httpUrl}${t.url}`)).status).toBe(404);
  });

  it('packs a selection of files and folders, and the whole space', async () => {
    const t = await alice.request('zip.ticket', { paths: ['elsewhere.txt', 'Holiday/day 1'] });
    expect(t).toMatchObject({ name: 'My files.zip', files: 3 });
    const dir = unpack((await fetchZip(t.url, 'sel.zip')).file, path.join(env.tmp, 'sel'));
    expect(readdirSync(dir).sort()).toEqual(['day 1', 'elsewhere.txt']);
    expect(sha256(readFileSync(path.join(dir, 'day 1', 'video.bin')))).toBe(sha256(big));
    const all = await alice.request('zip.ticket', { paths: [''] });
    expect(all.files).toBe(5);
  });

  it('gives a zip only of what the user can see, and checks again when it is fetched', async () => {
    const home = (await alice.request('spaces', {})).spaces[0].id;
    await expect(bob.request('zip.ticket', { space: home, paths: ['Holiday'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(alice.request('zip.ticket', { paths: ['no/such'] })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const team = await sharedFolder(env.relay, 'zipteam', { alice: 'edit', bob: 'view' });
    await uploadFile(alice, bufferSource(Buffer.from('team file')), { space: team, path: 'plan.txt' });
    const t = await bob.request('zip.ticket', { space: team, paths: ['plan.txt'] });
    // Bob is taken out of the folder before he fetches it.
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    await admin.request('folder.members', { folder: team, set: [{ user: 'bob', access: 'none' }] });
    admin.close();
    expect((await fetch(`${env.relay.httpUrl}${t.url}`)).status).toBe(404);
    expect((await fetch(`${env.relay.httpUrl}/zip/${'A'.repeat(24)}`)).status).toBe(404);
  });

  it('ends a zip short (and logs INTEGRITY_FAILED) when a stored chunk is damaged', async () => {
    const damaged = randomData(300_000);
    await uploadFile(alice, bufferSource(damaged), { path: 'damage/x.bin' });
    const chunkDir = path.join(env.relay.dataDir, 'chunks');
    const h = sha256(damaged);
    const find = (dir: string): string | undefined => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) {
          const f = find(p);
          if (f) return f;
        } else if (e.name.startsWith(h)) return p;
      }
      return undefined;
    };
    const chunk = find(chunkDir)!;
    const bytes = readFileSync(chunk);
    bytes[1000] ^= 0xff;
    writeFileSync(chunk, bytes);
    const t = await alice.request('zip.ticket', { paths: ['damage'] });
    const got = await fetch(`${env.relay.httpUrl}${t.url}`).then((r) => r.arrayBuffer()).then(() => 'complete', () => 'cut short');
    expect(got).toBe('cut short');
    await expect.poll(() => relayLog(env.relay.dataDir).filter((l) => l.event === 'zip').map((l) => l.code ?? l.msg)).toContain('INTEGRITY_FAILED');
    // The relay keeps serving.
    expect(env.relay.child.exitCode).toBeNull();
    expect((await alice.request('zip.ticket', { paths: ['Holiday'] })).files).toBe(4);
    unlinkSync(chunk);
  });

  it('streams a 640 MiB zip with the relay growing by far less than that', async () => {
    const data = randomData(64 * 1024 * 1024);
    // Ten files of the same content: stored once, sent once, zipped ten times.
    for (let i = 0; i < 10; i++) await uploadFile(alice, bufferSource(data), { path: `bulk/copy-${i}.bin` });
    const before = rss(env.relay.child.pid!);
    const t = await alice.request('zip.ticket', { paths: ['bulk'] });
    let peak = before;
    const timer = setInterval(() => (peak = Math.max(peak, rss(env.relay.child.pid!))), 50);
    const res = await fetch(`${env.relay.httpUrl}${t.url}`);
    let total = 0;
    const reader = res.body!.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) total += r.value.byteLength;
    clearInterval(timer);
    expect(total).toBeGreaterThan(640 * 1024 * 1024);
    console.log(`zip of ${(total / 2 ** 20).toFixed(0)} MiB: relay RSS ${(before / 2 ** 20).toFixed(0)} MiB before, peak +${((peak - before) / 2 ** 20).toFixed(0)} MiB`);
    expect(peak - before).toBeLessThan(120 * 1024 * 1024);
  }, 180_000);

  it('ferry get FOLDER --zip saves the zip, and refuses to replace a local file without --force', async () => {
    const cfg = { FERRY_CONFIG: path.join(env.tmp, 'alice-cli.json') };
    expect((await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: { ...cfg, FERRY_PASSWORD: ALICE.password } })).code).toBe(0);
    const out = path.join(env.tmp, 'cli-holiday.zip');
    const r = await ferry(['get', 'Holiday', '--zip', '-o', out], { env: cfg });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/cli-holiday\.zip {2}4 file\(s\) {2}\d+ bytes/);
    const dir = unpack(out, path.join(env.tmp, 'cli-unpacked'));
    expect(sha256(readFileSync(path.join(dir, 'Holiday', 'day 1', 'video.bin')))).toBe(sha256(big));
    const again = await ferry(['get', 'Holiday', '--zip', '-o', out], { env: cfg });
    expect(again.stderr).toContain('LOCAL_FILE_EXISTS');
  });
});
