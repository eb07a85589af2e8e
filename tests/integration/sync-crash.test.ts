/**
 * Crash safety of `ferry sync`: two devices syncing continuously while files are added,
 * edited and renamed on both, and kill -9 hits one of the devices or the relay at random
 * moments, round after round. In the end both devices hold the same tree as the relay,
 * every file verifies, no part file is left, and every content a person wrote is still
 * on the relay (as a file, or in a file's history).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferry } from '../helpers/cli.js';
import { ALICE, FERRY_BIN, signIn, standardRelay, startRelayProcess, waitFor } from '../helpers/relay.js';
import { partFiles } from '../../relay/sync/node-local.js';
import type { FerryClient } from '../../relay/client/index.js';
import { contentHash, planChunks } from '../../relay/protocol/index.js';

const ROUNDS = Number(process.env.SYNC_CRASH_ROUNDS ?? 20);

let env: Awaited<ReturnType<typeof standardRelay>>;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  env = await standardRelay();
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await env?.close();
});

interface Device {
  name: string;
  dir: string;
  env: Record<string, string>;
  child?: ChildProcess;
  output: string;
}

async function device(name: string): Promise<Device> {
  const home = path.join(env.tmp, `crash-${name}`);
  const dir = path.join(home, 'folder');
  mkdirSync(dir, { recursive: true });
  const dEnv = { FERRY_CONFIG: path.join(home, 'config.json'), FERRY_PASSWORD: ALICE.password };
  expect((await ferry(['login', env.relay.httpUrl, '--user', ALICE.name], { env: dEnv })).code).toBe(0);
  return { name, dir, env: dEnv, output: '' };
}

function start(d: Device): void {
  const child = spawn(process.execPath, [FERRY_BIN, 'sync', d.dir, 'crash', '--device', d.name], { env: { ...process.env, ...d.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.stdout!.on('data', (b) => (d.output += b));
  child.stderr!.on('data', (b) => (d.output += b));
  d.child = child;
}

async function kill(d: Device): Promise<void> {
  const c = d.child!;
  children.delete(c);
  if (c.exitCode === null && c.signalCode === null) {
    const gone = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await gone;
  }
}

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const d of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (p === '.ferry-sync') continue;
      if (d.isDirectory()) walk(p);
      else out[p] = sha(readFileSync(path.join(dir, p)));
    }
  };
  walk('');
  return out;
}

/** The relay's content hash of a local file (its chunk list's). */
function localContent(file: string): string {
  const data = readFileSync(file);
  return contentHash(planChunks(data.length).map((c) => ({ sha256: sha(data.subarray(c.offset, c.offset + c.length)) })));
}

async function relayFiles(alice: FerryClient): Promise<Map<string, string>> {
  const t = await alice.request('tree', { folder: 'crash' });
  const m = new Map<string, string>();
  for (const e of t.entries) if (e.kind === 'file') m.set(e.path.slice('crash/'.length), e.contentHash!);
  return m;
}

describe('ferry sync under kill -9', () => {
  it(`${ROUNDS} rounds of edits on two devices with kills of a device or the relay: identical trees, nothing lost`, async () => {
    const a = await device('alpha');
    const b = await device('beta');
    start(a);
    start(b);
    const written = new Set<string>();
    let watcher = await signIn(env.relay, ALICE.name, ALICE.password, { reconnectTimeoutMs: 60_000 });
    const devices = [a, b];
    let relay = env.relay;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // A person's edit on one device: a new file, a change, or a rename.
        const d = devices[randomInt(2)];
        const existing = Object.keys(files(d.dir));
        const what = existing.length < 3 ? 0 : randomInt(3);
        if (what === 0) {
          const data = randomBytes(randomInt(1, 6 * 1024 * 1024));
          const name = `r${round}-${d.name}${randomInt(2) ? '/deep' : ''}/f${round}.bin`;
          mkdirSync(path.dirname(path.join(d.dir, name)), { recursive: true });
          writeFileSync(path.join(d.dir, name), data);
          written.add(sha(data));
        } else if (what === 1) {
          const name = existing[randomInt(existing.length)];
          // An edit of a file that reached the relay (overwriting a file before it was ever
          // sent replaces that content for good, on any system).
          const wanted = localContent(path.join(d.dir, name));
          await waitFor(async () => ((await relayFiles(watcher)).get(name) === wanted ? true : undefined), 60_000).catch(async (err) => {
            throw new Error(`${err}: ${name} on ${d.name} (${wanted}) vs relay ${(await relayFiles(watcher)).get(name)}\nalpha:\n${a.output.slice(-4000)}\nbeta:\n${b.output.slice(-4000)}`);
          });
          const data = randomBytes(randomInt(1, 3 * 1024 * 1024));
          writeFileSync(path.join(d.dir, name), data);
          written.add(sha(data));
        } else {
          const name = existing[randomInt(existing.length)];
          const to = `moved-${round}-${path.basename(name)}`;
          if (!existsSync(path.join(d.dir, to))) renameSync(path.join(d.dir, name), path.join(d.dir, to));
        }
        // Then bad luck: one of the three dies at a random moment, and comes back.
        await new Promise((r) => setTimeout(r, randomInt(0, 1500)));
        const victim = randomInt(3);
        if (victim === 2) {
          await relay.kill();
          await new Promise((r) => setTimeout(r, randomInt(100, 800)));
          relay = await startRelayProcess({ dataDir: relay.dataDir, port: relay.port });
          env.relay = relay;
          watcher.close();
          watcher = await signIn(relay, ALICE.name, ALICE.password);
        } else {
          await kill(devices[victim]);
          await new Promise((r) => setTimeout(r, randomInt(100, 800)));
          start(devices[victim]);
        }
      }
      const alice = await signIn(relay, ALICE.name, ALICE.password);
      try {
        // Everything settles: both devices and the relay hold the same files.
        await waitFor(async () => {
          const fa = files(a.dir);
          const fb = files(b.dir);
          if (JSON.stringify(fa) !== JSON.stringify(fb)) return undefined;
          const r = await relayFiles(alice);
          if (r.size !== Object.keys(fa).length) return undefined;
          return true;
        }, 120_000).catch((err) => {
          throw new Error(`${err}\nalpha:\n${a.output.slice(-3000)}\nbeta:\n${b.output.slice(-3000)}`);
        });
        expect(await partFiles(a.dir)).toEqual([]);
        expect(await partFiles(b.dir)).toEqual([]);
        // Every file verifies on the relay, and what the devices hold is what it stores.
        const local = files(a.dir);
        const kept = new Set<string>();
        for (const p of Object.keys(local)) {
          const v = await alice.request('verify', { path: `crash/${p}` });
          expect(v.ok, p).toBe(true);
          expect(v.sha256).toBe(local[p]);
          for (const h of (await alice.request('history', { path: `crash/${p}` })).versions) kept.add(h.sha256);
        }
        // Nothing a person wrote is lost: each content is a file or in a file's history.
        for (const h of written) expect(kept.has(h), `content ${h} is on the relay`).toBe(true);
      } finally {
        alice.close();
      }
    } finally {
      watcher.close();
      await kill(a);
      await kill(b);
    }
  }, 600_000);
});
