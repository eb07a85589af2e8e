/**
 * A throwaway PostgreSQL server from Debian's packages, for tests and benchmarks: its
 * own data folder, port and socket folder, listening on 127.0.0.1 only, trust
 * authentication for the user `ferry`. The server refuses to run as root, so as root
 * it runs as the `postgres` user (its folder sits under a parent that user can enter).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './proxies.js';

const BIN = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin'].find((d) => existsSync(path.join(d, 'pg_ctl')));
export const POSTGRES = !!BIN;

export interface PostgresServer {
  port: number;
  /** A URL for `database` (made by `createDatabase`, or `postgres`). */
  url(database?: string): string;
  /** Makes an empty database; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (as a crash would with `immediate`) and keeps its data. */
  stopServer(mode?: 'fast' | 'immediate'): void;
  /** Starts it again on the same port. */
  startServer(): void;
  stop(): Promise<void>;
}

let databases = 0;

/**
 * Starts a server. `durable: false` (tests) turns off fsync and synchronous commit:
 * the engine's durability is not what a test checks; benchmarks keep the defaults.
 * `settings`: more `name=value` server settings.
 */
export async function startPostgres(opts: { durable?: boolean; settings?: string[] } = {}): Promise<PostgresServer> {
  if (!BIN) throw new Error('PostgreSQL is not installed (apt-get install postgresql-15)');
  const root = process.getuid?.() === 0;
  const base = mkdtempSync(path.join(os.tmpdir(), 'ferry-pg-'));
  chmodSync(base, 0o755);
  const data = path.join(base, 'data');
  const sockets = path.join(base, 'run');
  mkdirSync(data, { mode: 0o700 });
  mkdirSync(sockets, { mode: 0o755 });
  let uid = 0;
  let gid = 0;
  if (root) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const p of [data, sockets]) chownSync(p, uid, gid);
  }
  const run = (bin: string, args: string[]) =>
    root ? execFileSync('runuser', ['-u', 'postgres', '--', path.join(BIN, bin), ...args], { stdio: 'pipe' }) : execFileSync(path.join(BIN, bin), args, { stdio: 'pipe' });
  run('initdb', ['-D', data, '-U', 'ferry', '--auth=trust', '-E', 'UTF8', '--no-instructions']);
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    `-k ${sockets}`,
    "-c listen_addresses='127.0.0.1'",
    '-c max_connections=200',
    ...(opts.durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
    ...(opts.settings ?? []).map((s) => `-c ${s}`),
  ].join(' ');
  const log = path.join(base, 'server.log');
  const startServer = () => {
    try {
      run('pg_ctl', ['-D', data, '-o', settings, '-l', log, '-w', '-t', '60', 'start']);
    } catch (err) {
      throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : ''}`);
    }
  };
  const stopServer = (mode: 'fast' | 'immediate' = 'fast') => {
    run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
  };
  if (root) chownSync(base, uid, gid);
  startServer();
  const url = (database = 'postgres') => `postgres://ferry@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name = `ferry_${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stopServer,
    startServer,
    async stop() {
      try {
        stopServer('immediate');
      } catch {
        // Already stopped.
      }
      rmSync(base, { recursive: true, force: true });
    },
  };
}
