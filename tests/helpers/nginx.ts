/**
 * Debian's nginx in front of a relay, run with the configuration in docs/proxy/nginx.conf
 * (its name, port, certificate and upstream changed for the test, nothing else), on
 * 127.0.0.1, stopped by its PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ROOT } from './relay.js';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface Nginx {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts nginx with the documented site, proxying to the relay on `upstreamPort`. */
export async function startNginx(opts: { dir: string; upstreamPort: number; serverName: string; cert: string; key: string }): Promise<Nginx> {
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
  writeFileSync(path.join(prefix, 'site.conf'), site);
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
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Up when the port answers.
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${out}${existsSync(t('error.log')) ? readFileSync(t('error.log'), 'utf8') : ''}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${out}`);
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
