/**
 * The app's media URLs: thumbnails the relay makes of any client's images, files
 * served for the viewer with Range, only as types that cannot run, and the same access
 * rules as the WebSocket (another user's space, a forged or old key, a sign-out, a
 * member removed a moment ago).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ADMIN, ALICE, BOB, signIn, standardRelay, sharedFolder } from '../helpers/relay.js';
import { bufferSource, randomData } from '../helpers/files.js';

describe('media URLs', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let alice: FerryClient;
  let bob: FerryClient;
  let key: string;
  let photo: Buffer;
  const video = randomData(3 * 1024 * 1024 + 17);
  const url = (k: string, q: Record<string, string | number>) => `${env.relay.httpUrl}/media/${k}?${new URLSearchParams(Object.entries(q).map(([a, b]) => [a, String(b)]))}`;

  beforeAll(async () => {
    env = await standardRelay();
    alice = await signIn(env.relay, ALICE.name, ALICE.password);
    bob = await signIn(env.relay, BOB.name, BOB.password);
    photo = await sharp({ create: { width: 1200, height: 800, channels: 3, background: { r: 200, g: 40, b: 40 } } }).jpeg().toBuffer();
    await uploadFile(alice, bufferSource(photo), { path: 'Photos/red.jpg' });
    await uploadFile(alice, bufferSource(video), { path: 'clip.mp4' });
    await uploadFile(alice, bufferSource(Buffer.from('<script>alert(1)</script>')), { path: 'page.html' });
    await uploadFile(alice, bufferSource(Buffer.from('MZ not really')), { path: 'tool.exe' });
    await uploadFile(alice, bufferSource(Buffer.from('not a jpeg at all')), { path: 'broken.jpg' });
    key = (await alice.request('media.key', {})).key;
  });
  afterAll(async () => {
    alice?.close();
    bob?.close();
    await env?.close();
  });

  it('makes a thumbnail of an uploaded image once, however many ask at once', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => fetch(url(key, { path: 'Photos/red.jpg', thumb: 1 }))));
    const bodies = await Promise.all(answers.map(async (r) => Buffer.from(await r.arrayBuffer())));
    for (const r of answers) expect([r.status, r.headers.get('content-type')]).toEqual([200, 'image/webp']);
    for (const b of bodies) expect(b.equals(bodies[0])).toBe(true);
    const info = await sharp(bodies[0]).metadata();
    expect([info.format, info.width, info.height]).toEqual(['webp', 256, 171]);
    // Kept by content hash, one file.
    expect(readdirSync(path.join(env.relay.dataDir, 'thumbs')).filter((f) => f.endsWith('.webp'))).toHaveLength(1);
    // An image that cannot be decoded has none (and the relay goes on).
    expect((await fetch(url(key, { path: 'broken.jpg', thumb: 1 }))).status).toBe(404);
    expect((await fetch(url(key, { path: 'clip.mp4', thumb: 1 }))).status).toBe(404);
    expect((await fetch(url(key, { path: 'Photos/red.jpg', thumb: 1 }))).status).toBe(200);
  });

  it('serves a video with Range so it seeks, and pinned versions are cached', async () => {
    const whole = await fetch(url(key, { path: 'clip.mp4', v: 1 }));
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('cache-control')).toMatch(/immutable/);
    expect(Buffer.from(await whole.arrayBuffer()).equals(video)).toBe(true);
    const part = await fetch(url(key, { path: 'clip.mp4' }), { headers: { Range: 'bytes=2097150-2097160' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 2097150-2097160/${video.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(video.subarray(2097150, 2097161))).toBe(true);
    const tail = await fetch(url(key, { path: 'clip.mp4' }), { headers: { Range: 'bytes=-5' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(video.subarray(video.length - 5))).toBe(true);
    expect((await fetch(url(key, { path: 'clip.mp4' }), { headers: { Range: `bytes=${video.length}-` } })).status).toBe(416);
    const etag = whole.headers.get('etag')!;
    expect((await fetch(url(key, { path: 'clip.mp4', v: 1 }), { headers: { 'If-None-Match': etag } })).status).toBe(304);
  });

  it('never serves a file as something that runs: HTML is plain text, the unknown downloads', async () => {
    const html = await fetch(url(key, { path: 'page.html' }));
    expect(html.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(html.headers.get('x-content-type-options')).toBe('nosniff');
    expect(html.headers.get('content-security-policy')).toMatch(/default-src 'none'.*sandbox/);
    expect(await html.text()).toBe('<script>alert(1)</script>');
    const exe = await fetch(url(key, { path: 'tool.exe' }));
    expect(exe.headers.get('content-type')).toBe('application/octet-stream');
    expect(exe.headers.get('content-disposition')).toMatch(/^attachment; filename="tool.exe"/);
    const forced = await fetch(url(key, { path: 'Photos/red.jpg', download: 1 }));
    expect(forced.headers.get('content-disposition')).toMatch(/^attachment/);
  });

  it("refuses another user's space, forged and old keys, and a key after sign-out", async () => {
    const bobKey = (await bob.request('media.key', {})).key;
    // Bob asks for alice's My files: not found, whether by naming it or guessing the id.
    const aliceHome = (await alice.request('spaces', {})).spaces.find((s) => s.kind === 'home')!.id;
    expect((await fetch(url(bobKey, { space: aliceHome, path: 'Photos/red.jpg', thumb: 1 }))).status).toBe(404);
    expect((await fetch(url(bobKey, { space: aliceHome, path: 'clip.mp4' }))).status).toBe(404);
    expect((await fetch(url(bobKey, { path: 'clip.mp4' }))).status).toBe(404);
    const [session, at, mac] = key.split('.');
    expect((await fetch(url(`${session}.${Number(at) + 3_600_000}.${mac}`, { path: 'clip.mp4' }))).status).toBe(401);
    expect((await fetch(url(`${session}.${at}.${mac.slice(0, -2)}xx`, { path: 'clip.mp4' }))).status).toBe(401);
    expect((await fetch(url('nonsense', { path: 'clip.mp4' }))).status).toBe(401);
    expect((await fetch(url(key, { path: '../etc/passwd' }))).status).toBe(404);
    expect((await fetch(url(key, { path: 'clip.mp4' }), { method: 'POST' })).status).toBe(405);
    // A sign-out ends the session, and its key with it.
    const second = await signIn(env.relay, BOB.name, BOB.password);
    const secondKey = (await second.request('media.key', {})).key;
    await uploadFile(second, bufferSource(Buffer.from('mine')), { path: 'mine.txt' });
    expect((await fetch(url(secondKey, { path: 'mine.txt' }))).status).toBe(200);
    await second.request('logout', {});
    second.close();
    expect((await fetch(url(secondKey, { path: 'mine.txt' }))).status).toBe(401);
  });

  it('stops serving a shared folder the moment a member is removed', async () => {
    const team = await sharedFolder(env.relay, 'media-team', { alice: 'edit', bob: 'view' });
    await uploadFile(alice, bufferSource(photo), { path: 'team.jpg', space: team });
    const bobKey = (await bob.request('media.key', {})).key;
    expect((await fetch(url(bobKey, { space: team, path: 'team.jpg', thumb: 1 }))).status).toBe(200);
    expect((await fetch(url(bobKey, { space: team, path: 'team.jpg' }))).headers.get('content-type')).toBe('image/jpeg');
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    await admin.request('folder.members', { folder: team, set: [{ user: 'bob', access: 'none' }] });
    admin.close();
    expect((await fetch(url(bobKey, { space: team, path: 'team.jpg', thumb: 1 }))).status).toBe(404);
    expect((await fetch(url(bobKey, { space: team, path: 'team.jpg' }))).status).toBe(404);
  });
});
