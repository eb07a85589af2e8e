/**
 * `ferry sync`: keeps local folders and relay folders the same until stopped.
 *
 *   ferry sync LOCAL REMOTE [--mode two-way|upload-only|download-only] [--device NAME] [--once] [--scan-every SECONDS]
 *   ferry sync --pairs FILE        several pairs (JSON: [{ "local", "remote", "mode"? }])
 *   ferry sync status [--json]     each pair: up to date / syncing / paused (why) / conflicts
 *   ferry sync resume LOCAL        lets a paused pair go on (deletes the breaker held back)
 *
 * A pair's state (the base of the last round) is a SQLite file under the CLI's config
 * folder, `sync/<id>.db`; its status, rewritten after every round, `sync/<id>.json`.
 */
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FerryClient } from '../client/connection.js';
import { RemotePaths } from '../client/remote-path.js';
import { FerryError } from '../protocol/index.js';
import { SETTLE_MS, SyncEngine, type SyncMode, type SyncStatus } from '../sync/engine.js';
import { NodeLocalTree, SqliteSyncState } from '../sync/node-local.js';
import { configPath, loadSession } from './config-file.js';

const MODES: SyncMode[] = ['two-way', 'upload-only', 'download-only'];
/** A full scan this often even when nothing was heard (watching can miss events); `--scan-every` seconds. */
const FULL_SCAN_S = 600;
/** Local events are gathered this long before a round starts. */
const LOCAL_BATCH_MS = 50;

interface Pair {
  local: string;
  remote: string;
  mode: SyncMode;
}

interface StatusFile {
  pid: number;
  local: string;
  remote: string;
  mode: SyncMode;
  device: string;
  updatedAt: number;
  status: SyncStatus;
}

function stateDir(): string {
  return path.join(path.dirname(configPath()), 'sync');
}

function pairId(url: string, pair: Pair): string {
  return createHash('sha256').update(`${url}\n${path.resolve(pair.local)}\n${pair.remote}`).digest('hex').slice(0, 16);
}

async function readStatuses(): Promise<(StatusFile & { id: string })[]> {
  const dir = stateDir();
  const found: (StatusFile & { id: string })[] = [];
  for (const name of await readdir(dir).catch(() => [])) {
    if (!name.endsWith('.json')) continue;
    const s = JSON.parse(await readFile(path.join(dir, name), 'utf8').catch(() => 'null')) as StatusFile | null;
    if (s) found.push({ ...s, id: name.slice(0, -5) });
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function describe(s: StatusFile): string {
  const st = s.status;
  const running = alive(s.pid);
  let state: string = st.state;
  if (!running) state = st.state === 'paused' ? 'paused (not running)' : 'not running';
  const parts = [`${s.local} ⇄ ${s.remote || '(My files)'} [${s.mode}]: ${state}`];
  if (st.state === 'paused' && st.reason) parts.push(`  why: ${st.reason}`);
  if (st.state === 'syncing' && st.files > 0) parts.push(`  ${st.files} files, ${st.doneBytes} of ${st.bytes} bytes`);
  if (st.conflicts.length) parts.push(`  conflicts: ${st.conflicts.length} (${st.conflicts.slice(0, 5).join(', ')})`);
  if (st.ignored) parts.push(`  ignored: ${st.ignored} files and folders (.ferryignore and system files)`);
  if (st.skipped.length) parts.push(`  skipped: ${st.skipped.map((k) => `${k.path} (${k.why})`).join('; ')}`);
  if (st.lastSyncAt) parts.push(`  last round: ${new Date(st.lastSyncAt).toISOString()}`);
  return parts.join('\n');
}

export async function syncCommand(args: string[], withClient: <T>(fn: (c: FerryClient) => Promise<T>, onState?: (state: string) => void) => Promise<T>, out: (line: string) => void): Promise<void> {
  if (args[0] === 'status') {
    const { values } = parseArgs({ args: args.slice(1), options: { json: { type: 'boolean' } } });
    const all = await readStatuses();
    if (values.json) return out(JSON.stringify(all.map((s) => ({ ...s, running: alive(s.pid) })), null, 2));
    if (all.length === 0) return out('No sync pairs yet. Start one with: ferry sync LOCAL REMOTE');
    for (const s of all) out(describe(s));
    return;
  }
  if (args[0] === 'resume') {
    const local = args[1];
    if (!local) throw new FerryError('BAD_MESSAGE', 'usage: ferry sync resume LOCAL');
    const matching = (await readStatuses()).filter((s) => s.local === path.resolve(local));
    if (matching.length === 0) throw new FerryError('NOT_FOUND', `No sync pair for ${path.resolve(local)}.`);
    for (const s of matching) {
      const state = new SqliteSyncState(path.join(stateDir(), `${s.id}.db`));
      await state.setValue('allowDeletes', '1');
      await state.setValue('paused', undefined);
      state.close();
      out(`${s.local}: resumed${alive(s.pid) ? '' : ' (start it again with ferry sync)'}`);
    }
    return;
  }
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { mode: { type: 'string' }, device: { type: 'string' }, pairs: { type: 'string' }, once: { type: 'boolean' }, 'scan-every': { type: 'string' } },
  });
  let pairs: Pair[];
  if (values.pairs) {
    const list = JSON.parse(await readFile(values.pairs, 'utf8')) as Partial<Pair>[];
    pairs = list.map((p) => ({ local: path.resolve(String(p.local)), remote: String(p.remote ?? ''), mode: (p.mode ?? 'two-way') as SyncMode }));
  } else {
    if (positionals.length !== 2) throw new FerryError('BAD_MESSAGE', 'usage: ferry sync LOCAL REMOTE [--mode two-way|upload-only|download-only] [--device NAME] [--once]');
    pairs = [{ local: path.resolve(positionals[0]), remote: positionals[1], mode: (values.mode ?? 'two-way') as SyncMode }];
  }
  for (const p of pairs) if (!MODES.includes(p.mode)) throw new FerryError('BAD_MESSAGE', `--mode must be one of ${MODES.join(', ')}, got "${p.mode}"`);
  const device = values.device ?? hostname();
  const scanEvery = Number(values['scan-every'] ?? FULL_SCAN_S);
  if (!(scanEvery >= 1)) throw new FerryError('BAD_MESSAGE', `--scan-every must be a number of seconds (1 or more), got "${values['scan-every']}"`);
  const session = await loadSession();
  await mkdir(stateDir(), { recursive: true });
  const opened = new Set<() => void>();
  await withClient(async (client) => {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await Promise.all(pairs.map((p) => runPair(client, session.url, p, device, { once: !!values.once, signal: stop.signal, out, opened, scanMs: scanEvery * 1000 })));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }, (state) => {
    // Back after a drop: everything missed is in the next round's comparison.
    if (state === 'open') for (const f of opened) f();
  });
}

