/**
 * Access control tried directly on the wire: roles and sign-outs that change while a
 * connection is open, throttles raced with concurrent guesses, lockouts an attacker
 * would like to cause, a flood of sign-ins beside a running upload, origins and host
 * names, the data folder's permissions, share-link cookies, quotas and caps.
 */
import { createHmac } from 'node:crypto';
import { readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHUNK_SIZE, MAX_CONTROL_BYTES, SUBPROTOCOL, contentHash } from '../../relay/protocol/index.js';
import { FerryClient, uploadFile } from '../../relay/client/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { ADMIN, ALICE, BOB, addUsers, relayLog, signIn, standardRelay, waitFor } from '../helpers/relay.js';
import { rawClient, upgradeStatus, type RawClient } from '../helpers/raw.js';
import { bufferSource, randomData, sha256 } from '../helpers/files.js';

let nextId = 1;
const req = (type: string, body: object = {}) => ({ type, id: nextId++, ...body });
const MiB = 1024 * 1024;
const CAROL = { name: 'carol', password: 'carol-password', role: 'admin' as const };

async function rawAs(url: string, user: { name: string; password: string }, opts: WebSocket.ClientOptions = {}): Promise<RawClient> {
  const raw = await rawClient(url, {}, opts);
  const r = await raw.request(req('login', { user: user.name, password: user.password }));
  if (r.type !== 'reply') throw new Error(`login failed: ${r.code}`);
  return raw;
}

