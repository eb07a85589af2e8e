/**
 * The relay over HTTPS: its own CA (`--tls auto`), certificate files read again when
 * they change, renewal before expiry without a restart, plain HTTP on the same port,
 * the redirect port, `Secure` cookies, and the CLI's trust on first use.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uploadFile, downloadFile } from '../../relay/client/index.js';
import { loadConfig } from '../../relay/config.js';
import { startRelay } from '../../relay/server.js';
import { RelayCa, RENEW_DAYS, SERVER_DAYS } from '../../relay/tls/certificates.js';
import { ferry } from '../helpers/cli.js';
import { freePort } from '../helpers/proxies.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';
import { addUsers, ALICE, signIn, standardRelay, startRelayProcess, tempDir, waitFor } from '../helpers/relay.js';

const DAY = 86_400_000;


interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request over http or https; `ca` is the authority to trust (nothing else is). */
function request(url: string, opts: { ca?: string; method?: string; headers?: Record<string, string>; body?: string; servername?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method: opts.method ?? 'GET', headers: opts.headers, ca: opts.ca, servername: opts.servername, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.once('error', reject);
    req.end(opts.body);
  });
}

/** The fingerprint of the certificate a TLS server presents for `servername`. */
function servedFingerprint(port: number, servername = 'localhost'): Promise<{ fingerprint: string; validTo: number }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const c = s.getPeerCertificate();
      s.destroy();
      resolve({ fingerprint: c.fingerprint256, validTo: Date.parse(c.valid_to) });
    });
    s.once('error', reject);
  });
}

