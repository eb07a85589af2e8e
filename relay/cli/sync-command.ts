/**
 * `ferry sync`: keeps local folders and relay folders the same until stopped.
 *
 *   ferry sync LOCAL REMOTE [--mode two-way|upload-only|download-only] [--device NAME] [--once] [--scan-every SECONDS]
 *        [--names posix|windows|macos]   which names the folder can hold (default: this system's)
 *   ferry sync --pairs FILE        several pairs (JSON: [{ "local", "remote", "mode"? }])
 *   ferry sync status [--json]     each pair: up to date / syncing / paused (why) / conflicts
 *   ferry sync resume LOCAL        lets a paused pair go on (deletes the breaker held back)
 *
 * A pair's state (the base of the last round) is a SQLite file under the CLI's config
 * folder, `sync/<id>.db`; its status, rewritten after every round, `sync/<id>.json`.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { FerryClient } from '../client/connection.js';
import { RemotePaths } from '../client/remote-path.js';
import { FerryError } from '../protocol/index.js';
import { SyncEngine, type SyncMode, type SyncStatus } from '../sync/engine.js';
import { NodeLocalTree, SqliteSyncState, watchFolder } from '../sync/node-local.js';
import { runSyncLoop } from '../sync/runner.js';
import { DeviceReporter, folderInfo } from '../sync/report.js';
import { configPath, loadSession, pinKey, pinnedKey } from './config-file.js';
import { NodeHashPool } from './hash-pool.js';
import { E2eFolders } from '../client/e2e.js';
import { SealedPair } from '../sync/sealed.js';
import { unlockedKey } from './e2e-keys.js';
import { fileSha256 } from './node-files.js';

const MODES: SyncMode[] = ['two-way', 'upload-only', 'download-only'];
type NameRules = 'posix' | 'windows' | 'macos';
const NAME_RULES: NameRules[] = ['posix', 'windows', 'macos'];
/** A full scan this often even when nothing was heard (watching can miss events); `--scan-every` seconds. */
const FULL_SCAN_S = 1800;

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

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