describe('roles, sign-outs and throttles on open connections', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  beforeAll(async () => {
    env = await standardRelay();
    await addUsers(env.relay.dataDir, [CAROL]);
  });
  afterAll(() => env?.close());

  it('a demoted admin loses every admin power on the connection already open', async () => {
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    const carol = await rawAs(env.relay.wsUrl, CAROL);
    const lines: unknown[] = [];
    try {
      expect(await carol.request(req('user.list'))).toMatchObject({ type: 'reply' });
      expect(await carol.request(req('log.subscribe'))).toMatchObject({ type: 'reply' });
      carol.ws.on('message', (m) => {
        const msg = JSON.parse(String(m));
        if (msg.type === 'log.line') lines.push(msg.line);
      });
      await admin.request('user.update', { name: 'carol', role: 'user' });
      await new Promise((r) => setTimeout(r, 100));
      lines.length = 0;
      expect(await carol.request(req('user.list'))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await carol.request(req('log.read', { from: 0, to: Date.now() }))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await carol.request(req('user.add', { name: 'mallory', role: 'admin', password: 'mallory-password' }))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await carol.request(req('user.update', { name: 'carol', role: 'admin' }))).toMatchObject({ code: 'FORBIDDEN' });
      expect(await carol.request(req('link.list', { all: true }))).toMatchObject({ code: 'FORBIDDEN' });
      // The live log stopped with the role: new lines do not reach her.
      (await signIn(env.relay, BOB.name, BOB.password)).close();
      await new Promise((r) => setTimeout(r, 300));
      expect(lines).toEqual([]);
      expect((await admin.request('user.list', {})).users.find((u) => u.name === 'mallory')).toBeUndefined();
    } finally {
      await admin.request('user.update', { name: 'carol', role: 'admin' });
      carol.close();
      admin.close();
    }
  });

  it('a disabled admin is refused on the open connection, whatever they send', async () => {
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    const carol = await rawAs(env.relay.wsUrl, CAROL);
    try {
      // The relay closes her connections; a frame that still arrives meets a refused session.
      const gone = new Promise<number>((r) => carol.ws.once('close', (code) => r(code)));
      await admin.request('user.update', { name: 'carol', disabled: true });
      expect(await gone).toBe(4001);
      const again = await rawClient(env.relay.wsUrl);
      expect(await again.request(req('login', { user: CAROL.name, password: CAROL.password }))).toMatchObject({ code: 'ACCOUNT_DISABLED' });
      again.close();
    } finally {
      await admin.request('user.update', { name: 'carol', disabled: false });
      carol.close();
      admin.close();
    }
  });

  it('logout ends every connection signed in with that session', async () => {
    const first = await signIn(env.relay, BOB.name, BOB.password);
    const token = first.token!;
    const states: string[] = [];
    const second = new FerryClient({ url: env.relay.wsUrl, createSocket: nodeSocketFactory, token, onState: (s) => states.push(s) });
    await second.connect();
    try {
      expect((await second.request('list', { folder: '' })).folder).toBe('');
      await first.logout();
      await expect.poll(() => states.at(-1)).toBe('closed');
      await expect(second.request('list', { folder: '' })).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
      const reuse = new FerryClient({ url: env.relay.wsUrl, createSocket: nodeSocketFactory, token, reconnect: false });
      await expect(reuse.connect()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    } finally {
      first.close();
      second.close();
    }
  });

  it('judges 100 concurrent wrong sign-ins on one connection one by one: 5 checked, the rest and the right one throttled', async () => {
    const raw = await rawClient(env.relay.wsUrl, {}, { localAddress: '127.0.0.5' });
    try {
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => raw.request(req('login', { user: BOB.name, password: `wrong-${i}` }))));
      const right = await raw.request(req('login', { user: BOB.name, password: BOB.password }));
      const count = (code: string) => answers.filter((a) => a.code === code).length;
      expect(count('LOGIN_FAILED')).toBe(5);
      expect(count('LOGIN_THROTTLED')).toBe(95);
      expect(right).toMatchObject({ code: 'LOGIN_THROTTLED' });
    } finally {
      raw.close();
    }
  });

  it('does not let guesses from elsewhere lock a person out: other addresses, known devices and sessions go on', async () => {
    const victim = await signIn(env.relay, ALICE.name, ALICE.password);
    const device = (await victim.login(ALICE.name, ALICE.password)).device;
    try {
      // 5 guesses from each of 11 addresses: past the account's limit for new devices.
      const codes: string[] = [];
      for (let a = 10; a < 21; a++) {
        const raw = await rawClient(env.relay.wsUrl, {}, { localAddress: `127.0.0.${a}` });
        for (let i = 0; i < 5; i++) codes.push((await raw.request(req('login', { user: ALICE.name, password: `guess-${a}-${i}` }))).code);
        raw.close();
      }
      expect(codes.filter((c) => c === 'LOGIN_FAILED')).toHaveLength(50);
      expect(codes.filter((c) => c === 'LOGIN_THROTTLED')).toHaveLength(5);
      // A new device of alice's now waits…
      const fresh = await rawClient(env.relay.wsUrl, {}, { localAddress: '127.0.0.30' });
      expect(await fresh.request(req('login', { user: ALICE.name, password: ALICE.password }))).toMatchObject({ code: 'LOGIN_THROTTLED' });
      // …but the device she signed in from before signs in at once, from anywhere,
      expect(await fresh.request(req('login', { user: ALICE.name, password: ALICE.password, device }))).toMatchObject({ type: 'reply', body: { device } });
      fresh.close();
      // her open session never noticed, and another user behind the attacker's address is fine.
      expect((await victim.request('list', { folder: '' })).folder).toBe('');
      const neighbour = await rawClient(env.relay.wsUrl, {}, { localAddress: '127.0.0.10' });
      expect(await neighbour.request(req('login', { user: BOB.name, password: BOB.password }))).toMatchObject({ type: 'reply' });
      neighbour.close();
    } finally {
      victim.close();
    }
  });

  it('throttles password.change guesses through a stolen session', async () => {
    const raw = await rawAs(env.relay.wsUrl, ADMIN);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => raw.request(req('password.change', { current: `nope-${i}`, password: 'whatever-long' }))));
      expect(answers.filter((a) => a.code === 'LOGIN_FAILED')).toHaveLength(5);
      expect(answers.filter((a) => a.code === 'LOGIN_THROTTLED')).toHaveLength(15);
    } finally {
      raw.close();
    }
  });

  it("a burst of 300 sign-ins does not hold up another user's chunk acknowledgements", async () => {
    const alice = await signIn(env.relay, ADMIN.name, ADMIN.password);
    const data = randomData(96 * MiB);
    let last = Date.now();
    let longest = 0;
    const upload = uploadFile(alice, bufferSource(data), {
      path: 'burst/victim.bin',
      window: 4,
      onProgress: (p) => {
        if (p.phase !== 'uploading') return;
        longest = Math.max(longest, Date.now() - last);
        last = Date.now();
      },
    });
    // 10 addresses × 30 sign-ins as users who do not exist (each still costs a scrypt).
    const burst = Promise.all(
      Array.from({ length: 10 }, async (_, a) => {
        const raw = await rawClient(env.relay.wsUrl, {}, { localAddress: `127.0.1.${a + 1}` });
        const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => raw.request(req('login', { user: `nobody${a}x${i}`, password: 'x' }))));
        raw.close();
        return answers;
      }),
    );
    const [answers, r] = await Promise.all([burst, upload]);
    expect(r.sha256).toBe(sha256(data));
    for (const a of answers.flat()) expect(['LOGIN_FAILED', 'LOGIN_THROTTLED', 'RELAY_BUSY']).toContain(a.code);
    // Before, such a burst held one chunk acknowledgement up for 27.6 s.
    expect(longest).toBeLessThan(3000);
    alice.close();
  });
});

