import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile } from '../../relay/client/index.js';
import { SUBPROTOCOL, contentHash } from '../../relay/protocol/index.js';
import { ALICE, BOB, signIn, standardRelay } from '../helpers/relay.js';
import { rawClient, upgradeStatus, type RawClient } from '../helpers/raw.js';
import { bufferSource } from '../helpers/files.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let nextId = 1;
const req = (type: string, body: object = {}) => ({ type, id: nextId++, ...body });

describe('bad input gets a stable error code and the relay keeps serving', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let raw: RawClient;
  beforeAll(async () => {
    env = await standardRelay();
    raw = await rawClient(env.relay.wsUrl);
  });
  afterAll(async () => {
    raw?.close();
    await env?.close();
  });

  it('refuses any operation before login with AUTH_REQUIRED (text and binary)', async () => {
    const anon = await rawClient(env.relay.wsUrl);
    try {
      expect(await anon.request(req('list', { folder: '' }))).toMatchObject({ type: 'error', code: 'AUTH_REQUIRED' });
      expect(await anon.request(req('upload.begin', { path: 'a', size: 0, mtime: 0, chunks: [] }))).toMatchObject({ code: 'AUTH_REQUIRED' });
      expect(await anon.chunk(1, 0, new Uint8Array(10))).toMatchObject({ type: 'error', code: 'AUTH_REQUIRED' });
    } finally {
      anon.close();
    }
  });

  it('refuses a wrong password with LOGIN_FAILED and a bad token with SESSION_EXPIRED', async () => {
    const anon = await rawClient(env.relay.wsUrl);
    try {
      expect(await anon.request(req('login', { user: 'alice', password: 'nope' }))).toMatchObject({ code: 'LOGIN_FAILED' });
      expect(await anon.request(req('login', { user: 'nobody', password: 'nope' }))).toMatchObject({ code: 'LOGIN_FAILED' });
      expect(await anon.request(req('auth', { token: 'made-up' }))).toMatchObject({ code: 'SESSION_EXPIRED' });
    } finally {
      anon.close();
    }
  });

  it('refuses unknown message types and malformed messages', async () => {
    const m = req('fly.to.moon');
    expect(await raw.request(m)).toMatchObject({ type: 'error', id: m.id, code: 'UNKNOWN_MESSAGE_TYPE' });
    expect(await raw.request('not json')).toMatchObject({ code: 'BAD_MESSAGE' });
    expect(await raw.request(req('list', { folder: 42 }))).toMatchObject({ code: 'BAD_MESSAGE' });
    expect(await raw.request({ type: 'list' })).toMatchObject({ code: 'BAD_MESSAGE' });
  });

  it('signs in', async () => {
    expect(await raw.request(req('login', { user: ALICE.name, password: ALICE.password }))).toMatchObject({ type: 'reply', op: 'login' });
  });

  const badPaths: [string, string][] = [
    ['..', '../escape.txt'],
    ['.. inside', 'a/../../b'],
    ['absolute', '/etc/passwd'],
    ['drive letter', 'C:/x'],
    ['NUL', 'a\u0000b'],
    ['control character', 'bell\u0007.txt'],
    ['DEL', 'del\u007f'],
    ['empty segment', 'a//b'],
    ['over 255 bytes', `${'é'.repeat(128)}.txt`],
    ['empty', ''],
  ];
  for (const [label, path] of badPaths) {
    it(`refuses a path with ${label} with BAD_PATH`, async () => {
      expect(await raw.request(req('upload.begin', { path, size: 0, mtime: 0, chunks: [] }))).toMatchObject({ code: 'BAD_PATH' });
    });
  }

  it('accepts a name of exactly 255 bytes', async () => {
    const name = 'n'.repeat(255);
    expect(await raw.request(req('upload.begin', { path: name, size: 0, mtime: 0, chunks: [] }))).toMatchObject({ type: 'reply' });
  });

  it('refuses sizes that do not match the chunk list', async () => {
    const c = { offset: 0, length: 5, sha256: sha(new Uint8Array(5)) };
    expect(await raw.request(req('upload.begin', { path: 's.bin', size: 10, mtime: 0, chunks: [c] }))).toMatchObject({ code: 'SIZE_MISMATCH' });
    expect(await raw.request(req('upload.begin', { path: 's.bin', size: 10, mtime: 0, chunks: [c, { ...c, offset: 6 }] }))).toMatchObject({ code: 'BAD_CHUNK_LIST' });
    expect(await raw.request(req('upload.begin', { path: 's.bin', size: 2 ** 41, mtime: 0, chunks: [] }))).toMatchObject({ code: 'FILE_TOO_LARGE' });
    const huge = 17 * 1024 * 1024;
    expect(await raw.request(req('upload.begin', { path: 's.bin', size: huge, mtime: 0, chunks: [{ offset: 0, length: huge, sha256: c.sha256 }] }))).toMatchObject({
      code: 'CHUNK_TOO_LARGE',
    });
  });

  it('refuses chunks out of range, of the wrong length, or with a wrong hash', async () => {
    const data = Buffer.from('hello world');
    const list = [{ offset: 0, length: data.length, sha256: sha(data) }];
    const begin = await raw.request(req('upload.begin', { path: 'c.txt', size: data.length, mtime: 0, chunks: list }));
    expect(begin).toMatchObject({ type: 'reply', body: { need: [0] } });
    const handle = begin.body.handle;
    expect(await raw.chunk(handle, 7, data)).toMatchObject({ type: 'chunk.refused', index: 7, code: 'CHUNK_OUT_OF_RANGE' });
    expect(await raw.chunk(handle, 0, Buffer.from('hello'))).toMatchObject({ type: 'chunk.refused', code: 'CHUNK_LENGTH_MISMATCH' });
    expect(await raw.chunk(handle, 0, Buffer.from('HELLO WORLD'))).toMatchObject({ type: 'chunk.refused', code: 'CHUNK_HASH_MISMATCH' });
    expect(await raw.chunk(handle + 100, 0, data)).toMatchObject({ type: 'chunk.refused', code: 'UNKNOWN_UPLOAD' });
    // A commit before the chunk arrived is refused and nothing appears in the listing.
    expect(await raw.request(req('upload.commit', { upload: begin.body.upload, contentHash: contentHash(list) }))).toMatchObject({ code: 'CHUNKS_MISSING', detail: { missing: [0] } });
    const listing = await raw.request(req('list', { folder: '' }));
    expect(listing.body.entries.map((e: { name: string }) => e.name)).not.toContain('c.txt');
    expect(await raw.chunk(handle, 0, data)).toMatchObject({ type: 'chunk.ack', index: 0 });
    expect(await raw.request(req('upload.commit', { upload: begin.body.upload, contentHash: contentHash(list) }))).toMatchObject({ type: 'reply', body: { path: 'c.txt', sha256: sha(data) } });
    expect(await raw.request(req('upload.commit', { upload: 'f'.repeat(32), contentHash: contentHash(list) }))).toMatchObject({ code: 'UNKNOWN_UPLOAD' });
  });

  it('refuses delete by a user with FORBIDDEN and keeps the file', async () => {
    expect(await raw.request(req('delete', { path: 'c.txt' }))).toMatchObject({ code: 'FORBIDDEN' });
    expect(await raw.request(req('history', { path: 'c.txt' }))).toMatchObject({ type: 'reply' });
  });

  it('answers NOT_FOUND for missing files and versions', async () => {
    expect(await raw.request(req('download.begin', { path: 'missing.txt' }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await raw.request(req('download.begin', { path: 'c.txt', version: 9 }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await raw.request(req('verify', { path: 'nope' }))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses a WebSocket from a foreign origin and one without the protocol', async () => {
    const status = (headers: Record<string, string>, protocol?: string) => upgradeStatus(env.relay.wsUrl, headers, protocol);
    expect(await status({ Origin: 'http://evil.example' }, SUBPROTOCOL)).toBe(403);
    expect(await status({ Origin: env.relay.httpUrl }, SUBPROTOCOL)).toBe(101);
    expect(await status({})).toBe(426);
  });

  it('keeps serving everyone else after all of the above', async () => {
    const bob = await signIn(env.relay, BOB.name, BOB.password);
    try {
      const r = await uploadFile(bob, bufferSource(Buffer.from('still here')), { path: 'after.txt' });
      expect(r.sha256).toBe(sha(Buffer.from('still here')));
    } finally {
      bob.close();
    }
  });
});

describe('login throttling', () => {
  it('refuses further attempts for a user after 5 failures, even with the right password', async () => {
    const env = await standardRelay();
    const raw = await rawClient(env.relay.wsUrl);
    try {
      for (let i = 0; i < 5; i++) expect(await raw.request(req('login', { user: ALICE.name, password: `wrong${i}` }))).toMatchObject({ code: 'LOGIN_FAILED' });
      const r = await raw.request(req('login', { user: ALICE.name, password: ALICE.password }));
      expect(r).toMatchObject({ code: 'LOGIN_THROTTLED' });
      expect(r.detail.retryAfterMs).toBeGreaterThan(0);
      // Another user from the same address is not locked out by alice's failures.
      expect(await raw.request(req('login', { user: BOB.name, password: BOB.password }))).toMatchObject({ type: 'reply' });
    } finally {
      raw.close();
      await env.close();
    }
  });
});