function describe(s: StatusFile): string {
  const st = s.status;
  const running = alive(s.pid);
  let state: string = st.state;
  if (!running) state = st.state === 'paused' ? 'paused (not running)' : 'not running';
  const parts = [`${s.local} ⇄ ${s.remote || '(My files)'} [${s.mode}]: ${state}`];
  if (st.state === 'paused' && st.reason) parts.push(`  why: ${st.reason}`);
  if (st.state === 'syncing' && st.files > 0) {
    const seconds = st.transfersSince ? (s.updatedAt - st.transfersSince) / 1000 : 0;
    const speed = seconds > 0 ? st.doneBytes / seconds : 0;
    const left = speed > 0 ? Math.ceil((st.bytes - st.doneBytes) / speed) : undefined;
    parts.push(`  ${st.files} files, ${mib(st.doneBytes)} of ${mib(st.bytes)}${speed ? `, ${mib(speed)}/s, about ${left} s left` : ''}`);
  }
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
    options: { mode: { type: 'string' }, device: { type: 'string' }, names: { type: 'string' }, pairs: { type: 'string' }, once: { type: 'boolean' }, 'scan-every': { type: 'string' } },
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
  const names = (values.names ?? (process.platform === 'win32' ? 'windows' : process.platform === 'darwin' ? 'macos' : 'posix')) as NameRules;
  if (!NAME_RULES.includes(names)) throw new FerryError('BAD_MESSAGE', `--names must be one of ${NAME_RULES.join(', ')}, got "${values.names}"`);
  const scanEvery = Number(values['scan-every'] ?? FULL_SCAN_S);
  if (!(scanEvery >= 1)) throw new FerryError('BAD_MESSAGE', `--scan-every must be a number of seconds (1 or more), got "${values['scan-every']}"`);
  const session = await loadSession();
  await mkdir(stateDir(), { recursive: true });
  const opened = new Set<() => void>();
  const pool = new NodeHashPool();
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    // A sync client starts (and goes on) while the relay cannot be reached: it tries again,
    // waiting longer each time up to half a minute. `--once` fails at once instead.
    for (let wait = 1000; ; wait = Math.min(wait * 2, 30_000)) {
      try {
        await withClient(async (client) => {
          wait = 1000;
          const attempt = new AbortController();
          const abortAttempt = () => attempt.abort();
          stop.signal.addEventListener('abort', abortAttempt, { once: true });
          try {
            const reporter = new DeviceReporter(client, { name: device, kind: 'cli' });
            const runs = pairs.map((p) => runPair(client, session.url, p, device, { names, once: !!values.once, signal: attempt.signal, out, opened, scanMs: scanEvery * 1000, reporter, pool }));
            // One pair failing ends this attempt for all (they share the connection).
            const results = await Promise.allSettled(runs.map((r) => r.catch((err) => {
              attempt.abort();
              throw err;
            })));
            await reporter.flush();
            reporter.close();
            const failed = results.find((r) => r.status === 'rejected');
            if (failed) throw (failed as PromiseRejectedResult).reason;
          } finally {
            stop.signal.removeEventListener('abort', abortAttempt);
          }
        }, (state) => {
          // Back after a drop: everything missed is in the next round's comparison.
          if (state === 'open') for (const f of opened) f();
        });
        return;
      } catch (err) {
        if ((err as FerryError).code !== 'CONNECTION_LOST' || values.once || stop.signal.aborted) throw err;
        out(`${new Date().toISOString()} relay not reachable (${(err as Error).message}); trying again in ${wait / 1000} s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          stop.signal.addEventListener('abort', () => {
            clearTimeout(t);
            resolve();
          }, { once: true });
        });
        if (stop.signal.aborted) return;
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await pool.close();
  }
}

async function runPair(client: FerryClient, url: string, pair: Pair, device: string, opts: { names: NameRules; once: boolean; signal: AbortSignal; out: (line: string) => void; opened: Set<() => void>; scanMs: number; reporter: DeviceReporter; pool: NodeHashPool }): Promise<void> {
  const id = pairId(url, pair);
  const { space, path: plainRemote, info } = await new RemotePaths(client).resolve(pair.remote);
  // A folder in an end-to-end encrypted one: names sealed for the relay, files compared as sealed.
  const session = await loadSession();
  const place = await new E2eFolders(client, () => unlockedKey(session), { get: (u) => pinnedKey(session.url, u), set: (u, fp) => pinKey(session.url, u, fp) }).place(space, plainRemote);
  const remote = place.relayPath;
  if (remote !== '') await client.request('mkdir', { space, path: remote });
  const state = new SqliteSyncState(path.join(stateDir(), `${id}.db`));
  const plainLocal = new NodeLocalTree(pair.local, opts.pool);
  const sealing = place.root ? new SealedPair(place.root.cipher, (rel) => fileSha256(path.join(pair.local, ...rel.split('/')))) : undefined;
  const local = sealing ? sealing.tree(plainLocal) : plainLocal;
  const say = (line: string) => opts.out(`${new Date().toISOString()} ${pair.local}: ${line}`);
  const engine = new SyncEngine({ client, space, spaceId: info.id, remote, local, state, mode: pair.mode, device, names: opts.names, log: say, sealing });
  const statusFile = path.join(stateDir(), `${id}.json`);
  let writes = 0;
  const writeStatus = async () => {
    const body: StatusFile = { pid: process.pid, local: pair.local, remote: pair.remote, mode: pair.mode, device, updatedAt: Date.now(), status: engine.status };
    // A temp file per write: the progress timer and the end of a round may write at once.
    const tmp = `${statusFile}.${process.pid}.${++writes}.tmp`;
    await writeFile(tmp, JSON.stringify(body, null, 2));
    await rename(tmp, statusFile);
    opts.reporter.update(id, folderInfo(pair.local, space, remote, pair.mode, engine.status));
  };

  let startRound = () => {};
  const wakeup = () => startRound();
  opts.opened.add(wakeup);
  try {
    await runSyncLoop({
      engine,
      client,
      spaceId: info.id,
      remote,
      watch: (changed, degraded) => watchFolder(pair.local, changed, degraded),
      fullScanMs: opts.scanMs,
      once: opts.once,
      signal: opts.signal,
      onStatus: writeStatus,
      log: say,
      wakeup: (start) => (startRound = start),
    });
  } finally {
    opts.opened.delete(wakeup);
    state.close();
  }
}