describe('share links: cookies, passwords, owners, damage', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let alice: FerryClient;
  let admin: FerryClient;
  beforeAll(async () => {
    env = await standardRelay();
    alice = await signIn(env.relay, ALICE.name, ALICE.password);
    admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
  });
  afterAll(async () => {
    alice?.close();
    admin?.close();
    await env?.close();
  });

  it('judges 61 concurrent link-password guesses one by one', async () => {
    await uploadFile(alice, bufferSource(Buffer.from('guarded')), { path: 'guarded.txt' });
    const link = await alice.request('link.create', { path: 'guarded.txt', password: 'right one' });
    const post = (password: string) => fetch(`${env.relay.httpUrl}${link.url}`, { method: 'POST', body: new URLSearchParams({ password }), redirect: 'manual' });
    const statuses = await Promise.all(Array.from({ length: 61 }, (_, i) => post(`wrong ${i}`).then((r) => r.status)));
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(56);
    expect((await post('right one')).status).toBe(429);
  });

  it('an unlock cookie carries its time: it stops working after a day, and cannot be moved in time', async () => {
    await uploadFile(alice, bufferSource(Buffer.from('timed')), { path: 'timed.txt' });
    const link = await alice.request('link.create', { path: 'timed.txt', password: 'open sesame' });
    const ok = await fetch(`${env.relay.httpUrl}${link.url}`, { method: 'POST', body: new URLSearchParams({ password: 'open sesame' }), redirect: 'manual' });
    const setCookie = ok.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).not.toMatch(/Secure/); // plain http here; over https it gets Secure
    const cookie = setCookie.split(';')[0];
    const [name, value] = cookie.split('=');
    const [issued, mac] = value.split('.');
    expect(Number(issued)).toBeGreaterThan(Date.now() - 60_000);
    const file = (c: string) => fetch(`${env.relay.httpUrl}${link.url}/file`, { headers: { cookie: c } }).then((r) => r.status);
    expect(await file(cookie)).toBe(200);
    // The same proof with another time is refused…
    expect(await file(`${name}=${Date.now()}.${mac}`)).toBe(401);
    // …and a cookie made with the relay's own key, issued 25 hours ago, is too old.
    // (The key is shared by every relay on one database, so it lives there.)
    const old = Date.now() - 25 * 3_600_000;
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path.join(env.relay.dataDir, 'ferry.db'), { readonly: true });
    const passwordHash = db.prepare('SELECT password_hash FROM share_links WHERE id = ?').pluck().get(link.id) as string;
    const secret = Buffer.from(db.prepare("SELECT value FROM shared_values WHERE name = 'link-secret'").pluck().get() as string, 'base64');
    db.close();
    expect(secret.length).toBe(32);
    const forged = createHmac('sha256', secret).update(`${link.id}:${passwordHash}:${old}`).digest('base64url');
    expect(await file(`${name}=${old}.${forged}`)).toBe(401);
    const recent = Date.now() - 1000; // one time for both: two clock reads can differ by a millisecond
    const fresh = createHmac('sha256', secret).update(`${link.id}:${passwordHash}:${recent}`).digest('base64url');
    expect(await file(`${name}=${recent}.${fresh}`)).toBe(200);
  });

  it("a disabled user's links stop working, and work again when they are enabled", async () => {
    const bob = await signIn(env.relay, BOB.name, BOB.password);
    await uploadFile(bob, bufferSource(Buffer.from('bob shares')), { path: 'bobs.txt' });
    const link = await bob.request('link.create', { path: 'bobs.txt' });
    bob.close();
    const url = `${env.relay.httpUrl}${link.url}`;
    expect((await fetch(`${url}/file`)).status).toBe(200);
    await admin.request('user.update', { name: 'bob', disabled: true });
    expect((await fetch(`${url}/file`)).status).toBe(410);
    expect(await (await fetch(url)).text()).toContain('can no longer share');
    await admin.request('user.update', { name: 'bob', disabled: false });
    expect((await fetch(`${url}/file`)).status).toBe(200);
  });

  it('ends a link download at once when a chunk is missing from storage, and logs INTEGRITY_FAILED', async () => {
    const data = randomData(2 * CHUNK_SIZE);
    const up = await uploadFile(alice, bufferSource(data), { path: 'damaged.bin' });
    const link = await alice.request('link.create', { path: 'damaged.bin' });
    const victim = up.chunks[1].sha256;
    rmSync(path.join(env.relay.dataDir, 'chunks', victim.slice(0, 2), victim.slice(2, 4), victim));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5000);
    const res = await fetch(`${env.relay.httpUrl}${link.url}/file`, { signal: controller.signal });
    clearTimeout(timer);
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('INTEGRITY_FAILED');
    await waitFor(() => relayLog(env.relay.dataDir).find((l) => l.code === 'INTEGRITY_FAILED' && l.id === link.id));
  });

  it('refuses a link expiry past its bound, and links stay listable', async () => {
    await expect(alice.request('link.create', { path: 'damaged.bin', expiresInMs: Number.MAX_SAFE_INTEGER })).rejects.toMatchObject({ code: 'BAD_MESSAGE' });
    const long = await alice.request('link.create', { path: 'damaged.bin', expiresInMs: 50 * 365 * 86_400_000 });
    expect(long.expiresAt).toBeGreaterThan(Date.now());
    expect((await alice.request('link.list', {})).links.length).toBeGreaterThan(0);
    expect((await admin.request('link.list', { all: true })).links.length).toBeGreaterThan(0);
  });
});