describe('--tls auto (the default)', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let ca: string;
  let base: string;
  beforeAll(async () => {
    env = await standardRelay();
    ca = readFileSync(path.join(env.relay.dataDir, 'tls', 'ca.crt'), 'utf8');
    base = `https://localhost:${env.relay.port}`;
  });
  afterAll(async () => env?.close());

  it('makes a CA once, keeps its key private, and serves a certificate it signed for this machine’s names', async () => {
    const dir = path.join(env.relay.dataDir, 'tls');
    expect(statSync(path.join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dir, 'server.key')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const caCert = new X509Certificate(ca);
    expect(caCert.ca).toBe(true);
    const r = await request(`${base}/healthz`, { ca });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString()).ok).toBe(true);
    // The same over the address, and plain HTTP to this machine on the same port.
    expect((await request(`https://127.0.0.1:${env.relay.port}/healthz`, { ca })).status).toBe(200);
    expect((await request(`${env.relay.httpUrl}/healthz`)).status).toBe(200);
    // Nothing else is trusted: without the CA the handshake fails.
    await expect(request(`${base}/healthz`)).rejects.toThrow(/self[- ]signed|unable to (verify|get)/i);
    const served = new X509Certificate(readFileSync(path.join(dir, 'server.crt')));
    expect(served.checkIssued(caCert)).toBe(true);
    expect(served.subjectAltName).toContain('DNS:localhost');
    expect(served.subjectAltName).toContain('IP Address:127.0.0.1');
    // The output tells a person what to install and how to check it.
    expect(env.relay.output()).toContain(caCert.fingerprint256);
    expect(env.relay.output()).toContain(`Ferry relay on https://127.0.0.1:${env.relay.port}`);
  });

  it('keeps the same CA across restarts', async () => {
    const { dir, remove } = tempDir();
    try {
      const data = path.join(dir, 'data');
      const first = await startRelayProcess({ dataDir: data });
      const caBefore = readFileSync(path.join(data, 'tls', 'ca.crt'), 'utf8');
      const fpBefore = (await servedFingerprint(first.port)).fingerprint;
      await first.stop();
      const second = await startRelayProcess({ dataDir: data });
      try {
        expect(readFileSync(path.join(data, 'tls', 'ca.crt'), 'utf8')).toBe(caBefore);
        expect((await servedFingerprint(second.port)).fingerprint).toBe(fpBefore);
      } finally {
        await second.stop();
      }
    } finally {
      remove();
    }
  });

  it('carries the WebSocket over wss: an upload and a download are byte-identical', async () => {
    const { connectNode } = await import('../../relay/cli/node-client.js');
    // Without the CA the client cannot connect at all.
    await expect(connectNode({ url: `wss://localhost:${env.relay.port}/ws`, reconnect: false })).rejects.toThrow(/Cannot connect/);
    const client = await connectNode({ url: `wss://localhost:${env.relay.port}/ws`, ca });
    try {
      await client.login(ALICE.name, ALICE.password);
      const data = randomData(9 * 1024 * 1024 + 17);
      await uploadFile(client, bufferSource(data), { path: 'over-tls.bin' });
      const sink = memorySink();
      await downloadFile(client, sink, { path: 'over-tls.bin' });
      expect(sha256(sink.bytes())).toBe(sha256(data));
    } finally {
      client.close();
    }
  });

  it('gives the connect page and the CA (.crt, .mobileconfig) to anyone, over plain HTTP too', async () => {
    const page = await request(`${env.relay.httpUrl}/connect`);
    expect(page.status).toBe(200);
    const fp = new X509Certificate(ca).fingerprint256;
    expect(page.body.toString()).toContain(fp);
    const crt = await request(`${env.relay.httpUrl}/ca.crt`);
    expect(crt.headers['content-type']).toBe('application/x-x509-ca-cert');
    expect(new X509Certificate(crt.body).fingerprint256).toBe(fp);
    const profile = await request(`${base}/ca.mobileconfig`, { ca });
    expect(profile.headers['content-type']).toBe('application/x-apple-aspen-config');
    const der = /<key>PayloadContent<\/key><data>([A-Za-z0-9+/=]+)<\/data>/.exec(profile.body.toString())![1];
    expect(new X509Certificate(Buffer.from(der, 'base64')).fingerprint256).toBe(fp);
    expect(profile.body.toString()).toContain('com.apple.security.root');
  });

  it('puts Secure on link cookies over https, not over plain http', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      await uploadFile(alice, bufferSource(randomData(1000)), { path: 'locked.txt' });
      const link = await alice.request('link.create', { path: 'locked.txt', password: 'sesame' });
      const post = { method: 'POST', body: 'password=sesame', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } };
      const secure = await request(`${base}${new URL(link.url, base).pathname}`, { ca, ...post });
      const plain = await request(`${env.relay.httpUrl}${new URL(link.url, base).pathname}`, post);
      expect(String(secure.headers['set-cookie'])).toMatch(/; Secure/);
      expect(String(plain.headers['set-cookie'])).not.toMatch(/Secure/);
      expect(String(plain.headers['set-cookie'])).toMatch(/HttpOnly/);
    } finally {
      alice.close();
    }
  });
});

describe('the redirect port', () => {
  it('sends plain HTTP to the https URL (308, same path), but still gives the CA and the connect page', async () => {
    const { dir, remove } = tempDir();
    try {
      const port = await freePort();
      const relay2 = await startRelayProcess({ dataDir: path.join(dir, 'data'), args: ['--redirect-port', String(port)] });
      try {
        const r = await request(`http://127.0.0.1:${port}/files/me/a%20b?x=1`, { headers: { Host: `ferry.lan:${port}` } });
        expect(r.status).toBe(308);
        expect(r.headers.location).toBe(`https://ferry.lan:${relay2.port}/files/me/a%20b?x=1`);
        expect((await request(`http://127.0.0.1:${port}/ca.crt`)).status).toBe(200);
        // A Host that tries to send the browser elsewhere is refused.
        expect((await request(`http://127.0.0.1:${port}//evil.example/x`, { headers: { Host: 'ferry.lan' } })).status).toBe(400);
      } finally {
        await relay2.stop();
      }
    } finally {
      remove();
    }
  });
});

