/**
 * A one-machine Ceph cluster from Debian's packages, for tests and benchmarks: one
 * monitor, one manager, four OSDs on sparse files (BlueStore), one RADOS Gateway with
 * an S3 user; pools keep 3 replicas. Everything lives in one folder and listens on
 * 127.0.0.1; each daemon runs in the foreground under its own PID, so a test can stop
 * exactly one storage node and start it again.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './proxies.js';

export const CEPH = ['ceph-mon', 'ceph-mgr', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph-authtool', 'ceph'].every((b) => existsSync(`/usr/bin/${b}`));

export interface CephCluster {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Stops OSD `i` as a crash would (SIGKILL) and waits until the monitor marks it down. */
  killOsd(i: number): Promise<void>;
  /** Starts OSD `i` again and waits until every placement group is active. */
  startOsd(i: number): Promise<void>;
  /** Sets `min_size` on every pool (1 lets a pool serve with a single live copy). */
  setMinSize(n: number): void;
  /** `ceph` with the cluster's settings; its stdout. */
  ceph(...args: string[]): string;
  stop(): Promise<void>;
}

const OSDS = 4;

export async function startCeph(dir: string): Promise<CephCluster> {
  if (!CEPH) throw new Error('Ceph is not installed (apt-get install ceph ceph-mon ceph-osd ceph-mgr radosgw)');
  const d = (...p: string[]) => path.join(dir, ...p);
  for (const sub of ['run', 'log', 'mon', 'mgr', 'rgw', ...Array.from({ length: OSDS }, (_, i) => `osd/${i}`)]) mkdirSync(d(sub), { recursive: true });
  const monPort = await freePort();
  const rgwPort = await freePort();
  const fsid = randomUUID();
  const conf = d('ceph.conf');
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon_host = v1:127.0.0.1:${monPort}
public_network = 127.0.0.0/8
ms_bind_msgr2 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = ${d('run')}
log_file = ${d('log')}/$name.log
admin_socket = ${d('run')}/$name.asok
pid_file = ${d('run')}/$name.pid
osd_pool_default_size = 3
osd_pool_default_min_size = 2
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_osd_reporter_subtree_level = osd
mon_osd_min_down_reporters = 1
mon_allow_pool_size_one = true
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_data_avail_warn = 1
mon_max_pg_per_osd = 1000
osd_heartbeat_grace = 4
osd_heartbeat_interval = 1
[mon]
mon_data = ${d('mon')}/$cluster-$id
[mgr]
mgr_data = ${d('mgr')}/$cluster-$id
[osd]
osd_data = ${d('osd')}/$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 10737418240
osd_memory_target = 1073741824
osd_max_object_size = 134217728
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw_data = ${d('rgw')}
rgw_dns_name = 127.0.0.1
`,
  );
  const run = (bin: string, args: string[], timeoutMs = 60_000) => {
    const r = spawnSync(`/usr/bin/${bin}`, [...args, '-c', conf], { encoding: 'utf8', timeout: timeoutMs });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const children = new Map<string, ChildProcess>();
  const daemon = (name: string, bin: string, args: string[]) => {
    const child = spawn(`/usr/bin/${bin}`, ['-f', '-c', conf, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (x) => (err = (err + x).slice(-4000)));
    child.once('exit', (code, signal) => {
      if (children.get(name) === child) children.delete(name);
      if (code && code !== 0) console.error(`ceph ${name} exited ${code ?? signal}: ${err}`);
    });
    children.set(name, child);
    return child;
  };
  const ceph = (...args: string[]) => run('ceph', ['--connect-timeout', '20', ...args]);
  const waitUntil = async (what: string, ok: () => boolean, ms = 120_000) => {
    const deadline = Date.now() + ms;
    const tried = () => {
      try {
        return ok();
      } catch {
        return false; // the cluster is still settling
      }
    };
    while (!tried()) {
      if (Date.now() > deadline) throw new Error(`Ceph: ${what} did not happen within ${ms / 1000} s`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  /** `fn` again until it works: a monitor just started refuses commands for a moment. */
  const retry = async <T>(what: string, fn: () => T, ms = 60_000): Promise<T> => {
    const deadline = Date.now() + ms;
    for (;;) {
      try {
        return fn();
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`Ceph: ${what} kept failing: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  // Monitor and manager.
  run('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, d('monmap')]);
  run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', d('monmap')]);
  daemon('mon.a', 'ceph-mon', ['-i', 'a']);
  await waitUntil('the monitor answering', () => {
    try {
      ceph('mon', 'stat');
      return true;
    } catch {
      return false;
    }
  });
  mkdirSync(d('mgr', 'ceph-x'), { recursive: true });
  daemon('mgr.x', 'ceph-mgr', ['-i', 'x']);

  // Four OSDs, each on its own sparse 10 GiB file.
  const osdIds: number[] = [];
  for (let i = 0; i < OSDS; i++) {
    const uuid = randomUUID();
    const id = Number((await retry('osd new', () => ceph('osd', 'new', uuid))).trim());
    await retry(`mkfs of osd.${id}`, () => run('ceph-osd', ['-i', String(id), '--mkfs', '--osd-uuid', uuid], 120_000));
    osdIds.push(id);
  }
  const startOsdDaemon = (i: number) => daemon(`osd.${osdIds[i]}`, 'ceph-osd', ['-i', String(osdIds[i])]);
  for (let i = 0; i < OSDS; i++) startOsdDaemon(i);
  const osdsUp = () => Number(/"num_up_osds":\s*(\d+)/.exec(ceph('osd', 'stat', '--format', 'json'))?.[1] ?? 0);
  // An OSD that gave up while the cluster was still settling is started again.
  await waitUntil('four OSDs up', () => {
    for (let i = 0; i < OSDS; i++) if (!children.has(`osd.${osdIds[i]}`)) startOsdDaemon(i);
    return osdsUp() === OSDS;
  });

  // The gateway and its S3 user.
  daemon('rgw.a', 'radosgw', ['-n', 'client.rgw.a']);
  const accessKeyId = 'FERRYTESTKEY';
  const secretAccessKey = 'ferry-test-secret-key';
  await waitUntil('the gateway answering', () => spawnSync('curl', ['-s', '-o', '/dev/null', `http://127.0.0.1:${rgwPort}/`]).status === 0);
  await retry('the S3 user', () => run('radosgw-admin', ['user', 'create', '--uid', 'ferry', '--display-name', 'Ferry tests', '--access-key', accessKeyId, '--secret-key', secretAccessKey]));
  const allActive = () => {
    const s = ceph('pg', 'stat', '--format', 'json');
    const states = [...s.matchAll(/"name":\s*"([^"]+)",\s*"num":\s*(\d+)/g)];
    return states.length > 0 && states.every(([, name]) => name === 'active+clean' || (name.startsWith('active') && !name.includes('peering')));
  };
  await waitUntil('every placement group active', allActive);

  return {
    endpoint: `http://127.0.0.1:${rgwPort}`,
    accessKeyId,
    secretAccessKey,
    ceph,
    async killOsd(i) {
      const child = children.get(`osd.${osdIds[i]}`);
      if (!child) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
      await waitUntil(`osd.${osdIds[i]} marked down`, () => !new RegExp(`"osd":\\s*${osdIds[i]},\\s*"uuid":"[^"]+",\\s*"up":\\s*1`).test(ceph('osd', 'dump', '--format', 'json')));
    },
    async startOsd(i) {
      startOsdDaemon(i);
      // A restarted OSD sometimes gives up at once ("wrong fsid" while the monitor still
      // holds its previous boot): it is started again, as at cluster start.
      await waitUntil(`osd.${osdIds[i]} up`, () => {
        if (!children.has(`osd.${osdIds[i]}`)) startOsdDaemon(i);
        return new RegExp(`"osd":\\s*${osdIds[i]},\\s*"uuid":"[^"]+",\\s*"up":\\s*1`).test(ceph('osd', 'dump', '--format', 'json'));
      });
      await waitUntil('every placement group active', allActive);
    },
    setMinSize(n) {
      for (const pool of ceph('osd', 'pool', 'ls').split('\n').filter(Boolean)) ceph('osd', 'pool', 'set', pool, 'min_size', String(n));
    },
    async stop() {
      const all = [...children.values()];
      await Promise.all(
        all.map(
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
