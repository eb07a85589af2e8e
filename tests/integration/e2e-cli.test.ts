/**
 * End-to-end encrypted folders from the command line, against a real relay: keys made,
 * locked, unlocked on a second device and recovered; files of every awkward size round
 * trip byte-identical; nothing of the plaintext or the names reaches the relay's data
 * folder; and a relay that alters, swaps or re-keys what it stores is caught before a
 * byte is written.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, contentHash } from '../../relay/protocol/index.js';
import { PLAIN_CHUNK } from '../../relay/crypto/format.js';
import { ALICE, BOB, signIn, standardRelay, waitFor } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { fileSha256, sha256 } from '../helpers/files.js';
import type { FerryClient } from '../../relay/client/index.js';

let env: Awaited<ReturnType<typeof standardRelay>>;
let work: string;
const PASSPHRASE = 'correct horse battery staple';
/** A device of alice: its own config (session, unlocked key). */
const device = (name: string, extra: Record<string, string> = {}) => ({ FERRY_CONFIG: path.join(env.tmp, `${name}.json`), ...extra });
let laptop: Record<string, string>;
let recoveryKey = '';
/** Distinctive bytes inside every file and a distinctive name: neither may reach the relay. */
const CANARY = randomBytes(32);
const CANARY_NAME = `canary-${randomBytes(6).toString('hex')}`;

function local(name: string, size: number): { file: string; data: Buffer } {
  const data = randomBytes(size);
  if (size >= CANARY.length + 8) CANARY.copy(data, Math.floor(size / 2) - 16);
  const file = path.join(work, name);
  writeFileSync(file, data);
  return { file, data };
}

