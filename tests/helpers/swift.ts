/**
 * A one-machine OpenStack Swift from Debian's packages, for tests and benchmarks: four
 * storage nodes (each an object, container and account server on its own ports and
 * folder), rings with 3 replicas and one zone per node, and a proxy with s3api and
 * tempauth (S3 key `test:tester`, secret `testing`), memcached beside it. All on
 * 127.0.0.1 and in one folder, except `/etc/swift/swift.conf`, which Swift always reads
 * (written only when missing). Every server runs with `workers = 0`, one PID each, so a
 * test can stop exactly one node.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './proxies.js';

const BIN = '/usr/bin';
export const SWIFT = ['swift-proxy-server', 'swift-object-server', 'swift-container-server', 'swift-account-server', 'memcached'].every((b) => existsSync(`${BIN}/${b}`)) && existsSync('/usr/bin/python3');

export interface SwiftCluster {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops node `i`'s three servers as a crash would (SIGKILL). */
  killNode(i: number): Promise<void>;
  /** Starts node `i`'s servers again and waits until they answer. */
  startNode(i: number): Promise<void>;
  stop(): Promise<void>;
}

const NODES = 4;
const KINDS = ['object', 'container', 'account'] as const;

export async function startSwift(dir: string): Promise<SwiftCluster> {
  if (!SWIFT) throw new Error('Swift is not installed (apt-get install swift swift-proxy swift-account swift-container swift-object memcached)');
  const d = (...p: string[]) => path.join(dir, ...p);
  if (!existsSync('/etc/swift/swift.conf')) {
    mkdirSync('/etc/swift', { recursive: true });
    writeFileSync('/etc/swift/swift.conf', '[swift-hash]\nswift_hash_path_prefix = ferry-test\nswift_hash_path_suffix = ferry-test\n\n[storage-policy:0]\nname = Policy-0\ndefault = yes\n');
  }
  const ports: Record<(typeof KINDS)[number], number[]> = { object: [], container: [], account: [] };
  for (const kind of KINDS) for (let i = 0; i < NODES; i++) ports[kind].push(await freePort());
  const proxyPort = await freePort();
  const memcachePort = await freePort();

  // Rings, built in one Python process (one swift-ring-builder call per device is slow).
  const ring = `
from swift.common.ring import RingBuilder
import json, sys
ports = json.loads(sys.argv[1])
for kind in ('object', 'container', 'account'):
    b = RingBuilder(8, 3, 0)
    for i, port in enumerate(ports[kind]):
        b.add_dev({'id': i, 'region': 1, 'zone': i + 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd%d' % i, 'weight': 100, 'meta': ''})
    b.rebalance()
    b.get_ring().save('${d()}/%s.ring.gz' % kind)
`;
  const built = spawnSync('/usr/bin/python3', ['-c', ring, JSON.stringify(ports)], { encoding: 'utf8', timeout: 60_000 });
  if (built.status !== 0) throw new Error(`building Swift rings failed: ${built.stderr}`);

  const common = (port: number, name: string) => `[DEFAULT]
bind_ip = 127.0.0.1
bind_port = ${port}
workers = 0
swift_dir = ${d()}
mount_check = false
log_name = ${name}
log_udp_host = 127.0.0.1
log_udp_port = 9
`;
  const confs: string[][] = Array.from({ length: NODES }, () => []);
  for (let i = 0; i < NODES; i++) {
    mkdirSync(d(`node${i}`, `d${i}`), { recursive: true });
    for (const kind of KINDS) {
      const file = d(`${kind}-${i}.conf`);
      writeFileSync(file, `${common(ports[kind][i], `${kind}-${i}`)}devices = ${d(`node${i}`)}

[pipeline:main]
pipeline = ${kind}-server

[app:${kind}-server]
use = egg:swift#${kind}
`);
      confs[i].push(file);
    }
  }
  const proxyConf = d('proxy.conf');
  writeFileSync(proxyConf, `${common(proxyPort, 'proxy')}
[pipeline:main]
pipeline = catch_errors gatekeeper proxy-logging cache listing_formats s3api tempauth copy dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true
# A node that comes back is used again within a second, not after a minute.
error_suppression_interval = 1
node_timeout = 5

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:s3api]
use = egg:swift#s3api

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcachePort}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
`);

  const children = new Map<string, ChildProcess>();
  const daemon = (name: string, bin: string, args: string[]) => {
    const child = spawn(`${BIN}/${bin}`, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (x) => (err = (err + x).slice(-4000)));
    child.once('exit', (code) => {
      if (children.get(name) === child) children.delete(name);
      if (code) console.error(`swift ${name} exited ${code}: ${err}`);
    });
    children.set(name, child);
  };
  const answers = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  const waitPorts = async (list: number[], ms = 60_000) => {
    const deadline = Date.now() + ms;
    for (const p of list) {
      while (!(await answers(p))) {
        if (Date.now() > deadline) throw new Error(`Swift: port ${p} did not answer within ${ms / 1000} s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
  const startNodeServers = (i: number) => KINDS.forEach((kind, k) => daemon(`${kind}-${i}`, `swift-${kind}-server`, [confs[i][k]]));

  daemon('memcached', 'memcached', ['-l', '127.0.0.1', '-p', String(memcachePort), '-U', '0', '-u', 'nobody', '-m', '64']);
  for (let i = 0; i < NODES; i++) startNodeServers(i);
  daemon('proxy', 'swift-proxy-server', [proxyConf]);
  await waitPorts([memcachePort, ...KINDS.flatMap((k) => ports[k]), proxyPort]);
  // Every server must be ours and up: a port answering may be another process's.
  const gone = ['memcached', 'proxy', ...KINDS.flatMap((k) => Array.from({ length: NODES }, (_, i) => `${k}-${i}`))].filter((n) => !children.has(n));
  if (gone.length) throw new Error(`Swift: ${gone.join(', ')} did not start (see above)`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const info = await fetch(`http://127.0.0.1:${proxyPort}/info`).then((r) => (r.ok ? r.json() : undefined)).catch(() => undefined);
    if ((info as { swift?: unknown } | undefined)?.swift) break;
    if (Date.now() > deadline) throw new Error(`Swift: the proxy on port ${proxyPort} does not answer /info`);
    await new Promise((r) => setTimeout(r, 200));
  }

  const nodePorts = (i: number) => KINDS.map((k) => ports[k][i]);
  return {
    endpoint: `http://127.0.0.1:${proxyPort}`,
    accessKeyId: 'test:tester',
    secretAccessKey: 'testing',
    async killNode(i) {
      await Promise.all(
        KINDS.map((kind) => {
          const c = children.get(`${kind}-${i}`);
          if (!c) return undefined;
          const gone = new Promise((r) => c.once('exit', r));
          c.kill('SIGKILL');
          return gone;
        }),
      );
    },
    async startNode(i) {
      startNodeServers(i);
      await waitPorts(nodePorts(i));
    },
    async stop() {
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) return resolve();
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}
