/**
 * Test helpers: a real relay process on 127.0.0.1 with a fresh data folder, users
 * created through the real accounts code, and clients using the real engine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Accounts } from '../../relay/auth/accounts.js';
import { SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { connectNode } from '../../relay/cli/node-client.js';
import { afterAll, beforeAll } from 'vitest';
import type { FerryClient, FerryClientOptions } from '../../relay/client/index.js';
import type { Role } from '../../relay/protocol/index.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const FERRY_BIN = path.join(ROOT, 'bin/ferry.js');

export function tempDir(prefix = 'ferry-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RelayProcess {
  port: number;
  dataDir: string;
  httpUrl: string;
  wsUrl: string;
  child: ChildProcess;
  /** Everything the process printed. */
  output: () => string;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait. */
  kill(): Promise<void>;
}

/** Starts `ferry serve` on 127.0.0.1 (port 0 picks a free one unless `port` is given). */
export async function startRelayProcess(opts: { dataDir: string; port?: number; args?: string[]; env?: Record<string, string>; web?: boolean | string }): Promise<RelayProcess> {
  const web = typeof opts.web === 'string' ? opts.web : opts.web ? path.join(ROOT, 'dist', 'web') : path.join(opts.dataDir, 'no-web');
  const child = spawn(
    process.execPath,
    [FERRY_BIN, 'serve', '--host', '127.0.0.1', '--port', String(opts.port ?? 0), '--data', opts.dataDir, '--web', web, ...(opts.args ?? [])],
    { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${out}`)), 20_000);
    const check = () => {
      const m = /Ferry relay on https?:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}:\n${out}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    port,
    dataDir: opts.dataDir,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    child,
    output: () => out,
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
  };
}

/** Creates users in the relay's database with the real accounts code. */
export async function addUsers(dataDir: string, users: { name: string; password: string; role: Role }[]): Promise<void> {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dataDir, { recursive: true });
  const meta = new SqliteMetaStore(path.join(dataDir, 'ferry.db'));
  try {
    const accounts = new Accounts(meta, 86_400_000);
    for (const u of users) await accounts.addUser(u.name, u.role, u.password);
  } finally {
    await meta.close();
  }
}

/** A client signed in as `user`. */
export async function signIn(relay: { wsUrl: string }, user: string, password: string, opts: Partial<FerryClientOptions> = {}): Promise<FerryClient> {
  const client = await connectNode({ url: relay.wsUrl, ...opts });
  await client.login(user, password);
  return client;
}

export const ADMIN = { name: 'admin', password: 'admin-password', role: 'admin' as const };
export const ALICE = { name: 'alice', password: 'alice-password', role: 'user' as const };
export const BOB = { name: 'bob', password: 'bob-password-1', role: 'user' as const };

/** A relay with an admin and two users, for a test file to share. */
export async function standardRelay(args: string[] = [], env: Record<string, string> = {}, opts: { web?: boolean } = {}) {
  const tmp = tempDir();
  const dataDir = path.join(tmp.dir, 'data');
  await addUsers(dataDir, [ADMIN, ALICE, BOB]);
  const relay = await startRelayProcess({ dataDir, args, env, web: opts.web });
  return {
    relay,
    tmp: tmp.dir,
    async close() {
      // A test may have put a restarted relay in `relay`: stop that one too.
      await relay.stop();
      if (this.relay !== relay) await this.relay.stop();
      tmp.remove();
    },
  };
}

/** The relay's JSON log lines so far. */
export function relayLog(dataDir: string): Record<string, unknown>[] {
  const text = readFileSync(path.join(dataDir, 'logs', 'current.log'), 'utf8').trim();
  return text ? text.split('\n').map((l) => JSON.parse(l)) : [];
}

/** Polls until `fn` returns something other than undefined. */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface AliceOnRelay {
  env: Awaited<ReturnType<typeof standardRelay>>;
  alice: FerryClient;
}

/**
 * For a describe block: a relay with the standard users and a client signed in as
 * alice, started before its tests and stopped after them.
 */
export function aliceOnRelay(args: string[] = [], opts: { web?: boolean } = {}): AliceOnRelay {
  const f = {} as AliceOnRelay;
  beforeAll(async () => {
    f.env = await standardRelay(args, {}, opts);
    f.alice = await signIn(f.env.relay, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    f.alice?.close();
    await f.env?.close();
  });
  return f;
}

/** SHA-256 of what the relay stores at `path`, downloaded (and verified) as alice. */
export async function storedSha256(relay: { wsUrl: string }, path: string): Promise<string> {
  const { downloadFile } = await import('../../relay/client/index.js');
  const { memorySink, sha256 } = await import('./files.js');
  const client = await signIn(relay, ALICE.name, ALICE.password);
  try {
    const sink = memorySink();
    await downloadFile(client, sink, { path });
    return sha256(sink.bytes());
  } finally {
    client.close();
  }
}

/**
 * Creates a shared folder as an admin (signing in as ADMIN on `relay`) with these
 * members; returns its space id.
 */
export async function sharedFolder(relay: { wsUrl: string }, name: string, members: Record<string, 'view' | 'edit'>): Promise<number> {
  const admin = await signIn(relay, ADMIN.name, ADMIN.password);
  try {
    const f = await admin.request('folder.create', { name, members: Object.entries(members).map(([user, access]) => ({ user, access })) });
    return f.id;
  } finally {
    admin.close();
  }
}
