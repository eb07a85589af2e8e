/**
 * Encrypted folders in a shared folder, from the CLI: the folder's key reaches each member
 * wrapped to their public key by a member who has it (the relay cannot make such a key,
 * nor read one); public keys are pinned on first use, so a key the relay swaps is refused;
 * when a member leaves, what is written next is sealed with a new key they never get.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ALICE, BOB, signIn, standardRelay } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { createAccountKeys } from '../../relay/crypto/account.js';
import type { FerryClient } from '../../relay/client/index.js';

const CAROL = { name: 'carol', password: 'carol-password-1' };
let env: Awaited<ReturnType<typeof standardRelay>>;
let admin: FerryClient;
let team: number;
const cli: Record<string, Record<string, string>> = {};

async function ok(who: string, args: string[]) {
  const r = await ferry(args, { env: cli[who] });
  expect(r.code, `${who}: ferry ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function fails(who: string, args: string[]) {
  const r = await ferry(args, { env: cli[who] });
  expect(r.code, `${who}: ferry ${args.join(' ')} should fail`).toBe(1);
  return r.stderr;
}

const member = (user: string, access: 'edit' | 'view' | 'none') => admin.request('folder.members', { folder: team, set: [{ user, access }] });

beforeAll(async () => {
  env = await standardRelay();
  admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
  await admin.request('user.add', { name: CAROL.name, password: CAROL.password, role: 'user' });
  team = (await admin.request('folder.create', { name: 'team', members: [{ user: ALICE.name, access: 'edit' }] })).id;
  for (const u of [ALICE, BOB, CAROL]) {
    cli[u.name] = { FERRY_CONFIG: path.join(env.tmp, `${u.name}.json`), FERRY_PASSWORD: u.password, FERRY_PASSPHRASE: `${u.name} has a passphrase` };
    await ok(u.name, ['login', env.relay.httpUrl, '--user', u.name]);
    await ok(u.name, ['keys', 'init']);
  }
});
afterAll(async () => {
  admin?.close();
  await env?.close();
});

function file(name: string, text: string): string {
  const p = path.join(env.tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('encrypted folders shared with members', () => {
  it('a member gets the key from one who has it, wrapped to their own public key', async () => {
    await ok('alice', ['mkdir', 'team:vault', '--encrypted']);
    await ok('alice', ['put', file('plan.txt', 'the plan'), '--to', 'team:vault']);
    // Bob joins: a member, but no one who holds the key has shared it with him yet.
    await member(BOB.name, 'edit');
    expect(await fails('bob', ['ls', 'team:vault'])).toMatch(/^ferry: E2E_LOCKED: You hold no key of this encrypted folder yet/m);
    // Alice's next look at the folder shares it (and pins Bob's public key).
    await ok('alice', ['ls', 'team:vault']);
    expect(await ok('bob', ['ls', 'team:vault'])).toContain('plan.txt');
    await ok('bob', ['get', 'team:vault/plan.txt', '-o', path.join(env.tmp, 'bob-plan.txt')]);
    // Each pinned the other's key as first seen, and can compare it.
    expect(await ok('alice', ['keys', 'show'])).toMatch(/bob +([0-9a-f]{4} ){15}[0-9a-f]{4}/);
    expect(await ok('bob', ['keys', 'show'])).toMatch(/alice +([0-9a-f]{4} ){15}[0-9a-f]{4}/);
    // The relay stored a key for bob that alice wrapped; it holds no plaintext key of anyone.
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'), { readonly: true });
    const rows = db.prepare('SELECT u.name AS user, f.name AS sender FROM folder_keys k JOIN users u ON u.id = k.user_id LEFT JOIN users f ON f.id = k.from_user_id ORDER BY u.name').all();
    db.close();
    expect(rows).toEqual([{ user: 'alice', sender: null }, { user: 'bob', sender: 'alice' }]);
  });

  it('a public key the relay swaps is refused: nothing is shared with it', async () => {
    await member(CAROL.name, 'edit');
    await ok('alice', ['ls', 'team:vault']);
    expect(await ok('carol', ['ls', 'team:vault'])).toContain('plan.txt');
    // The relay replaces Carol's public key with one it made (its own private key), then a
    // member leaves, so Alice's client makes a new key and wraps it for every member.
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'));
    db.pragma('busy_timeout = 5000');
    const carolId = (db.prepare('SELECT id FROM users WHERE name = ?').get(CAROL.name) as { id: number }).id;
    const real = (db.prepare('SELECT record FROM user_keys WHERE user_id = ?').get(carolId) as { record: string }).record;
    const forged = (await createAccountKeys('the relay chose this one', { algorithm: 'argon2id', memoryKiB: 1024, iterations: 1, parallelism: 1 })).record;
    db.prepare('UPDATE user_keys SET record = ? WHERE user_id = ?').run(JSON.stringify({ ...JSON.parse(real), publicKey: forged.publicKey }), carolId);
    await member(BOB.name, 'none');
    expect(await fails('alice', ['put', file('second.txt', 'after bob left'), '--to', 'team:vault'])).toMatch(/^ferry: E2E_KEY_CHANGED: The relay gives carol another public key/m);
    expect((db.prepare('SELECT max(epoch) AS e FROM folder_keys').get() as { e: number }).e).toBe(1);
    db.prepare('UPDATE user_keys SET record = ? WHERE user_id = ?').run(real, carolId);
    db.close();
  });

  it('after a member left, what is written is sealed with a new key they never get', async () => {
    // Bob is gone (the test above): the next write makes epoch 2, wrapped for alice and carol.
    await ok('alice', ['put', file('second.txt', 'after bob left'), '--to', 'team:vault']);
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'), { readonly: true });
    expect(db.prepare('SELECT u.name AS user FROM folder_keys k JOIN users u ON u.id = k.user_id WHERE k.epoch = 2 ORDER BY u.name').all()).toEqual([{ user: 'alice' }, { user: 'carol' }]);
    db.close();
    expect(await ok('carol', ['ls', 'team:vault'])).toContain('second.txt');
    // Bob back as a member (before anyone shares the new key with him): he reads what he
    // could before, not what was written while he was away.
    await member(BOB.name, 'edit');
    await ok('bob', ['get', 'team:vault/plan.txt', '-o', path.join(env.tmp, 'bob-plan-2.txt'), '--force']);
    expect(await fails('bob', ['get', 'team:vault/second.txt', '-o', path.join(env.tmp, 'bob-second.txt')])).toMatch(/^ferry: E2E_LOCKED: This device has no key of epoch 2/m);
  });
});