describe('origins, host names and the data folder', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  beforeAll(async () => {
    env = await standardRelay(['--hosts', 'ferry.lan', '--public-url', 'https://files.example.org/']);
  });
  afterAll(() => env?.close());

  const status = (headers: Record<string, string>) => upgradeStatus(env.relay.wsUrl, headers, SUBPROTOCOL);

  it("lets a browser connect only from the relay's own origin, by one of its own names, over the same scheme", async () => {
    const port = env.relay.port;
    expect(await status({ Origin: `http://127.0.0.1:${port}` })).toBe(101);
    expect(await status({ Origin: `http://localhost:${port}`, Host: `localhost:${port}` })).toBe(101);
    expect(await status({ Origin: `http://ferry.lan:${port}`, Host: `ferry.lan:${port}` })).toBe(101);
    // DNS rebinding: a hostile name that resolves to the relay, so Origin equals Host.
    expect(await status({ Origin: `http://evil.example:${port}`, Host: `evil.example:${port}` })).toBe(403);
    // Another scheme, another port, another page.
    expect(await status({ Origin: `https://127.0.0.1:${port}` })).toBe(403);
    expect(await status({ Origin: `http://127.0.0.1:${port + 1}` })).toBe(403);
    expect(await status({ Origin: 'http://evil.example' })).toBe(403);
    // Clients that are not browsers send no Origin.
    expect(await status({})).toBe(101);
    // The public address (a proxy in front terminates TLS) is the relay's own origin too.
    expect(await status({ Origin: 'https://files.example.org', Host: 'files.example.org' })).toBe(101);
  });

  it('puts the public address in links and prints it at start', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      await uploadFile(alice, bufferSource(Buffer.from('public')), { path: 'pub.txt' });
      const link = await alice.request('link.create', { path: 'pub.txt' });
      expect(link.href).toBe(`https://files.example.org/s/${link.id}`);
      expect(env.relay.output()).toContain('public address: https://files.example.org');
    } finally {
      alice.close();
    }
  });

  it('keeps the database, chunks and logs private to the relay: 0600 files in 0700 folders', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    const up = await uploadFile(alice, bufferSource(randomData(1000)), { path: 'private.bin' });
    alice.close();
    const d = env.relay.dataDir;
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(d)).toBe(0o700);
    for (const f of ['ferry.db']) expect(mode(path.join(d, f)), f).toBe(0o600);
    const h = up.chunks[0].sha256;
    expect(mode(path.join(d, 'chunks'))).toBe(0o700);
    expect(mode(path.join(d, 'chunks', h.slice(0, 2)))).toBe(0o700);
    expect(mode(path.join(d, 'chunks', h.slice(0, 2), h.slice(2, 4), h))).toBe(0o600);
    expect(mode(path.join(d, 'logs'))).toBe(0o700);
    for (const f of readdirSync(path.join(d, 'logs')).filter((f) => f.endsWith('.log') && f !== 'current.log')) expect(mode(path.join(d, 'logs', f)), f).toBe(0o600);
  });
});