async function ok(args: string[], e: Record<string, string>) {
  const r = await ferry(args, { env: e });
  expect(r.code, `ferry ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r;
}

beforeAll(async () => {
  env = await standardRelay();
  work = path.join(env.tmp, 'work');
  mkdirSync(work);
  laptop = device('laptop');
  await ok(['login', env.relay.httpUrl, '--user', ALICE.name], { ...laptop, FERRY_PASSWORD: ALICE.password });
});
afterAll(() => env?.close());

describe('end-to-end encrypted folders from the CLI', () => {
  it('keys: made once with a recovery key, shown with a fingerprint, unlocked here', async () => {
    const init = await ok(['keys', 'init'], { ...laptop, FERRY_PASSPHRASE: PASSPHRASE });
    recoveryKey = /Recovery key: ([0-9A-Z-]+)/.exec(init.stdout)![1];
    expect(recoveryKey).toMatch(/^([0-9A-Z]{5}-){10}[0-9A-Z]{1,5}$/);
    expect((await ferry(['keys', 'init'], { env: { ...laptop, FERRY_PASSPHRASE: PASSPHRASE } })).stderr).toMatch(/^ferry: E2E_KEYS_EXIST/m);
    const show = await ok(['keys', 'show'], laptop);
    expect(show.stdout).toMatch(/fingerprint: ([0-9a-f]{4} ){15}[0-9a-f]{4}/);
    expect(show.stdout).toContain('unlocked');
    await ok(['mkdir', 'vault', '--encrypted'], laptop);
    expect((await ok(['ls'], laptop)).stdout).toMatch(/vault\/ {2}\(encrypted\)/);
  });

  it('round trips 0 B, 1 B, chunk ± 1 and 100 MiB byte-identical, with names and sizes readable only here', async () => {
    const sizes = [0, 1, PLAIN_CHUNK - 1, PLAIN_CHUNK, PLAIN_CHUNK + 1, CHUNK_SIZE - 1, CHUNK_SIZE + 1, 100 * 1024 * 1024];
    const files = sizes.map((n, i) => ({ ...local(`${CANARY_NAME}-${i}.bin`, n), size: n }));
    const put = await ok(['put', ...files.map((f) => f.file), '--to', 'vault/deep er/dir'], laptop);
    expect(put.stdout).toContain('encrypted');
    const listed = await ok(['ls', 'vault/deep er/dir', '--json'], laptop);
    const entries = JSON.parse(listed.stdout).entries as { name: string; size: number }[];
    expect(entries.map((e) => [e.name, e.size]).sort()).toEqual(files.map((f) => [path.basename(f.file), f.size]).sort());
    for (const f of files) {
      const back = path.join(work, `back-${path.basename(f.file)}`);
      const got = await ok(['get', `vault/deep er/dir/${path.basename(f.file)}`, '-o', back], laptop);
      expect(got.stdout).toContain(`sha256 ${sha256(f.data)}`);
      expect(fileSha256(back)).toBe(sha256(f.data));
    }
    // The same content again under another name: sealing is deterministic, nothing is sent again.
    const again = await ok(['put', files[7].file, '--to', 'vault/copy'], laptop);
    expect(again.stdout).toMatch(/26 chunks, 0 sent \(the relay had the rest\)/);
  });

  it('leaves no plaintext, name or plaintext hash anywhere in the relay\'s data folder', async () => {
    const needles = [CANARY, Buffer.from(CANARY_NAME), Buffer.from('deep er'), Buffer.from(sha256(readFileSync(path.join(work, `${CANARY_NAME}-7.bin`))))];
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.isFile()) {
          const bytes = readFileSync(p);
          for (const n of needles) if (bytes.includes(n)) found.push(`${p}: ${n.toString('hex').slice(0, 16)}`);
        }
      }
    };
    walk(env.relay.dataDir);
    expect(found).toEqual([]);
    // The canary is in the files here, so the search would have found it.
    expect(readFileSync(path.join(work, `${CANARY_NAME}-7.bin`)).includes(CANARY)).toBe(true);
  });

  it('locked, nothing in an encrypted folder is read or written; another device unlocks with the passphrase', async () => {
    const f = local('locked.txt', 1000);
    await ok(['lock'], laptop);
    for (const args of [['get', `vault/deep er/dir/${CANARY_NAME}-1.bin`, '-o', path.join(work, 'x')], ['put', f.file, '--to', 'vault'], ['ls', 'vault']]) {
      expect((await ferry(args, { env: laptop })).stderr).toMatch(/^ferry: E2E_LOCKED/m);
    }
    expect(existsSync(path.join(work, 'x'))).toBe(false);
    const desk = device('desk');
    await ok(['login', env.relay.httpUrl, '--user', ALICE.name], { ...desk, FERRY_PASSWORD: ALICE.password });
    expect((await ferry(['unlock'], { env: { ...desk, FERRY_PASSPHRASE: 'not the passphrase' } })).stderr).toMatch(/^ferry: E2E_WRONG_PASSPHRASE/m);
    await ok(['unlock', '--for', '1h'], { ...desk, FERRY_PASSPHRASE: PASSPHRASE });
    const back = path.join(work, 'desk.bin');
    await ok(['get', `vault/deep er/dir/${CANARY_NAME}-4.bin`, '-o', back], desk);
    expect(fileSha256(back)).toBe(fileSha256(path.join(work, `${CANARY_NAME}-4.bin`)));
    // Signing out locks too.
    await ok(['logout'], desk);
    await ok(['login', env.relay.httpUrl, '--user', ALICE.name], { ...desk, FERRY_PASSWORD: ALICE.password });
    expect((await ok(['keys', 'show'], desk)).stdout).toContain('locked');
  });

  it('the recovery key sets a new passphrase; the old one stops working', async () => {
    const phone = device('phone');
    await ok(['login', env.relay.httpUrl, '--user', ALICE.name], { ...phone, FERRY_PASSWORD: ALICE.password });
    await ok(['keys', 'recover'], { ...phone, FERRY_RECOVERY_KEY: recoveryKey.toLowerCase(), FERRY_PASSPHRASE: 'a brand new passphrase' });
    expect((await ferry(['unlock'], { env: { ...laptop, FERRY_PASSPHRASE: PASSPHRASE } })).stderr).toMatch(/E2E_WRONG_PASSPHRASE/);
    await ok(['unlock'], { ...laptop, FERRY_PASSPHRASE: 'a brand new passphrase' });
    await ok(['ls', 'vault'], laptop);
  });

  it('resumes an encrypted download from what an earlier attempt wrote', async () => {
    const name = `${CANARY_NAME}-7.bin`;
    const original = readFileSync(path.join(work, name));
    const back = path.join(work, 'resumed.bin');
    // What a get killed after two chunks leaves: the plaintext of those chunks in the part file.
    writeFileSync(path.join(work, '.resumed.bin.ferry-part'), original.subarray(0, 2 * PLAIN_CHUNK));
    const got = await ok(['get', `vault/deep er/dir/${name}`, '-o', back], laptop);
    expect(got.stdout).toContain('kept 2 chunks');
    expect(fileSha256(back)).toBe(sha256(original));
  });

  describe('a relay that tampers', () => {
    let alice: FerryClient;
    let db: Database.Database;
    beforeAll(async () => {
      alice = await signIn(env.relay, ALICE.name, ALICE.password);
      db = new Database(path.join(env.relay.dataDir, 'ferry.db'));
      db.pragma('busy_timeout = 5000');
      const a = local('swap-a.txt', 3 * PLAIN_CHUNK);
      const b = local('swap-b.txt', 3 * PLAIN_CHUNK);
      await ok(['put', a.file, b.file, '--to', 'vault/swap'], laptop);
    });
    afterAll(() => {
      alice?.close();
      db?.close();
    });
    /** The relay's rows of a file in vault/swap, by its plain name's order of upload. */
    const rows = () =>
      db.prepare(`SELECT f.id AS file, v.id AS version, v.sealed FROM files f JOIN versions v ON v.id = f.current_version_id WHERE f.path LIKE 'vault/e1.%/e1.%' AND f.trash_id IS NULL ORDER BY f.id DESC LIMIT 2`).all() as { file: number; version: number; sealed: string }[];
    const getFails = async (name: string) => {
      const target = path.join(work, `tampered-${name}`);
      const r = await ferry(['get', `vault/swap/${name}`, '-o', target], { env: laptop });
      expect(existsSync(target)).toBe(false);
      return r.stderr;
    };

    it('a flipped bit in a stored chunk', async () => {
      const [b] = rows();
      const hash = (db.prepare('SELECT hash FROM version_chunks WHERE version_id = ? AND idx = 1').get(b.version) as { hash: string }).hash;
      const file = path.join(env.relay.dataDir, 'chunks', hash.slice(0, 2), hash.slice(2, 4), hash);
      const stored = existsSync(file) ? file : findChunkFile(env.relay.dataDir, hash);
      const bytes = readFileSync(stored);
      const saved = Buffer.from(bytes);
      bytes[1000] ^= 1;
      writeFileSync(stored, bytes);
      try {
        expect(await getFails('swap-b.txt')).toMatch(/^ferry: (DOWNLOAD_HASH_MISMATCH|INTEGRITY_FAILED|E2E_TAMPERED)/m);
      } finally {
        writeFileSync(stored, saved);
      }
    });

    it('a chunk swapped between two files (the chunk list and its hash made to agree)', async () => {
      const [b, a] = rows();
      const take = (db.prepare('SELECT hash, length, "offset" FROM version_chunks WHERE version_id = ? AND idx = 1').get(a.version) as { hash: string });
      const list = db.prepare('SELECT "offset", length, hash AS sha256 FROM version_chunks WHERE version_id = ? ORDER BY idx').all(b.version) as { offset: number; length: number; sha256: string }[];
      const before = { hash: list[1].sha256, content: (db.prepare('SELECT content_hash FROM versions WHERE id = ?').get(b.version) as { content_hash: string }).content_hash };
      list[1].sha256 = take.hash;
      db.prepare('UPDATE version_chunks SET hash = ? WHERE version_id = ? AND idx = 1').run(take.hash, b.version);
      db.prepare('UPDATE versions SET content_hash = ? WHERE id = ?').run(contentHash(list), b.version);
      try {
        expect(await getFails('swap-b.txt')).toMatch(/^ferry: E2E_TAMPERED: The relay's chunk list is not the one this version was sealed with/m);
      } finally {
        db.prepare('UPDATE version_chunks SET hash = ? WHERE version_id = ? AND idx = 1').run(before.hash, b.version);
        db.prepare('UPDATE versions SET content_hash = ? WHERE id = ?').run(before.content, b.version);
      }
    });

    it('one file served under another\'s name (their versions swapped)', async () => {
      const [b, a] = rows();
      const swap = db.transaction((x: typeof a, y: typeof a) => {
        db.prepare('UPDATE versions SET file_id = ?, num = -1 WHERE id = ?').run(y.file, x.version);
        db.prepare('UPDATE versions SET file_id = ? WHERE id = ?').run(x.file, y.version);
        db.prepare('UPDATE versions SET num = 1 WHERE id = ?').run(x.version);
        db.prepare('UPDATE files SET current_version_id = ? WHERE id = ?').run(x.version, y.file);
        db.prepare('UPDATE files SET current_version_id = ? WHERE id = ?').run(y.version, x.file);
      });
      swap(a, b);
      try {
        expect(await getFails('swap-b.txt')).toMatch(/^ferry: E2E_TAMPERED: This version was sealed as "swap-a.txt"/m);
      } finally {
        swap({ ...a, version: b.version }, { ...b, version: a.version });
      }
      await ok(['get', 'vault/swap/swap-b.txt', '-o', path.join(work, 'after-b.txt')], laptop);
    });

    it('a folder key replaced by one the relay made up', async () => {
      const row = db.prepare('SELECT e2e_id, envelope FROM folder_keys WHERE epoch = 1 LIMIT 1').get() as { e2e_id: string; envelope: string };
      const forged = Buffer.from(randomBytes(60)).toString('base64url');
      db.prepare('UPDATE folder_keys SET envelope = ? WHERE e2e_id = ?').run(forged, row.e2e_id);
      try {
        expect(await getFails('swap-a.txt')).toMatch(/^ferry: E2E_TAMPERED/m);
      } finally {
        db.prepare('UPDATE folder_keys SET envelope = ? WHERE e2e_id = ?').run(row.envelope, row.e2e_id);
      }
      // Untouched again, it reads.
      await ok(['get', 'vault/swap/swap-a.txt', '-o', path.join(work, 'after.txt')], laptop);
    });
  });

  it('a file renamed and moved in an encrypted folder keeps every version readable under its new name; the relay refuses a rename that leaves its versions sealed under the old one', async () => {
    await ok(['mkdir', 'renames', '--encrypted'], laptop);
    const v1 = local('draft.txt', 3000);
    await ok(['put', v1.file, '--to', 'renames'], laptop);
    const v2 = local('draft.txt', 5000);
    await ok(['put', v2.file, '--to', 'renames'], laptop);
    await ok(['put', local('other.txt', 100).file, '--to', 'renames'], laptop);
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      const files = (await alice.request('tree', { folder: 'renames' })).entries.filter((e) => e.kind === 'file');
      expect(files).toHaveLength(2);
      const [other, draft] = [...files].sort((a, b) => (a.size ?? 0) - (b.size ?? 0)).map((e) => e.path);
      await ok(['rm', 'renames/other.txt'], laptop);
      // The sealed entry moved to another sealed name with its versions' facts left naming
      // draft.txt (what a relay or an old client would do): refused, nothing moved.
      await expect(alice.request('move', { path: draft, to: other })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      const h = await alice.request('history', { path: draft });
      await expect(alice.request('move', { path: draft, to: other, reseal: [{ version: 1, sealed: h.versions.find((v) => v.version === 1)!.sealed! }] })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      expect((await alice.request('tree', { folder: 'renames' })).entries.filter((e) => e.kind === 'file').map((e) => e.path)).toEqual([draft]);
    } finally {
      alice.close();
    }
    await ok(['mv', 'renames/draft.txt', 'renames/older/final.txt'], laptop);
    const listed = JSON.parse((await ok(['ls', 'renames/older', '--json'], laptop)).stdout).entries as { name: string }[];
    expect(listed.map((e) => e.name)).toEqual(['final.txt']);
    const back = path.join(work, 'final-back.txt');
    await ok(['get', 'renames/older/final.txt', '-o', back], laptop);
    expect(fileSha256(back)).toBe(sha256(v2.data));
    await ok(['get', 'renames/older/final.txt', '--version', '1', '-o', back, '--force'], laptop);
    expect(fileSha256(back)).toBe(sha256(v1.data));
    // A second device reads it under the new name too.
    const phone = device('phone-renames');
    await ok(['login', env.relay.httpUrl, '--user', ALICE.name], { ...phone, FERRY_PASSWORD: ALICE.password });
    await ok(['unlock'], { ...phone, FERRY_PASSPHRASE: 'a brand new passphrase' });
    await ok(['get', 'renames/older/final.txt', '-o', path.join(work, 'phone-final.txt')], phone);
    expect(fileSha256(path.join(work, 'phone-final.txt'))).toBe(sha256(v2.data));
  });

  it('1 GiB: an upload killed half-way sends only what the relay lacked when run again; a download killed half-way keeps what it wrote; byte-identical', async () => {
    const big = path.join(work, 'big.bin');
    {
      // Distinct chunks, written fast: one random block, each MiB marked.
      const block = randomBytes(64 * 1024 * 1024);
      const fd = openSync(big, 'w');
      for (let at = 0; at < 1024 * 1024 * 1024; at += 1024 * 1024) {
        const piece = Buffer.from(block.subarray(at % block.length, (at % block.length) + 1024 * 1024));
        piece.writeUInt32BE(at / (1024 * 1024), 0);
        writeSync(fd, piece, 0, piece.length, at);
      }
      closeSync(fd);
    }
    const want = fileSha256(big);
    const chunkFiles = () => {
      let n = 0;
      const walk = (dir: string) => {
        for (const d of readdirSync(dir, { withFileTypes: true })) d.isDirectory() ? walk(path.join(dir, d.name)) : n++;
      };
      walk(path.join(env.relay.dataDir, 'chunks'));
      return n;
    };
    const before = chunkFiles();
    let pid = 0;
    const first = ferry(['put', big, '--to', 'resumes'], { env: laptop, onSpawn: (p) => (pid = p) });
    await waitFor(() => (chunkFiles() - before >= 100 ? true : undefined), 120_000);
    process.kill(pid, 'SIGKILL');
    expect((await first).signal).toBe('SIGKILL');
    const stored = chunkFiles() - before;
    const again = await ok(['put', big, '--to', 'resumes'], laptop);
    const [, total, sent] = /(\d+) chunks, (\d+) sent/.exec(again.stdout)!.map(Number);
    expect(total).toBeGreaterThanOrEqual(256);
    expect(sent).toBeLessThanOrEqual(total - stored + 16);

    const back = path.join(work, 'big-back.bin');
    const part = path.join(work, '.big-back.bin.ferry-part');
    let gpid = 0;
    const firstGet = ferry(['get', 'resumes/big.bin', '-o', back], { env: laptop, onSpawn: (p) => (gpid = p) });
    await waitFor(() => (existsSync(part) && statSync(part).size >= 400 * 1024 * 1024 ? true : undefined), 120_000);
    process.kill(gpid, 'SIGKILL');
    expect((await firstGet).signal).toBe('SIGKILL');
    const got = await ok(['get', 'resumes/big.bin', '-o', back], laptop);
    expect(Number(/kept (\d+) chunks/.exec(got.stdout)![1])).toBeGreaterThanOrEqual(90);
    expect(fileSha256(back)).toBe(want);
    rmSync(big);
    rmSync(back);
  }, 300_000);

  it('the relay refuses plain names and unsealed uploads inside, sealed ones outside, links and moves across', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      await expect(alice.request('mkdir', { path: 'vault/plain' })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      const list = await alice.request('list', { folder: 'vault' });
      const inside = list.entries.find((e) => e.kind === 'folder')!.path;
      expect(list.encrypted).toMatchObject({ root: 'vault' });
      await expect(alice.request('move', { path: inside, to: 'outside' })).rejects.toMatchObject({ code: 'E2E_NOT_ALLOWED' });
      const file = (await alice.request('tree', { folder: 'vault' })).entries.find((e) => e.kind === 'file')!;
      await expect(alice.request('link.create', { path: file.path })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      await expect(alice.request('zip.ticket', { paths: ['vault'] })).rejects.toMatchObject({ code: 'E2E_REQUIRED' });
      // Bob cannot see alice's My files at all, let alone her keys.
      const bob = await signIn(env.relay, BOB.name, BOB.password);
      expect((await bob.request('e2e.keys', {})).record).toBeUndefined();
      bob.close();
    } finally {
      alice.close();
    }
  });
});

function findChunkFile(dataDir: string, hash: string): string {
  const walk = (dir: string): string | undefined => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) {
        const f = walk(p);
        if (f) return f;
      } else if (d.name === hash || d.name.startsWith(hash)) return p;
    }
    return undefined;
  };
  const found = walk(path.join(dataDir, 'chunks'));
  if (!found || !statSync(found).isFile()) throw new Error(`no chunk file for ${hash}`);
  return found;
}
