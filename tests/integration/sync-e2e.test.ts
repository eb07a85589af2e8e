/**
 * `ferry sync` in an end-to-end encrypted folder: two devices of one person, real relay,
 * real CLI processes. Everything a plain pair does still holds — files, empty folders,
 * the executable bit, a 10 % change sending about 10 %, renames as moves, conflicts
 * keeping both versions, deletes — while the relay's data folder never holds a name or
 * a byte of content in the clear.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, standardRelay } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { fileSha256, folderTree as tree } from '../helpers/files.js';

let env: Awaited<ReturnType<typeof standardRelay>>;
const PASSPHRASE = 'sync passphrase of alice';
const CANARY = randomBytes(32);
const SECRET_NAME = `secret-${randomBytes(5).toString('hex')}`;

interface Device {
  name: string;
  dir: string;
  env: Record<string, string>;
}

async function device(name: string): Promise<Device> {
  const home = path.join(env.tmp, `e2e-${name}`);
  const dir = path.join(home, 'folder');
  mkdirSync(dir, { recursive: true });
  const dEnv = { FERRY_CONFIG: path.join(home, 'config.json'), FERRY_PASSWORD: ALICE.password, FERRY_PASSPHRASE: PASSPHRASE };
  expect((await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: dEnv })).code).toBe(0);
  return { name, dir, env: dEnv };
}

async function once(d: Device) {
  const r = await ferry(['sync', d.dir, 'vault/docs', '--device', d.name, '--once'], { env: d.env });
  expect(r.code, `${d.name}: ${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

function put(file: string, data: Uint8Array | string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, data);
  const t = new Date(Date.now() - 5000);
  utimesSync(file, t, t);
}

let a: Device;
let b: Device;

beforeAll(async () => {
  env = await standardRelay();
  a = await device('laptop');
  b = await device('desk');
  expect((await ferry(['keys', 'init'], { env: a.env })).code).toBe(0);
  expect((await ferry(['mkdir', 'vault', '--encrypted'], { env: a.env })).code).toBe(0);
  expect((await ferry(['unlock'], { env: b.env })).code).toBe(0);
});
afterAll(() => env?.close());

describe('ferry sync in an encrypted folder', () => {
  it('files, folders and the executable bit go both ways, named and sealed only on the devices', async () => {
    const big = randomBytes(20 * 1024 * 1024);
    CANARY.copy(big, 1000);
    put(path.join(a.dir, `${SECRET_NAME}.bin`), big);
    put(path.join(a.dir, 'notes', 'todo.txt'), 'buy milk');
    mkdirSync(path.join(a.dir, 'empty'));
    put(path.join(a.dir, 'run.sh'), '#!/bin/sh\n');
    chmodSync(path.join(a.dir, 'run.sh'), 0o755);
    await once(a);
    await once(b);
    expect(tree(b.dir)).toEqual(tree(a.dir));
    expect(statSync(path.join(b.dir, 'run.sh')).mode & 0o100).toBe(0o100);
    // What the relay shows anyone: sealed names only.
    const ls = JSON.parse((await ferry(['ls', 'vault', '--json'], { env: { ...a.env } })).stdout);
    expect(ls.entries.map((e: { name: string }) => e.name)).toEqual(['docs']);
    expect(readdirSync(env.relay.dataDir).length).toBeGreaterThan(0);
  });

  it('a 10 % change is sent and fetched as about 10 %; a rename is a move; a delete goes to the trash', async () => {
    const file = path.join(a.dir, `${SECRET_NAME}.bin`);
    const fd = openSync(file, 'r+');
    writeSync(fd, randomBytes(2 * 1024 * 1024), 0, 2 * 1024 * 1024, 10 * 1024 * 1024);
    closeSync(fd);
    const t = new Date(Date.now() - 5000);
    utimesSync(file, t, t);
    const upOut = await once(a);
    const sent = Number(/sent [^ ]+\.bin \((\d+) bytes/.exec(upOut)?.[1]);
    if (!(sent <= 8 * 1024 * 1024 + 64)) console.log(upOut);
    const fetched = Number(/fetched [^ ]+\.bin \((\d+) bytes/.exec(await once(b))?.[1]);
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(8 * 1024 * 1024 + 64);
    expect(fetched).toBeLessThanOrEqual(8 * 1024 * 1024 + 64);
    expect(fileSha256(path.join(b.dir, `${SECRET_NAME}.bin`))).toBe(fileSha256(file));

    renameSync(path.join(b.dir, 'notes'), path.join(b.dir, 'plans'));
    const moved = await once(b);
    expect(moved).toMatch(/moved notes\/todo\.txt → plans\/todo\.txt on the relay/);
    expect(await once(a)).toMatch(/moved notes\/todo\.txt → plans\/todo\.txt here/);
    // A file renamed: a move on the relay with its versions sealed again under the new name,
    // so it downloads under that name anywhere.
    renameSync(path.join(b.dir, 'plans', 'todo.txt'), path.join(b.dir, 'plans', 'done.txt'));
    expect(await once(b)).toMatch(/moved plans\/todo\.txt → plans\/done\.txt on the relay/);
    expect(await once(a)).toMatch(/moved plans\/todo\.txt → plans\/done\.txt here/);
    const fresh = path.join(env.tmp, 'done-fresh.txt');
    const got = await ferry(['get', 'vault/docs/plans/done.txt', '-o', fresh], { env: a.env });
    expect(got.code, got.stderr).toBe(0);
    expect(fileSha256(fresh)).toBe(fileSha256(path.join(a.dir, 'plans', 'done.txt')));
    renameSync(path.join(b.dir, 'plans', 'done.txt'), path.join(b.dir, 'plans', 'todo.txt'));
    expect(await once(b)).toMatch(/moved plans\/done\.txt → plans\/todo\.txt on the relay/);
    expect(await once(a)).toMatch(/moved plans\/done\.txt → plans\/todo\.txt here/);
    rmSync(path.join(a.dir, 'run.sh'));
    await once(a);
    await once(b);
    expect(existsSync(path.join(b.dir, 'run.sh'))).toBe(false);
    expect(tree(b.dir)).toEqual(tree(a.dir));
  });

  it('the same file edited on both devices: both versions kept, a conflict copy on each', async () => {
    put(path.join(a.dir, 'plans', 'todo.txt'), 'laptop edit');
    put(path.join(b.dir, 'plans', 'todo.txt'), 'desk edit');
    await once(a);
    expect(await once(b)).toMatch(/conflict: plans\/todo\.txt changed here and on the relay; this device's version is now plans\/todo \(conflict from desk/);
    await once(a);
    expect(tree(b.dir)).toEqual(tree(a.dir));
    const copies = readdirSync(path.join(a.dir, 'plans'));
    expect(copies.sort()).toEqual(['todo (conflict from desk ' + copies.find((n) => n.includes('conflict'))!.slice('todo (conflict from desk '.length), 'todo.txt'].sort());
    expect(readFileSync(path.join(a.dir, 'plans', 'todo.txt'), 'utf8')).toBe('laptop edit');
    expect(readFileSync(path.join(a.dir, 'plans', copies.find((n) => n.includes('conflict'))!), 'utf8')).toBe('desk edit');
  });

  it('nothing in the clear in the relay\'s data folder; a locked device does not sync', async () => {
    const needles = [CANARY, Buffer.from(SECRET_NAME), Buffer.from('todo.txt'), Buffer.from('buy milk'), Buffer.from('desk edit'), Buffer.from('plans')];
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.isFile()) for (const n of needles) if (readFileSync(p).includes(n)) found.push(`${p}: ${n.toString().slice(0, 20)}`);
      }
    };
    walk(env.relay.dataDir);
    expect(found).toEqual([]);
    expect((await ferry(['lock'], { env: b.env })).code).toBe(0);
    const r = await ferry(['sync', b.dir, 'vault/docs', '--device', b.name, '--once'], { env: b.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ferry: E2E_LOCKED/m);
  });
});