describe('--tls-cert and --tls-key', () => {
  it('serves the given certificate and picks up a renewed one without a restart', async () => {
    const { dir, remove } = tempDir();
    try {
      const ca = await RelayCa.open(path.join(dir, 'ca'), 'test');
      const write = async (file: string) => {
        const c = await ca.issue(['localhost', '127.0.0.1'], Date.now());
        mkdirSync(path.dirname(file), { recursive: true });
        // As renewal tools do: write aside, then rename over.
        writeFileSync(`${file}.key.new`, c.key);
        writeFileSync(`${file}.crt.new`, c.cert);
        renameSync(`${file}.key.new`, `${file}.key`);
        renameSync(`${file}.crt.new`, `${file}.crt`);
        return new X509Certificate(c.cert).fingerprint256;
      };
      const certs = path.join(dir, 'certs', 'relay');
      const first = await write(certs);
      const data = path.join(dir, 'data');
      await addUsers(data, [ALICE]);
      const relay = await startRelayProcess({ dataDir: data, args: ['--tls-cert', `${certs}.crt`, '--tls-key', `${certs}.key`] });
      try {
        expect((await servedFingerprint(relay.port)).fingerprint).toBe(first);
        expect((await request(`https://localhost:${relay.port}/healthz`, { ca: ca.certPem })).status).toBe(200);
        const second = await write(certs);
        expect(second).not.toBe(first);
        await waitFor(async () => ((await servedFingerprint(relay.port)).fingerprint === second ? true : undefined), 15_000);
        // No CA of its own: no connect page.
        expect((await request(`https://localhost:${relay.port}/ca.crt`, { ca: ca.certPem })).status).not.toBe(200);
      } finally {
        await relay.stop();
      }
    } finally {
      remove();
    }
  });

  it('refuses to start with only one of the two, or with a file that is no certificate', async () => {
    const { dir, remove } = tempDir();
    try {
      writeFileSync(path.join(dir, 'bad.crt'), 'not a certificate');
      writeFileSync(path.join(dir, 'bad.key'), 'not a key');
      const one = await ferry(['serve', '--host', '127.0.0.1', '--port', '0', '--data', path.join(dir, 'd1'), '--tls-cert', path.join(dir, 'bad.crt')]);
      expect(one.code).not.toBe(0);
      expect(one.stderr).toContain('--tls-cert and --tls-key go together');
      const bad = await ferry(['serve', '--host', '127.0.0.1', '--port', '0', '--data', path.join(dir, 'd2'), '--tls-cert', path.join(dir, 'bad.crt'), '--tls-key', path.join(dir, 'bad.key')]);
      expect(bad.code).not.toBe(0);
    } finally {
      remove();
    }
  });
});

describe('renewal of an automatic certificate', () => {
  it('replaces a certificate near its end and serves the new one at once, without a restart', async () => {
    const { dir, remove } = tempDir();
    const config = loadConfig({ data: path.join(dir, 'data'), host: '127.0.0.1', port: '0', web: path.join(dir, 'no-web') }, {});
    const relay = await startRelay(config);
    try {
      const before = await servedFingerprint(relay.port);
      // Not due yet: nothing changes.
      expect(await relay.renewTls(Date.now() + (SERVER_DAYS - RENEW_DAYS - 2) * DAY)).toBe(false);
      expect((await servedFingerprint(relay.port)).fingerprint).toBe(before.fingerprint);
      // Fewer than RENEW_DAYS left: a new certificate, served by the running relay.
      const later = Date.now() + (SERVER_DAYS - RENEW_DAYS + 1) * DAY;
      expect(await relay.renewTls(later)).toBe(true);
      const after = await servedFingerprint(relay.port);
      expect(after.fingerprint).not.toBe(before.fingerprint);
      expect(after.validTo).toBeGreaterThan(later + (SERVER_DAYS - 2) * DAY);
      // Still signed by the same CA (a client trusts it as before), kept for the next start.
      const ca = new X509Certificate(readFileSync(path.join(config.dataDir, 'tls', 'ca.crt')));
      const kept = new X509Certificate(readFileSync(path.join(config.dataDir, 'tls', 'server.crt')));
      expect(kept.checkIssued(ca)).toBe(true);
      expect(kept.fingerprint256).toBe(after.fingerprint);
      expect(await relay.renewTls(later)).toBe(false);
    } finally {
      await relay.close();
      remove();
    }
  });
});