async function runPair(client: FerryClient, url: string, pair: Pair, device: string, opts: { once: boolean; signal: AbortSignal; out: (line: string) => void; opened: Set<() => void>; scanMs: number }): Promise<void> {
  const id = pairId(url, pair);
  const { space, path: remote, info } = await new RemotePaths(client).resolve(pair.remote);
  if (remote !== '') await client.request('mkdir', { space, path: remote });
  const state = new SqliteSyncState(path.join(stateDir(), `${id}.db`));
  const local = new NodeLocalTree(pair.local);
  const say = (line: string) => opts.out(`${new Date().toISOString()} ${pair.local}: ${line}`);
  const engine = new SyncEngine({ client, space, remote, local, state, mode: pair.mode, device, log: say });
  const statusFile = path.join(stateDir(), `${id}.json`);
  const writeStatus = async () => {
    const body: StatusFile = { pid: process.pid, local: pair.local, remote: pair.remote, mode: pair.mode, device, updatedAt: Date.now(), status: engine.status };
    await writeFile(`${statusFile}.tmp`, JSON.stringify(body, null, 2));
    await rename(`${statusFile}.tmp`, statusFile);
  };

  let due = true;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  const schedule = (ms: number) => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      due = true;
      wake?.();
    }, ms);
  };
  const prefix = remote ? `${remote}/` : '';
  const offEvents = client.onLibraryEvent((e) => {
    if (e.space !== info.id && e.fromSpace !== info.id) return;
    if (remote === '' || e.path === remote || e.path.startsWith(prefix) || e.from?.startsWith(prefix)) schedule(0);
  });
  const reopened = () => schedule(0);
  opts.opened.add(reopened);
  let watcher: FSWatcher | undefined;
  const startWatching = () => {
    try {
      watcher = watch(pair.local, { recursive: true }, () => schedule(LOCAL_BATCH_MS));
      watcher.on('error', () => {
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined; // the folder is missing: the full scan notices
    }
  };
  startWatching();
  const full = setInterval(() => {
    if (!watcher) startWatching();
    schedule(0);
  }, opts.scanMs);
  try {
    while (!opts.signal.aborted) {
      if (!due) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          opts.signal.addEventListener('abort', () => resolve(), { once: true });
        });
        wake = undefined;
        continue;
      }
      due = false;
      try {
        const report = await engine.runOnce();
        if (report.unsettled > 0) schedule(SETTLE_MS);
        if (opts.once && report.unsettled === 0) {
          await writeStatus();
          if (report.paused) throw new FerryError('SYNC_PAUSED', report.paused);
          return;
        }
      } catch (err) {
        const code = (err as FerryError).code;
        if (code === 'SYNC_PAUSED' || code === 'SESSION_EXPIRED' || code === 'AUTH_REQUIRED') throw err;
        say(`round failed: ${code ?? 'ERROR'}: ${(err as Error).message}; trying again`);
        engine.status.state = code === 'CONNECTION_LOST' ? 'offline' : engine.status.state;
        if (code === 'CONNECTION_LOST') await client.ready().catch(() => {});
        schedule(code === 'CONNECTION_LOST' ? 0 : 2000);
      }
      await writeStatus();
    }
  } finally {
    clearInterval(full);
    if (timer) clearTimeout(timer);
    watcher?.close();
    offEvents();
    opts.opened.delete(reopened);
    state.close();
  }
}
