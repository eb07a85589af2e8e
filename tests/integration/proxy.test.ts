/**
 * The relay behind Debian's nginx and Caddy, each run with its file in docs/proxy/: TLS
 * at the proxy, an upload over wss that resumes after the relay restarts, a share link
 * with Range, and the throttle seeing each client's own address only with --trust-proxy on.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, FerryClient, uploadFile, type WebSocketLike } from '../../relay/client/index.js';
import { CHUNK_SIZE, FRAME_HEADER_BYTES, MAX_CHUNK_BYTES, SUBPROTOCOL } from '../../relay/protocol/index.js';
import { RelayCa } from '../../relay/tls/certificates.js';
import { bufferSource, memorySink, randomData, sha256 } from '../helpers/files.js';
import { CADDY, NGINX, httpsGet, loopbackLookup, startCaddy, startNginx, type Proxy, type ProxyOptions } from '../helpers/proxies.js';
import { addUsers, ALICE, relayLog, startRelayProcess, tempDir, waitFor, type RelayProcess } from '../helpers/relay.js';

const NAME = 'ferry.lan';
if (!NGINX) console.log('nginx proxy tests skipped: nginx is not installed (apt-get install nginx-light)');
if (!CADDY) console.log('Caddy proxy tests skipped: caddy is not installed (apt-get install caddy)');

const lookup = loopbackLookup;

const PROXIES: { name: string; file: string; installed: boolean; start: (o: ProxyOptions) => Promise<Proxy> }[] = [
  { name: 'nginx', file: 'nginx.conf', installed: !!NGINX, start: startNginx },
  { name: 'Caddy', file: 'Caddyfile', installed: !!CADDY, start: startCaddy },
];

for (const { name: proxyName, file, installed, start } of PROXIES)
describe.skipIf(!installed)(`behind ${proxyName} (docs/proxy/${file})`, () => {
  const tmp = tempDir();
  const dataDir = path.join(tmp.dir, 'data');
  let ca: RelayCa;
  let relay: RelayProcess;
  let proxy: Proxy;
  let base: string;

  /** A client of the relay through the proxy, connecting from `from` (an address of this machine's 127/8). */
  const client = (from = '127.0.0.1', browser = true) =>
    new FerryClient({
      url: `wss://${NAME}:${proxy.port}/ws`,
      reconnectTimeoutMs: 60_000,
      createSocket: (url, protocol) =>
        new WebSocket(url, protocol, { ca: ca.certPem, lookup, localAddress: from, maxPayload: MAX_CHUNK_BYTES + FRAME_HEADER_BYTES, perMessageDeflate: false, headers: browser ? { Origin: `https://${NAME}:${proxy.port}` } : {} }) as unknown as WebSocketLike,
    });

  const get = (pathname: string, headers: Record<string, string> = {}) => httpsGet(`${base}${pathname}`, ca.certPem, headers);

  const startRelay = (trustProxy: boolean, port?: number) => startRelayProcess({ dataDir, port, args: ['--tls', 'off', '--hosts', NAME, ...(trustProxy ? ['--trust-proxy', 'on'] : [])] });

  beforeAll(async () => {
    await addUsers(dataDir, [ALICE]);
    ca = await RelayCa.open(path.join(tmp.dir, 'ca'), 'test');
    const issued = await ca.issue([NAME], Date.now());
    writeFileSync(path.join(tmp.dir, 'site.crt'), issued.cert);
    writeFileSync(path.join(tmp.dir, 'site.key'), issued.key);
    relay = await startRelay(true);
    proxy = await start({ dir: tmp.dir, upstreamPort: relay.port, serverName: NAME, cert: path.join(tmp.dir, 'site.crt'), key: path.join(tmp.dir, 'site.key') });
    base = `https://${NAME}:${proxy.port}`;
  });
  afterAll(async () => {
    await proxy?.stop();
    await relay?.stop();
    tmp.remove();
  });

  it('uploads over wss through the proxy, resumes after the relay restarts, and downloads byte-identical', async () => {
    const alice = client();
    try {
      await alice.connect();
      await alice.login(ALICE.name, ALICE.password);
      const data = randomData(24 * CHUNK_SIZE + 999);
      const source = bufferSource(data);
      const slow = { ...source, read: async (o: number, l: number) => { await new Promise((r) => setTimeout(r, 15)); return source.read(o, l); } };
      let restarted: Promise<void> | undefined;
      const result = await uploadFile(alice, slow, {
        path: 'proxied/big.bin',
        window: 4,
        onProgress: (p) => {
          if (!restarted && p.phase === 'uploading' && p.done >= 8 * CHUNK_SIZE) {
            const port = relay.port;
            restarted = (async () => {
              await relay.kill();
              relay = await startRelay(true, port);
            })();
          }
        },
      });
      await restarted;
      expect(result.stats.reconnects).toBeGreaterThanOrEqual(1);
      expect(result.sha256).toBe(sha256(data));
      const sink = memorySink();
      await downloadFile(alice, sink, { path: 'proxied/big.bin' });
      expect(sha256(sink.bytes())).toBe(sha256(data));

      // A share link through the proxy: whole, and a Range answered 206 with the right bytes.
      const link = await alice.request('link.create', { path: 'proxied/big.bin' });
      const at = new URL(link.url, base).pathname;
      const part = await get(`${at}?download=1`, { Range: 'bytes=5000000-5000999' });
      expect(part.status).toBe(206);
      expect(part.headers['content-range']).toBe(`bytes 5000000-5000999/${data.length}`);
      expect(Buffer.compare(part.body, data.subarray(5_000_000, 5_001_000))).toBe(0);
      const tail = await get(`${at}?download=1`, { Range: 'bytes=-10' });
      expect(Buffer.compare(tail.body, data.subarray(data.length - 10))).toBe(0);
      // The relay saw https (the link page says so) and logged the client's address, not the proxy's.
      const page = (await get(at, { Accept: 'text/html' })).body.toString();
      expect(page).toContain(`https://${NAME}:${proxy.port}${at}`);
    } finally {
      alice.close();
    }
  });

  /** Five wrong passwords from 127.0.0.2, then the right one from 127.0.0.2 and from 127.0.0.3. */
  async function guess(browser = true): Promise<{ sameAddress: string; otherAddress: string }> {
    const attempt = async (from: string, password: string) => {
      const c = client(from, browser);
      try {
        await c.connect();
        await c.login(ALICE.name, password);
        return 'ok';
      } catch (err) {
        return (err as { code?: string }).code ?? 'error';
      } finally {
        c.close();
      }
    };
    for (let i = 0; i < 5; i++) expect(await attempt('127.0.0.2', 'wrong password')).toBe('LOGIN_FAILED');
    return { sameAddress: await attempt('127.0.0.2', ALICE.password), otherAddress: await attempt('127.0.0.3', ALICE.password) };
  }

  it('with --trust-proxy on, the throttle holds back one address and lets another in', async () => {
    const r = await guess();
    expect(r.sameAddress).toBe('LOGIN_THROTTLED');
    expect(r.otherAddress).toBe('ok');
    const connects = await waitFor(() => {
      const addrs = relayLog(dataDir).filter((l) => l.event === 'connect').map((l) => l.addr);
      return addrs.includes('127.0.0.3') ? addrs : undefined;
    });
    expect(connects).toContain('127.0.0.2');
  });

  it('a forged X-Forwarded-For from the client changes nothing: the proxy puts the real address last', async () => {
    const port = relay.port;
    await relay.stop();
    relay = await startRelay(true, port); // a fresh throttle
    const forged = (from: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`wss://${NAME}:${proxy.port}/ws`, SUBPROTOCOL, { ca: ca.certPem, lookup, localAddress: from, headers: { 'X-Forwarded-For': '10.9.9.9' } });
        ws.once('open', () => {
          ws.close();
          resolve('open');
        });
        ws.once('error', (e) => resolve(e.message));
      });
    expect(await forged('127.0.0.4')).toBe('open');
    const connects = await waitFor(() => {
      const addrs = relayLog(dataDir).filter((l) => l.event === 'connect').map((l) => l.addr);
      return addrs.includes('127.0.0.4') ? addrs : undefined;
    });
    expect(connects).not.toContain('10.9.9.9');
  });

  it('with --trust-proxy off, every client is the proxy: the other address is held back too', async () => {
    const port = relay.port;
    await relay.stop();
    relay = await startRelay(false, port);
    // Not told the scheme, the relay takes a browser's https origin for a foreign one.
    const browser = client('127.0.0.5');
    await expect(browser.connect()).rejects.toThrow();
    browser.close();
    // The log is written a moment later.
    await waitFor(() => relayLog(dataDir).find((l) => l.event === 'upgrade.refused' && l.code === 'ORIGIN_REFUSED'));
    // The CLI (no Origin) gets in, but every client looks like the proxy itself.
    const connectsBefore = relayLog(dataDir).filter((l) => l.event === 'connect').length;
    const r = await guess(false);
    expect(r.sameAddress).toBe('LOGIN_THROTTLED');
    expect(r.otherAddress).toBe('LOGIN_THROTTLED');
    // The seven attempts are logged with the proxy's address, whatever the client's.
    const seven = await waitFor(() => {
      const all = relayLog(dataDir).filter((l) => l.event === 'connect');
      return all.length >= connectsBefore + 7 ? all.slice(connectsBefore).map((l) => l.addr) : undefined;
    });
    expect(new Set(seven)).toEqual(new Set(['127.0.0.1']));
  });
});