describe('quotas, caps and sizes', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  beforeAll(async () => {
    env = await standardRelay(['--quota', '10M'], { FERRY_LIMITS: JSON.stringify({ MAX_OPEN_UPLOADS_PER_USER: 3 }) });
  });
  afterAll(() => env?.close());

  it('refuses uploads and restores past the quota with QUOTA_EXCEEDED, and not for admins', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    try {
      await uploadFile(alice, bufferSource(randomData(6 * MiB)), { path: 'q/one.bin' });
      await expect(uploadFile(alice, bufferSource(randomData(6 * MiB)), { path: 'q/two.bin' })).rejects.toMatchObject({
        code: 'QUOTA_EXCEEDED',
        detail: { quotaBytes: 10 * MiB, usedBytes: 6 * MiB, neededBytes: 6 * MiB },
      });
      await expect(alice.request('restore', { path: 'q/one.bin', version: 1 })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
      expect((await alice.request('list', { folder: 'q' })).entries.map((e) => e.name)).toEqual(['one.bin']);
      await uploadFile(admin, bufferSource(randomData(12 * MiB)), { path: 'q/admins.bin' });
    } finally {
      alice.close();
      admin.close();
    }
  });

  it('caps unfinished uploads per user: live ones refuse more, idle ones make room', async () => {
    const raw = await rawAs(env.relay.wsUrl, BOB);
    const begin = (n: number, r: RawClient = raw) =>
      r.request(req('upload.begin', { path: `cap/${n}.bin`, size: 10, mtime: 0, chunks: [{ offset: 0, length: 10, sha256: sha256(Buffer.alloc(10, n)) }] }));
    for (let n = 0; n < 3; n++) expect(await begin(n)).toMatchObject({ type: 'reply' });
    expect(await begin(3)).toMatchObject({ code: 'TOO_MANY_UPLOADS' });
    raw.close();
    await new Promise((r) => setTimeout(r, 200));
    // Those three are idle now: the oldest gives way.
    const again = await rawAs(env.relay.wsUrl, BOB);
    expect(await begin(4, again)).toMatchObject({ type: 'reply' });
    again.close();
  });

  it('refuses chunk lists over 1024 in one message and control messages over 1 MiB, with BAD_MESSAGE', async () => {
    const raw = await rawAs(env.relay.wsUrl, BOB);
    try {
      const chunks = Array.from({ length: 1025 }, (_, i) => ({ offset: i, length: 1, sha256: '0'.repeat(64) }));
      expect(await raw.request(req('upload.begin', { path: 'long.bin', size: 1025, mtime: 0, chunks }))).toMatchObject({ code: 'BAD_MESSAGE' });
      expect(await raw.request(req('list', { folder: 'x'.repeat(MAX_CONTROL_BYTES) }))).toMatchObject({ code: 'BAD_MESSAGE' });
      // A long list in several messages is fine.
      const ok = await raw.request(req('upload.begin', { path: 'long.bin', size: 1025, mtime: 0, chunks: chunks.slice(0, 1024), partial: true }));
      expect(ok.body.need).toHaveLength(1024);
      expect(await raw.request(req('upload.extend', { handle: ok.body.handle, from: 1024, chunks: chunks.slice(1024) }))).toMatchObject({ body: { need: [1024] } });
      expect(await raw.request(req('upload.commit', { upload: ok.body.upload, contentHash: contentHash(chunks) }))).toMatchObject({ code: 'CHUNKS_MISSING' });
    } finally {
      raw.close();
    }
  });

  it('refuses names with lone surrogates, and keeps names outside the BMP browsable', async () => {
    const raw = await rawAs(env.relay.wsUrl, BOB);
    try {
      for (const p of ['\uD800a.txt', '\uDC00a.txt', 'ok/\uDBFF']) expect(await raw.request(req('upload.begin', { path: p, size: 0, mtime: 0, chunks: [] }))).toMatchObject({ code: 'BAD_PATH' });
      const bob = await signIn(env.relay, BOB.name, BOB.password);
      await uploadFile(bob, bufferSource(Buffer.from('deep')), { path: 'p/😀/sub/file.txt' });
      expect((await bob.request('list', { folder: 'p' })).entries.map((e) => e.path)).toEqual(['p/😀']);
      expect((await bob.request('list', { folder: 'p/😀' })).entries.map((e) => e.path)).toEqual(['p/😀/sub']);
      expect((await bob.request('list', { folder: 'p/😀/sub' })).entries.map((e) => e.name)).toEqual(['file.txt']);
      bob.close();
    } finally {
      raw.close();
    }
  });
});
