/**
 * Debian's nginx or Caddy in front of a relay, each run with its configuration in
 * docs/proxy/ (its name, port, certificate and upstream changed for the test, nothing
 * else), on 127.0.0.1, stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import path from 'node:path';
import { ROOT } from './relay.js';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
export const CADDY = ['/usr/bin/caddy', '/usr/local/bin/caddy'].find((p) => existsSync(p));

/** Ports this process handed out already: the system may offer a closed one again at once. */
const given = new Set<number>();

/**
 * A port free on 127.0.0.1 right now, and never one this process was given before (a
 * cluster asks for a dozen before starting any server: two of them the same port made
 * one server fail to start and another answer in its place).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    if (given.has(port)) continue;
    given.add(port);
    return port;
  }
}

/** Every name is 127.0.0.1 for the clients using this, as a LAN's DNS would say of `ferry.lan`. */
export const loopbackLookup: LookupFunction = (_host, options, callback) => {
  if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

/** One HTTPS GET trusting `ca`, through `loopbackLookup`, on a connection of its own; the whole body. */
export function httpsGet(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca, lookup: loopbackLookup, headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
      })
      .once('error', reject);
  });
}

export interface Proxy {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface ProxyOptions {
  dir: string;
  upstreamPort: number;
  /** nginx only: several relays, balanced round robin (no sticky sessions), instead of `upstreamPort`. */
  upstreamPorts?: number[];
  serverName: string;
  cert: string;
  key: string;
}

/** Starts nginx with the documented site, proxying to the relay on `upstreamPort`. */
export async function startNginx(opts: ProxyOptions): Promise<Proxy> {
  if (!NGINX) throw new Error('nginx is not installed');
  const port = await freePort();
  const prefix = path.join(opts.dir, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const site = readFileSync(path.join(ROOT, 'docs', 'proxy', 'nginx.conf'), 'utf8')
    .replace(/listen 443 ssl;/, `listen 127.0.0.1:${port} ssl;`)
    .replace(/server_name [^;]+;/, `server_name ${opts.serverName};`)
    .replace(/ssl_certificate [^;]+;/, `ssl_certificate ${opts.cert};`)
    .replace(/ssl_certificate_key [^;]+;/, `ssl_certificate_key ${opts.key};`)
    .replace(/proxy_pass http:\/\/127\.0\.0\.1:8080;/, `proxy_pass http://127.0.0.1:${opts.upstreamPort};`);
  if (!site.includes(`127.0.0.1:${port} ssl`) || !site.includes(`127.0.0.1:${opts.upstreamPort};`)) throw new Error('docs/proxy/nginx.conf no longer has the lines the test adapts');
  const upstreams = opts.upstreamPorts
    ? `upstream ferry_relays {\n${opts.upstreamPorts.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=10s;\n`).join('')}}\n`
    : '';
  writeFileSync(path.join(prefix, 'site.conf'), upstreams + (opts.upstreamPorts ? site.replace(`proxy_pass http://127.0.0.1:${opts.upstreamPort};`, 'proxy_pass http://ferry_relays;') : site));
  const t = (name: string) => path.join(prefix, name);
  writeFileSync(
    t('nginx.conf'),
    `user root;
worker_processes 1;
pid ${t('nginx.pid')};
error_log ${t('error.log')} warn;
events { worker_connections 512; }
http {
  access_log ${t('access.log')};
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  include ${t('site.conf')};
}
`,
  );
  const child = spawn(NGINX, ['-p', prefix, '-c', t('nginx.conf'), '-e', t('error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return running(child, port, 'nginx', () => out + (existsSync(t('error.log')) ? readFileSync(t('error.log'), 'utf8') : ''));
}

/** Starts Caddy with docs/proxy/Caddyfile, proxying to the relay on `upstreamPort`. */
export async function startCaddy(opts: ProxyOptions): Promise<Proxy> {
  if (!CADDY) throw new Error('caddy is not installed');
  const port = await freePort();
  const dir = path.join(opts.dir, 'caddy');
  mkdirSync(dir, { recursive: true });
  const site = readFileSync(path.join(ROOT, 'docs', 'proxy', 'Caddyfile'), 'utf8')
    .replace(/^files\.example\.org \{$/m, `${opts.serverName}:${port} {\n    bind 127.0.0.1`)
    .replace(/^ {4}# tls \S+ \S+$/m, `    tls ${opts.cert} ${opts.key}`)
    .replace(/reverse_proxy 127\.0\.0\.1:8080 \{/, `reverse_proxy 127.0.0.1:${opts.upstreamPort} {`);
  if (!site.includes(`:${port} {`) || !site.includes(`tls ${opts.cert}`) || !site.includes(`127.0.0.1:${opts.upstreamPort} {`)) throw new Error('docs/proxy/Caddyfile no longer has the lines the test adapts');
  // No admin endpoint, no listener on port 80 for redirects, state kept in the test's folder.
  const file = path.join(dir, 'Caddyfile');
  writeFileSync(file, `{\n    admin off\n    auto_https disable_redirects\n    storage file_system ${path.join(dir, 'data')}\n}\n\n${site}`);
  const child = spawn(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return running(child, port, 'caddy', () => out);
}

/** Waits until `child` answers on `port`, and hands it back with a stop that waits for its exit. */
async function running(child: ChildProcess, port: number, name: string, output: () => string): Promise<Proxy> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Up when the port answers.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${output()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`${name} did not start: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