describe('--tls off', () => {
  it('speaks plain HTTP only', async () => {
    const { dir, remove } = tempDir();
    try {
      const relay = await startRelayProcess({ dataDir: path.join(dir, 'data'), args: ['--tls', 'off'] });
      try {
        expect(relay.output()).toContain(`Ferry relay on http://127.0.0.1:${relay.port}`);
        expect((await request(`${relay.httpUrl}/healthz`)).status).toBe(200);
        await expect(request(`https://localhost:${relay.port}/healthz`, { ca: 'x' })).rejects.toThrow();
      } finally {
        await relay.stop();
      }
    } finally {
      remove();
    }
  });
});

describe('the CLI and a relay with its own CA', () => {
  it('asks once (trust on first use), takes --ca, and refuses a certificate from another CA', async () => {
    const { dir, remove } = tempDir();
    try {
      const data = path.join(dir, 'data');
      await addUsers(data, [ALICE]);
      let relay = await startRelayProcess({ dataDir: data });
      const port = relay.port;
      const url = `https://localhost:${port}`;
      const fp = new X509Certificate(readFileSync(path.join(data, 'tls', 'ca.crt'))).fingerprint256;
      const as = (name: string) => ({ FERRY_CONFIG: path.join(dir, `${name}.json`), FERRY_PASSWORD: ALICE.password });
      try {
        // Refused at the question: nothing kept, not signed in.
        const no = await ferry(['login', url, '--user', ALICE.name], { env: as('a'), input: 'n\n' });
        expect(no.code).toBe(1);
        expect(no.stderr).toContain(fp);
        expect(no.stderr).toContain('TLS_UNTRUSTED');
        expect(() => statSync(path.join(dir, 'a.json'))).toThrow();
        // Accepted: signed in, and the CA is kept for this relay.
        const yes = await ferry(['login', url, '--user', ALICE.name], { env: as('a'), input: 'y\n' });
        expect(yes.stderr).toContain(`SHA-256 ${fp}`);
        expect(yes.code, yes.stderr).toBe(0);
        const kept = JSON.parse(readFileSync(path.join(dir, 'a.json'), 'utf8'));
        expect(new X509Certificate(kept.trusted[url]).fingerprint256).toBe(fp);
        writeFileSync(path.join(dir, 'hello.txt'), 'hello over tls');
        expect((await ferry(['put', path.join(dir, 'hello.txt')], { env: as('a') })).code).toBe(0);
        // No question the second time.
        const again = await ferry(['login', url, '--user', ALICE.name], { env: as('a') });
        expect(again.code, again.stderr).toBe(0);
        expect(again.stderr).not.toContain('Trust it');
        // --ca: no question at all.
        const given = await ferry(['login', url, '--user', ALICE.name, '--ca', path.join(data, 'tls', 'ca.crt')], { env: as('b') });
        expect(given.code, given.stderr).toBe(0);
        expect(given.stderr).not.toContain('Trust it');
        expect((await ferry(['ls'], { env: as('b') })).stdout).toContain('hello.txt');
      } finally {
        await relay.stop();
      }
      // The relay comes back with a new CA (as an attacker in between would): refused.
      const { rmSync } = await import('node:fs');
      rmSync(path.join(data, 'tls'), { recursive: true });
      relay = await startRelayProcess({ dataDir: data, port });
      try {
        const swapped = await ferry(['ls'], { env: as('a') });
        expect(swapped.code).toBe(1);
        expect(swapped.stderr).toContain('TLS_UNTRUSTED');
        expect(swapped.stderr).toContain('not signed by the authority you trusted');
        const relogin = await ferry(['login', url, '--user', ALICE.name], { env: as('a'), input: 'y\n' });
        expect(relogin.code).toBe(1);
        expect(relogin.stderr).toContain('TLS_UNTRUSTED');
        // With the new CA given, it is trusted again.
        const fixed = await ferry(['login', url, '--user', ALICE.name, '--ca', path.join(data, 'tls', 'ca.crt')], { env: as('a') });
        expect(fixed.code, fixed.stderr).toBe(0);
        expect((await ferry(['ls'], { env: as('a') })).stdout).toContain('hello.txt');
      } finally {
        await relay.stop();
      }
    } finally {
      remove();
    }
  });
});
