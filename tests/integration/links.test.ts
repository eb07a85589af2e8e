import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { uploadFile } from '../../relay/client/index.js';
import { ADMIN, BOB, aliceOnRelay, relayLog, signIn, waitFor } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { newLinkId } from '../../relay/links/share-links.js';
import { bufferSource, randomData, sha256 } from '../helpers/files.js';
import { contentDisposition, parseRange } from '../../relay/links/link-http.js';

const run = promisify(execFile);
/** What a browser sends for a page. */
const HTML = { headers: { accept: 'text/html,application/xhtml+xml' } };

/** curl with its exit code, headers and body file. */
async function curl(args: string[]): Promise<{ code: number; headers: string; status: number }> {
  try {
    const { stdout } = await run('curl', ['-sS', '-D', '-', ...args], { maxBuffer: 64 * 1024 * 1024, encoding: 'latin1' });
    const status = Number(/^HTTP\/[\d.]+ (\d+)/m.exec(stdout)?.[1] ?? 0);
    return { code: 0, headers: stdout, status };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, headers: e.stdout ?? '', status: Number(/^HTTP\/[\d.]+ (\d+)/m.exec(e.stdout ?? '')?.[1] ?? 0) };
  }
}

describe('share links', () => {
  const f = aliceOnRelay();
  const base = () => f.env.relay.httpUrl;

  async function upload(name: string, data: Buffer) {
    return uploadFile(f.alice, bufferSource(data), { path: name });
  }

  it('curl downloads a link in two halves with Range; the joined file is byte-identical, and -C - resumes', async () => {
    const data = randomData(9 * 1024 * 1024 + 7);
    await upload('share/movie.bin', data);
    const link = await f.alice.request('link.create', { path: 'share/movie.bin' });
    expect(link.id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const url = `${base()}${link.url}/file`;
    const half = Math.floor(data.length / 2);
    const a = path.join(f.env.tmp, 'a.part');
    const b = path.join(f.env.tmp, 'b.part');
    const first = await curl(['-r', `0-${half - 1}`, '-o', a, url]);
    const second = await curl(['-r', `${half}-`, '-o', b, url]);
    expect([first.status, second.status]).toEqual([206, 206]);
    expect(first.headers).toMatch(new RegExp(`Content-Range: bytes 0-${half - 1}/${data.length}`, 'i'));
    expect(sha256(Buffer.concat([readFileSync(a), readFileSync(b)]))).toBe(sha256(data));
    // An interrupted download resumed with curl -C -.
    const c = path.join(f.env.tmp, 'c.bin');
    writeFileSync(c, data.subarray(0, 1_000_000));
    const resumed = await curl(['-C', '-', '-o', c, url]);
    expect(resumed.status).toBe(206);
    expect(sha256(readFileSync(c))).toBe(sha256(data));
    // HEAD tells size and ETag; an If-Range that does not match sends the whole file.
    const head = await curl(['-I', url]);
    expect(head.headers).toMatch(new RegExp(`Content-Length: ${data.length}`, 'i'));
    expect(head.headers).toMatch(/ETag: "[0-9a-f]{64}"/i);
    const stale = await curl(['-r', '0-9', '-H', 'If-Range: "0000"', '-o', path.join(f.env.tmp, 'd.bin'), url]);
    expect(stale.status).toBe(200);
    expect(readFileSync(path.join(f.env.tmp, 'd.bin')).length).toBe(data.length);
    const bad = await curl(['-r', `${data.length + 5}-`, '-o', '/dev/null', url]);
    expect(bad.status).toBe(416);
  });

  it('shows a page without JavaScript: name, size, SHA-256 and a download button; names are text', async () => {
    const name = 'a"b<script>é😀.txt';
    const data = Buffer.from('name with quotes, markup and emoji');
    await upload(`share/${name}`, data);
    const link = await f.alice.request('link.create', { path: `share/${name}`, expiresInMs: 3_600_000 });
    const page = await fetch(`${base()}${link.url}`, HTML);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('a&#34;b&#60;script&#62;é😀.txt');
    expect(html).not.toContain('<script>');
    expect(html).toContain(sha256(data));
    expect(html).toContain('Expires');
    expect(html).toContain(`href="${link.url}/file"`);
    const file = await fetch(`${base()}${link.url}/file`);
    const cd = file.headers.get('content-disposition')!;
    expect(decodeURIComponent(/filename\*=UTF-8''(.+)$/.exec(cd)![1])).toBe(name);
    expect(Buffer.from(await file.arrayBuffer()).toString()).toBe(data.toString());
  });

  it('shows a preview, the sender and their message, the size in units and the expiry; a locked page shows nothing of the file', async () => {
    const sharp = (await import('sharp')).default;
    const photo = await sharp({ create: { width: 800, height: 600, channels: 3, background: { r: 10, g: 120, b: 200 } } }).jpeg().toBuffer();
    await upload('share/Lake.jpg', photo);
    const message = 'Photos from Sunday <b>not bold</b>\nsecond line';
    const link = await f.alice.request('link.create', { path: 'share/Lake.jpg', expiresInMs: 3 * 86_400_000, maxDownloads: 2, message });
    expect(link.message).toBe(message);
    const html = await (await fetch(`${base()}${link.url}`, HTML)).text();
    expect(html).toContain('<strong>alice</strong> shared this file with you.');
    expect(html).toContain('Photos from Sunday &#60;b&#62;not bold&#60;/b&#62;\nsecond line');
    expect(html).toMatch(/Expires in 3 days: <time datetime="[^"]+Z" data-local>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/time>/);
    expect(html).toContain('2 downloads left');
    expect(html).toMatch(/KiB <span class="muted">\([\d,]+ bytes\)/);
    expect(html).toContain(`curl -OJ ${base()}${link.url}`);
    expect(html).toContain('<script src="/s/local-time.js" defer></script>');
    const script = await fetch(`${base()}/s/local-time.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toContain("querySelectorAll('time[data-local]')");
    // The preview is a thumbnail, and looking at it is not a download.
    for (let i = 0; i < 3; i++) {
      const preview = await fetch(`${base()}${link.url}/preview`);
      expect([preview.status, preview.headers.get('content-type')]).toEqual([200, 'image/webp']);
      expect((await sharp(Buffer.from(await preview.arrayBuffer())).metadata()).width).toBe(256);
    }
    expect((await f.alice.request('link.list', {})).links.find((l) => l.id === link.id)!.downloads).toBe(0);

    const locked = await f.alice.request('link.create', { path: 'share/Lake.jpg', password: 'sesame', message: 'secret plans' });
    const lockedPage = await (await fetch(`${base()}${locked.url}`, HTML)).text();
    for (const leak of ['Lake', 'alice', 'secret plans', 'KiB', 'bytes', 'SHA-256', '/preview']) expect(lockedPage, leak).not.toContain(leak);
    expect(lockedPage).toContain('<title>Protected file · Ferry</title>');
    expect((await fetch(`${base()}${locked.url}/preview`)).status).toBe(404);
    // Unlocked with the password, it shows all of it.
    const unlock = await fetch(`${base()}${locked.url}`, { method: 'POST', body: new URLSearchParams({ password: 'sesame' }), redirect: 'manual' });
    const cookie = unlock.headers.get('set-cookie')!.split(';')[0];
    const open = await (await fetch(`${base()}${locked.url}`, { headers: { ...HTML.headers, cookie } })).text();
    expect(open).toContain('secret plans');
    expect(open).toContain(`curl -u :PASSWORD -OJ ${base()}${locked.url}`);
    expect((await fetch(`${base()}${locked.url}/preview`, { headers: { cookie } })).status).toBe(200);
    // Messages are bounded and must be text.
    for (const bad of ['x'.repeat(2001), 'half \ud800 a pair']) {
      await expect(f.alice.request('link.create', { path: 'share/Lake.jpg', message: bad })).rejects.toMatchObject({ code: 'BAD_MESSAGE' });
    }
  });

  it('saves the file itself with `curl -OJ <link>`, and takes a password from scripts with HTTP Basic', async () => {
    const data = randomData(300_000);
    await upload('share/Quarterly report.pdf', data);
    const open = await f.alice.request('link.create', { path: 'share/Quarterly report.pdf' });
    const dir = path.join(f.env.tmp, 'curl-oj');
    mkdirSync(dir);
    const url = `${base()}${open.url}`;
    const saved = await run('curl', ['-sS', '-OJ', url], { cwd: dir });
    expect(saved.stderr).toBe('');
    expect(sha256(readFileSync(path.join(dir, 'Quarterly report.pdf')))).toBe(sha256(data));
    // A browser asking for HTML still gets the page.
    const page = await fetch(url, { headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(page.headers.get('content-type')).toContain('text/html');
    // Protected: no password → 401 that asks for Basic; the wrong one → 401; the right one → the file.
    await upload('share/locked.bin', data);
    const locked = await f.alice.request('link.create', { path: 'share/locked.bin', password: 'let me in' });
    const lockedUrl = `${base()}${locked.url}`;
    const none = await curl(['-o', '/dev/null', lockedUrl]);
    expect(none.status).toBe(401);
    expect(none.headers).toMatch(/WWW-Authenticate: Basic/i);
    expect((await curl(['-u', ':wrong', '-o', '/dev/null', lockedUrl])).status).toBe(401);
    const got = await run('curl', ['-sS', '-u', ':let me in', '-OJ', lockedUrl], { cwd: dir });
    expect(got.stderr).toBe('');
    expect(sha256(readFileSync(path.join(dir, 'locked.bin')))).toBe(sha256(data));
  });

  it('shows bidirectional controls in a name as visible marks on the page and in the saved name', async () => {
    const name = 'invoice\u202Egpj.exe';
    await upload(`share/${name}`, Buffer.from('not a picture'));
    const link = await f.alice.request('link.create', { path: `share/${name}` });
    const html = await (await fetch(`${base()}${link.url}`, HTML)).text();
    expect(html).toContain('invoice[U+202E]gpj.exe');
    expect(html).not.toContain('\u202E');
    const cd = (await fetch(`${base()}${link.url}/file`)).headers.get('content-disposition')!;
    expect(decodeURIComponent(/filename\*=UTF-8''(.+)$/.exec(cd)![1])).toBe('invoice[U+202E]gpj.exe');
  });

  it('expires, and answers 410; unknown ids answer 404; revoked links 410', async () => {
    await upload('share/short.txt', Buffer.from('short-lived'));
    const link = await f.alice.request('link.create', { path: 'share/short.txt', expiresInMs: 800 });
    expect((await fetch(`${base()}${link.url}/file`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1000));
    const expired = await fetch(`${base()}${link.url}`);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toContain('expired');
    expect((await fetch(`${base()}/s/AAAAAAAAAAAAAAAAAAAAAAAA`)).status).toBe(404);
    const other = await f.alice.request('link.create', { path: 'share/short.txt' });
    await f.alice.request('link.revoke', { link: other.id });
    expect((await fetch(`${base()}${other.url}/file`)).status).toBe(410);
  });

  it('counts downloads by the bytes served: range halves and a resume make one, whole downloads one each, then 410 (also HEAD)', async () => {
    const data = randomData(2 * 1024 * 1024);
    await upload('share/limited.bin', data);
    const link = await f.alice.request('link.create', { path: 'share/limited.bin', maxDownloads: 3 });
    const url = `${base()}${link.url}/file`;
    const downloads = async () => (await f.alice.request('link.list', {})).links.find((l) => l.id === link.id)!.downloads;
    // One download in two ranges.
    expect((await curl(['-r', '0-999', '-o', '/dev/null', url])).status).toBe(206);
    expect((await curl(['-r', '1000-', '-o', '/dev/null', url])).status).toBe(206);
    expect(await downloads()).toBe(1);
    // A second, cut off after a third and resumed with curl -C -.
    const part = path.join(f.env.tmp, 'limited.part');
    expect((await curl(['-r', '0-699999', '-o', part, url])).status).toBe(206);
    expect((await curl(['-C', '-', '-o', part, url])).status).toBe(206);
    expect(sha256(readFileSync(part))).toBe(sha256(data));
    expect(await downloads()).toBe(2);
    // The third whole download from the same address, then the link is used up.
    expect((await curl(['-o', '/dev/null', url])).status).toBe(200);
    expect(await downloads()).toBe(3);
    expect((await curl(['-o', '/dev/null', url])).status).toBe(410);
    expect((await curl(['-I', url])).status).toBe(410);
    expect((await curl(['-r', '5-9', '-o', '/dev/null', url])).status).toBe(410);
    // Another address finds it used up too.
    expect((await curl(['--interface', '127.0.0.2', '-o', '/dev/null', url])).status).toBe(410);
    expect((await fetch(`${base()}${link.url}`)).status).toBe(410);
  });

  it("tells the owner's open connections when a link is used or revoked", async () => {
    await upload('share/watched.txt', Buffer.from('watched'));
    const link = await f.alice.request('link.create', { path: 'share/watched.txt', maxDownloads: 5 });
    const seen: { downloads: number; revoked: boolean }[] = [];
    const stop = f.alice.onLinkChanged((l) => l.id === link.id && seen.push({ downloads: l.downloads, revoked: l.revoked }));
    const bob = await signIn(f.env.relay, BOB.name, BOB.password);
    const bobSaw: string[] = [];
    bob.onLinkChanged((l) => bobSaw.push(l.id));
    try {
      await (await fetch(`${base()}${link.url}/file`)).arrayBuffer();
      await expect.poll(() => seen.at(-1)).toEqual({ downloads: 1, revoked: false });
      await f.alice.request('link.revoke', { link: link.id });
      await expect.poll(() => seen.at(-1)).toEqual({ downloads: 1, revoked: true });
      // Other users hear nothing of alice's links.
      expect(bobSaw).toEqual([]);
    } finally {
      stop();
      bob.close();
    }
  });

  it('gives back the budget a response did not send when its client goes away', async () => {
    // Big enough that most of it is still unsent when the client hangs up (socket buffers hold a few MiB).
    const data = randomData(48 * 1024 * 1024);
    await upload('share/abandoned.bin', data);
    const link = await f.alice.request('link.create', { path: 'share/abandoned.bin', maxDownloads: 1 });
    const url = `${base()}${link.url}/file`;
    const aborted = new AbortController();
    const res = await fetch(url, { signal: aborted.signal });
    const reader = res.body!.getReader();
    await reader.read();
    aborted.abort();
    await reader.read().catch(() => {});
    // The reservation is given back once the relay notices the closed socket.
    const listed = await waitFor(async () => {
      const l = (await f.alice.request('link.list', {})).links.find((x) => x.id === link.id)!;
      return l.downloads === 0 ? l : undefined;
    }, 5000);
    expect(listed.downloads).toBe(0);
    // So the one allowed download still works, in full.
    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(sha256(Buffer.from(await whole.arrayBuffer()))).toBe(sha256(data));
    expect((await fetch(url)).status).toBe(410);
  });

  it('serves every download of a limited link in full when many start at once, and no more than the limit allows', async () => {
    const data = randomData(1024 * 1024);
    await upload('share/rush.bin', data);
    const link = await f.alice.request('link.create', { path: 'share/rush.bin', maxDownloads: 2 });
    const url = `${base()}${link.url}/file`;
    const statuses = await Promise.all(Array.from({ length: 12 }, async () => {
      const r = await fetch(url);
      const body = Buffer.from(await r.arrayBuffer());
      if (r.status === 200) expect(sha256(body)).toBe(sha256(data));
      return r.status;
    }));
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 410)).toHaveLength(10);
  });

  it('asks for a password, throttles wrong ones, and unlocks with the right one', async () => {
    const data = Buffer.from('secret plans');
    await upload('share/secret.txt', data);
    const link = await f.alice.request('link.create', { path: 'share/secret.txt', password: 'open sesame' });
    expect(link.protected).toBe(true);
    const page = await (await fetch(`${base()}${link.url}`, HTML)).text();
    expect(page).toContain('type="password"');
    expect((await fetch(`${base()}${link.url}/file`)).status).toBe(401);
    const post = (password: string) => fetch(`${base()}${link.url}`, { method: 'POST', body: new URLSearchParams({ password }), redirect: 'manual' });
    expect((await post('wrong')).status).toBe(401);
    const ok = await post('open sesame');
    expect(ok.status).toBe(303);
    const cookie = ok.headers.get('set-cookie')!.split(';')[0];
    const file = await fetch(`${base()}${link.url}/file`, { headers: { cookie } });
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer()).toString()).toBe('secret plans');
    for (let i = 0; i < 5; i++) await post(`wrong ${i}`);
    expect((await post('open sesame')).status).toBe(429);
  });

  it('serves a pinned version, or the latest when not pinned', async () => {
    await upload('share/doc.txt', Buffer.from('first'));
    const pinned = await f.alice.request('link.create', { path: 'share/doc.txt', version: 1 });
    const latest = await f.alice.request('link.create', { path: 'share/doc.txt' });
    await upload('share/doc.txt', Buffer.from('second'));
    expect(await (await fetch(`${base()}${pinned.url}/file`)).text()).toBe('first');
    expect(await (await fetch(`${base()}${latest.url}/file`)).text()).toBe('second');
    await expect(f.alice.request('link.create', { path: 'share/doc.txt', version: 9 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it("lets users see their own links, admins everyone's, and only owners or admins revoke", async () => {
    const bob = await signIn(f.env.relay, BOB.name, BOB.password);
    const admin = await signIn(f.env.relay, ADMIN.name, ADMIN.password);
    try {
      const mine = await f.alice.request('link.create', { path: 'share/doc.txt' });
      expect((await bob.request('link.list', {})).links.map((l) => l.id)).not.toContain(mine.id);
      await expect(bob.request('link.list', { all: true })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(bob.request('link.revoke', { link: mine.id })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect((await admin.request('link.list', { all: true })).links.map((l) => l.id)).toContain(mine.id);
      await admin.request('link.revoke', { link: mine.id });
      expect((await fetch(`${base()}${mine.url}`)).status).toBe(410);
    } finally {
      bob.close();
      admin.close();
    }
  });

  it('logs every link use', () => {
    const uses = relayLog(f.env.relay.dataDir).filter((l) => l.event === 'link');
    expect(uses.some((l) => l.status === 206)).toBe(true);
    expect(uses.some((l) => l.status === 410)).toBe(true);
    expect(uses.some((l) => l.status === 404)).toBe(true);
  });

  it('works from the command line: link, links, unlink', async () => {
    const env = { FERRY_CONFIG: path.join(f.env.tmp, 'cli.json'), FERRY_PASSWORD: 'alice-password' };
    await ferry(['login', base(), '--user', 'alice'], { env });
    const made = await ferry(['link', 'share/doc.txt', '--expires', '7d', '--max-downloads', '3', '--message', 'From the CLI, with love'], { env });
    expect(made.code, made.stderr).toBe(0);
    const url = made.stdout.trim();
    expect(url).toMatch(new RegExp(`^${base()}/s/[A-Za-z0-9_-]{24}$`));
    expect(await (await fetch(url, HTML)).text()).toContain('From the CLI, with love');
    expect(await (await fetch(`${url}/file`)).text()).toBe('second');
    const listed = JSON.parse((await ferry(['links', '--json'], { env })).stdout);
    const id = url.split('/').pop();
    expect(listed.links.find((l: { id: string }) => l.id === id)).toMatchObject({ maxDownloads: 3, downloads: 1, message: 'From the CLI, with love' });
    expect((await ferry(['unlink', url], { env })).stdout).toBe(`${id} revoked\n`);
    expect((await fetch(url)).status).toBe(410);
    const again = await ferry(['unlink', id!], { env });
    expect(again.stdout).toBe(`${id} revoked\n`); // revoking twice is harmless
    const bad = await ferry(['link', 'share/doc.txt', '--expires', 'soon'], { env });
    expect(bad.code).toBe(2);
  });
});

describe('link HTTP helpers', () => {
  it('makes ids of 24 base64url characters that never start like a command-line option', () => {
    const ids = Array.from({ length: 5000 }, newLinkId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{23}$/);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.some((id) => /[-_]/.test(id))).toBe(true); // still the whole alphabet after the first
  });

  it('parses single ranges and refuses the unsatisfiable', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(parseRange(undefined, 100)).toBeUndefined();
  });

  it('writes Content-Disposition with an ASCII fallback and the exact UTF-8 name', () => {
    expect(contentDisposition('report.pdf')).toBe(`attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`);
    expect(contentDisposition('a"b é.txt')).toBe(`attachment; filename="a_b _.txt"; filename*=UTF-8''a%22b%20%C3%A9.txt`);
  });
});
