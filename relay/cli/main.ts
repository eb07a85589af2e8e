/**
 * `ferry`: the relay (`ferry serve`), server-side user management, and a client
 * that speaks the same protocol with the same transfer engine as the web app.
 */
import { hostname, tmpdir } from 'node:os';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FerryError, CHUNK_SIZE, CONFLICT_POLICIES, ROLES, checkFolder, displayName, formatBytes, joinPath, type ConflictPolicy, type Role } from '../protocol/index.js';
import { chunkFeed, downloadFile, uploadFile, type FerryClient, type UploadResult } from '../client/index.js';
import { RemotePaths, spacePrefix } from '../client/remote-path.js';
import { E2eFolders, newFileId, openingSink, sealingSource, type E2ePlace, type KeyPins } from '../client/e2e.js';
import { plainSize } from '../crypto/format.js';
import { linkFragment, newLinkSeal, openOwnLink, wrapLinkKey } from '../crypto/link.js';
import { keysInit, keysPassphrase, keysRecover, keysShow, lockKeys, unlock, unlockedKey } from './e2e-keys.js';
// The relay's modules (SQLite, pino, the HTTP server) load only for `serve` and `user`,
// so client commands start fast.
const relayModules = () =>
  Promise.all([import('../config.js'), import('../server.js'), import('../store/open-meta-store.js'), import('../auth/accounts.js')]);
import { clearSession, loadDevice, loadSession, pinKey, pinnedKey, saveSession, trustCa, trustedCa, wsUrl, configPath } from './config-file.js';
import { connectNode } from './node-client.js';
import { probeTls, untrusted } from './tls-trust.js';
import { fileSha256, fileSink, isDirectory, isExecutableMode, openFileSource, partPath } from './node-files.js';
import { NodeSealPool, openChunkNode, sealedUpload } from './seal-pool.js';
import { createProgress, type Progress } from './progress.js';
import { NodeHashPool } from './hash-pool.js';
import { readAnswer, readPassword } from './prompt.js';
import { mark, printTimings } from './timings.js';

const USAGE = `ferry — self-hosted file sharing

Relay:
  ferry serve [--port N] [--data DIR] ...      run the relay (see: ferry serve --help)
  ferry user add NAME --role admin|user [--data DIR] [--meta …]
                                               add a user (password from stdin)
  ferry migrate [--data DIR --meta … --chunks …] --to-meta … --to-chunks … [--to-data DIR]
                                               copy the whole library to other stores
                                               (SQLite + files ↔ PostgreSQL + S3), resumable
Client:
  ferry login URL --user NAME [--also URL]...  sign in (password from FERRY_PASSWORD or a prompt);
                                               --also: other relays of the same deployment, used
                                               in turn when one cannot be reached
  ferry logout
  ferry put PATH... [--to FOLDER] [--on-conflict version|rename|overwrite]
  ferry get REMOTE [-o LOCAL] [--version N] [--force]   (--force replaces an existing local file)
  ferry get FOLDER... --zip [-o LOCAL.zip]     folders and files as one zip, streamed
  ferry ls [FOLDER] [--versions] [--json]
  ferry search TEXT [--in SPACE:] [--json]     names containing TEXT, in every space I can see
  ferry mv REMOTE REMOTE                       rename or move (into a folder when the target is one)
  ferry mkdir FOLDER [--encrypted]             --encrypted: end-to-end encrypted (names and contents
                                               sealed on your devices; see ferry keys)
  ferry rm REMOTE                              move to the trash
  ferry rm --purge REMOTE [--version N]        delete for good (admins)
  ferry trash [SPACE:] [--json] [--empty]      what is in the trash (--empty: delete it all, admins)
  ferry untrash REMOTE                         put back from the trash, with every version
  ferry verify REMOTE [--version N]
  ferry restore REMOTE --version N
  ferry link REMOTE [--expires 1h|7d] [--max-downloads N] [--password] [--version N] [--message TEXT]
                                               a share link (password from FERRY_LINK_PASSWORD or a prompt)
  ferry links [--json] [--all]                 my links (--all: everyone's, admins only)
  ferry devices [--json] [--all]               my devices, what each syncs, when last seen
  ferry devices revoke ID                      signs a device out everywhere at once
  ferry unlink ID|URL                          revoke a link
  ferry spaces [--json]                        My files and the shared folders I am in
  ferry keys init                              make your encryption keys (passphrase from
                                               FERRY_PASSPHRASE or a prompt); prints the recovery key
  ferry keys show|passphrase|recover           fingerprint and state; a new passphrase; a new one
                                               from the recovery key (FERRY_RECOVERY_KEY or a prompt)
  ferry keys trust USER                        forget the public key pinned for USER (after they made
                                               new keys and you compared the fingerprint)
  ferry unlock [--for 1h]                      open your keys on this machine (until ferry lock,
                                               ferry logout, or the time given)
  ferry lock                                   forget them on this machine
  ferry sync LOCAL REMOTE [--mode two-way|upload-only|download-only] [--device NAME] [--once]
                                               keep a local folder and a relay folder the same
                                               until stopped (--once: one round); --pairs FILE
                                               for several (JSON [{"local","remote","mode"}]);
                                               --names windows|macos|posix: names the folder can
                                               hold (default: this system's; others are skipped)
  ferry sync status [--json]                   each pair: up to date, syncing, paused (why), conflicts
  ferry sync resume LOCAL                      let a paused pair go on
Admins:
  ferry folders [--json]                       shared folders with their members
  ferry folder add NAME [--member USER=edit|view]...
  ferry folder set NAME --member USER=edit|view|none...
  ferry folder rm NAME                         delete a shared folder and everything in it

Remote paths: me:docs/a.pdf is in My files, team:docs/a.pdf in the shared folder "team";
a path without a space (docs/a.pdf) is in My files.

Session file: $FERRY_CONFIG, else ~/.config/ferry/config.json
FERRY_TIMINGS=1: print where a command's time went (ms since it started) on stderr
`;

class UsageError extends Error {}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function versionFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--version must be a positive whole number, got "${v}"`);
  return n;
}

/**
 * The CA to trust for an https relay: the kept one, checked now with one handshake so a
 * certificate from another authority is refused before anything is sent.
 */
async function relayCa(url: string): Promise<string | undefined> {
  if (new URL(url).protocol !== 'https:') return undefined;
  const ca = await trustedCa(url);
  const probe = await probeTls(url, ca);
  if (!probe.trusted) throw untrusted(url, probe, ca ? 'It is not signed by the authority you trusted before. If the relay was given a new one, sign in again with: ferry login URL --user NAME --ca FILE' : 'Sign in again with: ferry login URL --user NAME');
  return ca;
}

async function withClient<T>(fn: (client: FerryClient) => Promise<T>, onState?: (state: string) => void): Promise<T> {
  const session = await loadSession();
  let ca: string | ((url: string) => string | undefined) | undefined;
  if (!session.alternates) ca = await relayCa(session.url);
  else {
    // Several relays: no handshake up front (the first may be the one that is down); each
    // socket checks its relay's certificate against the authority kept for that address.
    const kept = new Map<string, string | undefined>();
    for (const u of [session.url, ...session.alternates]) kept.set(new URL(wsUrl(u)).host, await trustedCa(u));
    ca = (u) => kept.get(new URL(u).host);
  }
  mark('session read');
  const client = await connectNode({ url: wsUrl(session.url), alternates: session.alternates?.map(wsUrl), token: session.token, reconnectTimeoutMs: 120_000, onState, ca });
  mark('signed in');
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

async function serve(args: string[]): Promise<void> {
  const [{ loadConfig, SETTINGS }, { startRelay, lanAddresses }] = await relayModules();
  const options = Object.fromEntries(SETTINGS.map((s) => [s.flag.slice(2), { type: 'string' as const }]));
  const { values } = parseArgs({ args, options: { ...options, help: { type: 'boolean' } }, strict: true });
  if (values.help) {
    const rows = [{ flag: 'flag', env: 'env', default: 'default', help: 'meaning' }, ...SETTINGS];
    const width = (k: 'flag' | 'env' | 'default') => Math.max(...rows.map((r) => r[k].length)) + 2;
    const [f, e, d] = [width('flag'), width('env'), width('default')];
    out('ferry serve [flags]\n');
    for (const r of rows) out(`${r.flag.padEnd(f)}${r.env.padEnd(e)}${r.default.padEnd(d)}${r.help}`);
    return;
  }
  const config = loadConfig(values as Record<string, string | undefined>);
  const relay = await startRelay(config);
  const everywhere = config.host === '0.0.0.0' || config.host === '::';
  const shown = everywhere ? 'localhost' : config.host;
  const scheme = config.tls === 'off' ? 'http' : 'https';
  const local = `${scheme}://${shown}:${relay.port}`;
  out(`Ferry relay on ${local}  (data: ${config.dataDir})`);
  if (scheme === 'https') out(`  on this machine also http://${shown}:${relay.port}`);
  const lan = everywhere ? lanAddresses() : [];
  for (const a of lan) out(`  on this network: ${scheme}://${a}:${relay.port}`);
  if (config.publicUrl) out(`  public address: ${config.publicUrl}`);
  if (relay.tls?.ca) {
    // A phone trusts the relay's own CA once; the connect page is served over plain HTTP for that.
    const connect = `http://${lan[0] ?? shown}:${relay.port}/connect`;
    out(`To add a phone or another computer, open ${connect} on it (or scan this code)`);
    out(`and install the relay's certificate. Its SHA-256 fingerprint:\n  ${relay.tls.ca.fingerprint}`);
    if (process.stdout.isTTY) {
      const QRCode = await import('qrcode');
      out(await QRCode.toString(connect, { type: 'utf8', margin: 2 }));
    }
  }
  // On this machine plain http://localhost is served in full (and is a secure context).
  const here = everywhere || shown === 'localhost' || shown.startsWith('127.') || shown === '::1';
  const base = config.publicUrl ?? (here ? `http://${shown}:${relay.port}` : local);
  if (relay.setupToken) {
    out(`No admin yet. Create one within 24 h at:\n  ${base}/setup?token=${relay.setupToken}`);
    out(`or on this machine: ferry user add NAME --role admin --data ${config.dataDir}`);
  }
  const stop = async () => {
    await relay.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

async function userAdd(args: string[]): Promise<void> {
  // The same store flags as serve and migrate (only --data and --meta matter here).
  const stores = Object.fromEntries(STORE_FLAGS.map((f) => [f, { type: 'string' as const }]));
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { role: { type: 'string', default: 'user' as string }, ...stores } });
  const v = values as Record<string, string | undefined>;
  const [sub, name] = positionals;
  if (sub !== 'add' || !name) throw new UsageError('usage: ferry user add NAME --role admin|user [--data DIR] [--meta sqlite|postgres://…]');
  if (!ROLES.includes(values.role as Role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  const [{ loadConfig }, , { openMetaStore }, { Accounts }] = await relayModules();
  const config = loadConfig({ data: v.data, meta: v.meta });
  const meta = await openMetaStore(config);
  try {
    const password = await readPassword(`Password for ${name}: `);
    const user = await new Accounts(meta, config.sessionTtlMs).addUser(name, values.role as Role, password);
    out(`Added ${user.role} ${user.name}.`);
  } finally {
    await meta.close();
  }
}

/** Where a deployment's library and chunks are, in words (no password): how `migrate` names both ends. */
function describeStores(config: import('../config.js').RelayConfig): string {
  let meta = `SQLite ${path.join(config.dataDir, 'ferry.db')}`;
  if (config.meta.kind === 'postgres') {
    const u = new URL(config.meta.url);
    meta = `PostgreSQL ${u.hostname}:${u.port || 5432}${u.pathname}`;
  }
  const c = config.chunks;
  const chunks = c.kind === 'files' ? `chunks in ${c.dir ?? path.join(config.dataDir, 'chunks')}` : `chunks in s3://${c.bucket}${c.prefix ? `/${c.prefix}` : ''}${c.endpoint ? ` at ${c.endpoint}` : ''}`;
  return `${meta} + ${chunks}`;
}

const STORE_FLAGS = ['data', 'meta', 'chunks', 's3-endpoint', 's3-region'] as const;

async function migrateCommand(args: string[]): Promise<void> {
  const options = Object.fromEntries(STORE_FLAGS.flatMap((f) => [[f, { type: 'string' as const }], [`to-${f}`, { type: 'string' as const }]]));
  const { values } = parseArgs({ args, options: { ...options, parallel: { type: 'string' } }, strict: true });
  const v = values as Record<string, string | undefined>;
  const usage = 'usage: ferry migrate [--data DIR] [--meta …] [--chunks …] [--s3-endpoint URL] --to-meta sqlite|postgres://… --to-chunks files|/DIR|s3://BUCKET [--to-data DIR] [--to-s3-endpoint URL]';
  if (!STORE_FLAGS.some((f) => v[`to-${f}`] !== undefined)) throw new UsageError(usage);
  const [{ loadConfig }, { openChunkStore }, { openMetaStore }] = await Promise.all([import('../config.js'), import('../server.js'), import('../store/open-meta-store.js')]);
  const { migrate, unfinishedMigration, MigrateError } = await import('../store/migrate.js');
  const source = loadConfig(Object.fromEntries(STORE_FLAGS.map((f) => [f, v[f]])));
  // The target is only what its flags say: the FERRY_* variables describe the source.
  const target = loadConfig(Object.fromEntries(STORE_FLAGS.map((f) => [f, v[`to-${f}`]])), {});
  const needsFolder = target.meta.kind === 'sqlite' || (target.chunks.kind === 'files' && !target.chunks.dir);
  if (needsFolder && !v['to-data']) throw new UsageError(`--to-data DIR is needed: the target keeps its ${target.meta.kind === 'sqlite' ? 'database' : 'chunks'} in a data folder\n${usage}`);
  const from = describeStores(source);
  const to = describeStores(target);
  const [fromMeta, fromChunks] = from.split(' + ');
  const [toMeta, toChunks] = to.split(' + ');
  if (fromMeta === toMeta || fromChunks === toChunks) throw new UsageError(`the source and the target share ${fromMeta === toMeta ? fromMeta : fromChunks}: copy into other stores`);
  const parallel = v.parallel === undefined ? 8 : Number(v.parallel);
  if (!Number.isInteger(parallel) || parallel < 1 || parallel > 64) throw new UsageError('--parallel takes a whole number from 1 to 64');
  out(`Copying ${from}\n     to ${to}`);
  const opened: { close(): Promise<void> | void }[] = [];
  try {
    const srcMeta = await openMetaStore(source);
    opened.push(srcMeta);
    const pending = await unfinishedMigration(srcMeta);
    if (pending !== undefined) throw new MigrateError('SOURCE_UNFINISHED', `The source holds an unfinished copy of ${pending}: finish that first.`);
    const srcChunks = await openChunkStore(source);
    opened.push({ close: () => srcChunks.close?.() });
    const dstMeta = await openMetaStore(target);
    opened.push(dstMeta);
    const dstChunks = await openChunkStore(target);
    opened.push({ close: () => dstChunks.close?.() });
    let bar: Progress | undefined;
    let step = -1;
    const report = await migrate({ meta: srcMeta, chunks: srcChunks, label: from }, { meta: dstMeta, chunks: dstChunks, label: to }, {
      parallel,
      onEvent: (e) => {
        if (e.phase === 'chunks') {
          bar ??= createProgress(e.bytesTotal, `chunks 0/${e.total}`);
          // A new label every tenth (a line each without a terminal), the bar every chunk.
          const tenth = e.total === 0 ? 10 : Math.floor((e.done * 10) / e.total);
          const label = tenth !== step || process.stderr.isTTY ? `chunks ${e.done}/${e.total}` : undefined;
          step = tenth;
          bar.update(e.bytesDone, label);
          if (e.done === e.total) {
            bar.stop();
            out(`chunks: ${e.total} verified, ${e.copied} copied, ${e.skipped} already there`);
          }
        } else if (e.phase === 'table') out(`${e.table}: ${e.rows} ${e.rows === 1 ? 'row' : 'rows'}`);
      },
    }).finally(() => bar?.stop());
    out(`Done: ${report.chunks} chunks (${formatBytes(report.bytes)}) and ${Object.values(report.rows).reduce((a, b) => a + b, 0)} rows. Start the relays with ${toMeta.startsWith('PostgreSQL') ? '--meta postgres://…' : `--data ${target.dataDir}`}${target.chunks.kind === 's3' ? ' --chunks s3://…' : ''}.`);
  } finally {
    for (const o of opened.reverse()) await o.close();
  }
}

async function login(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { user: { type: 'string' }, ca: { type: 'string' }, also: { type: 'string', multiple: true } } });
  const [url] = positionals;
  if (!url || !values.user) throw new UsageError('usage: ferry login URL --user NAME [--ca FILE] [--also URL]...');
  const alternates = values.also ?? [];
  for (const a of alternates) {
    try {
      new URL(a);
    } catch {
      throw new UsageError(`--also takes the URL of another relay of the same deployment, got "${a}"`);
    }
  }
  const ca = await trustFor(url, values.ca);
  // Each other relay's authority is checked (and kept) now, as for the first.
  const alsoCas: [string, string | undefined][] = [];
  for (const a of alternates) alsoCas.push([a, await trustFor(a, values.ca)]);
  const password = process.env.FERRY_PASSWORD ?? (await readPassword(`Password for ${values.user}: `));
  const client = await connectNode({ url: wsUrl(url), reconnect: false, ca });
  try {
    const reply = await client.login(values.user, password, await loadDevice(url, values.user));
    await saveSession({ url, user: reply.user.name, token: reply.token, ...(alternates.length ? { alternates } : {}) }, reply.device);
    // Named in the device list (the machine's name; `ferry sync --device` renames it).
    await client.request('device.report', { name: hostname().slice(0, 64) || 'computer', kind: 'cli' }).catch(() => {});
    if (ca) await trustCa(url, ca);
    for (const [a, c] of alsoCas) if (c) await trustCa(a, c);
    out(`Signed in to ${url} as ${reply.user.name} (${reply.user.role}). Session saved in ${configPath()}.`);
  } finally {
    client.close();
  }
}

/**
 * The CA to trust for `url` at sign-in: `--ca FILE`, else the one kept from before, else
 * the system's; a relay with its own CA, unknown here, is shown and trusted on first use.
 */
async function trustFor(url: string, caFile: string | undefined): Promise<string | undefined> {
  if (new URL(url).protocol !== 'https:') {
    if (caFile) throw new UsageError('--ca is for https:// relays');
    return undefined;
  }
  const given = caFile ? await readFile(caFile, 'utf8').catch((err) => { throw new UsageError(`cannot read --ca ${caFile}: ${(err as Error).message}`); }) : undefined;
  const kept = given ? undefined : await trustedCa(url);
  const probe = await probeTls(url, given ?? kept);
  if (probe.trusted) return given ?? kept;
  if (given) throw untrusted(url, probe, `It is not signed by the authority in ${caFile}.`);
  if (kept) throw untrusted(url, probe, 'It is not signed by the authority you trusted before (the relay may have been given a new one, or someone is in between). If you expect the change, sign in with --ca FILE.');
  // Only a relay's own authority is offered for trust on first use, and only for a chain it signed for this name.
  if (!probe.root || /ALTNAME|HOSTNAME|EXPIRED|NOT_YET_VALID/i.test(probe.reason ?? '')) throw untrusted(url, probe, 'Give the authority with --ca FILE.');
  const answer = await readAnswer(
    `The relay at ${new URL(url).host} has its own certificate authority, new to this computer:\n  ${probe.root.subject}\n  SHA-256 ${probe.root.fingerprint}\nCompare the fingerprint with the one the relay printed at start (or its Connect a device page).\nTrust it for this relay? [y/N] `,
  );
  if (!/^y(es)?$/i.test(answer.trim())) throw untrusted(url, probe, 'Not trusted: nothing was sent.');
  const again = await probeTls(url, probe.root.pem);
  if (!again.trusted) throw untrusted(url, again, 'The relay answered with another certificate the second time.');
  return probe.root.pem;
}

async function logout(): Promise<void> {
  const session = await loadSession().catch(() => undefined);
  if (session) {
    await withClient((c) => c.logout()).catch(() => {
      /* the session may already be gone on the relay; forget it here anyway */
    });
  }
  if (session) await lockKeys(session);
  await clearSession();
  out('Signed out.');
}

/** What an upload sent, in words: "12 chunks sent", "40 chunks, 3 sent (the relay had the rest)", "375 chunks, 383 sent (8 again after 1 reconnect)". */
export function sentSummary(chunks: number, sent: number, reconnects: number): string {
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (sent === chunks && reconnects === 0) return `${plural(chunks, 'chunk')} sent`;
  if (sent <= chunks) return `${plural(chunks, 'chunk')}, ${sent} sent${sent < chunks ? ' (the relay had the rest)' : ''}${reconnects ? `, ${plural(reconnects, 'reconnect')}` : ''}`;
  return `${plural(chunks, 'chunk')}, ${sent} sent (${sent - chunks} again after ${plural(reconnects, 'reconnect')})`;
}

/** Local files under `p` paired with their library paths. */
async function expand(p: string, to: string): Promise<LocalFile[]> {
  const name = path.basename(path.resolve(p));
  if (!(await isDirectory(p))) return [{ local: p, remote: joinPath(to, name), size: (await stat(p)).size }];
  const found: LocalFile[] = [];
  const walk = async (dir: string, rel: string) => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    // Sizes decide which files go several at a time: stat a folder's files together.
    const sizes = await Promise.all(entries.map((e) => (e.isFile() ? stat(path.join(dir, e.name)).then((s) => s.size) : 0)));
    for (const [i, entry] of entries.entries()) {
      const local = path.join(dir, entry.name);
      const remote = `${rel}/${entry.name}`;
      if (entry.isDirectory()) await walk(local, remote);
      else if (entry.isFile()) found.push({ local, remote, size: sizes[i] });
    }
  };
  await walk(p, joinPath(to, name));
  return found;
}

async function put(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { to: { type: 'string', default: '' }, 'on-conflict': { type: 'string', default: 'version' } },
  });
  if (positionals.length === 0) throw new UsageError('usage: ferry put PATH... [--to FOLDER] [--on-conflict version|rename|overwrite]');
  const conflict = values['on-conflict'] as ConflictPolicy;
  if (!CONFLICT_POLICIES.includes(conflict)) throw new UsageError(`--on-conflict must be one of ${CONFLICT_POLICIES.join(', ')}`);
  for (const p of positionals) {
    if (!(await stat(p).catch(() => undefined))) throw new FerryError('NOT_FOUND', `No local file or folder "${p}".`);
  }
  const pool = new NodeHashPool();
  let bar: Progress | undefined;
  await withClient(async (client) => {
    const remote = new RemotePaths(client);
    const dest = await remote.resolve(values.to!);
    const to = checkFolder(dest.path);
    const files = (await Promise.all(positionals.map((p) => expand(p, to)))).flat();
    const prefix = spacePrefix(dest.info);
    const e2e = await e2eFor(client);
    const places = new PlaceCache(e2e, dest.space);
    let sealPool: NodeSealPool | undefined;
    const report = (r: UploadResult, print: (line: string) => void = out) => {
      if (r.unchanged) print(`${prefix}${displayName(r.path)}  v${r.version}  unchanged (the relay has this content as v${r.version} already)  sha256 ${r.sha256}`);
      else print(`${prefix}${displayName(r.path)}  v${r.version}  ${r.size} bytes  sha256 ${r.sha256}  (${sentSummary(r.chunks.length, r.stats.sentChunks, r.stats.reconnects)})`);
    };
    mark('files listed');
    const putOne = async (f: LocalFile, source: OpenSource, onProgress?: (done: number) => void) => {
      const feed = chunkFeed(source.size, (offset, length) => pool.hashRange(f.local, offset, length), { concurrency: pool.size });
      let phase = '';
      return uploadFile(client, source, {
        space: dest.space,
        path: f.remote,
        conflict,
        feed,
        executable: source.executable,
        onProgress: (p) => {
          if (onProgress && p.phase !== phase) mark((phase = p.phase));
          onProgress?.(p.done);
        },
      });
    };
    try {
      for (let i = 0; i < files.length; ) {
        // A run of small plain files goes several at a time: each is a few round trips
        // and a durable write at the relay, which is latency, not bandwidth.
        const run: LocalFile[] = [];
        while (i + run.length < files.length && files[i + run.length].size <= SMALL_FILE_BYTES && !(await places.sealed(files[i + run.length].remote))) run.push(files[i + run.length]);
        if (run.length > 1) {
          i += run.length;
          bar = createProgress(run.reduce((n, f) => n + f.size, 0), `${run.length} files`);
          try {
            await uploadMany(run, SMALL_FILE_CONCURRENCY, async (f) => {
              const source = await openFileSource(f.local);
              try {
                return await putOne(f, source);
              } finally {
                await source.close();
              }
            }, (r, doneBytes) => {
              bar?.update(doneBytes);
              report(r, (line) => (bar ? bar.print(line) : out(line)));
            });
          } finally {
            bar.stop();
            bar = undefined;
          }
          continue;
        }
        const f = files[i++];
        const at = await places.place(f.remote);
        if (at.root) {
          bar = undefined;
          await putSealed(client, at, dest.space, f, conflict, prefix, (sealPool ??= new NodeSealPool()), (b) => (bar = b));
          continue;
        }
        const source = await openFileSource(f.local);
        bar = createProgress(source.size, f.remote);
        try {
          const r = await putOne(f, source, (done) => bar?.update(done));
          bar.stop();
          report(r);
        } finally {
          bar.stop();
          bar = undefined;
          await source.close();
        }
      }
    } finally {
      await sealPool?.close();
    }
  }, (state) => bar?.state(state)).finally(() => pool.close());
}

/** Files of at most this size go several at a time (one chunk). */
const SMALL_FILE_BYTES = CHUNK_SIZE;
/** Small files in flight at once on the connection (the relay allows 64 open uploads). */
const SMALL_FILE_CONCURRENCY = 16;

type LocalFile = { local: string; remote: string; size: number };
type OpenSource = Awaited<ReturnType<typeof openFileSource>>;

/**
 * Uploads `files` with up to `concurrency` at once, reporting each result in the files'
 * order as soon as it and all before it are done (with the bytes done so far). The first
 * failure stops new uploads; those under way finish, then it is thrown.
 */
export async function uploadMany<R>(files: readonly LocalFile[], concurrency: number, upload: (f: LocalFile) => Promise<R>, onDone: (r: R, doneBytes: number) => void): Promise<void> {
  const results: (R | undefined)[] = new Array(files.length);
  let next = 0;
  let reported = 0;
  let doneBytes = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < files.length) {
      const i = next++;
      try {
        results[i] = await upload(files[i]);
      } catch (err) {
        failure ??= err;
        return;
      }
      while (reported < files.length && results[reported] !== undefined) {
        doneBytes += files[reported].size;
        onDone(results[reported]!, doneBytes);
        results[reported++] = undefined;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  if (failure !== undefined) throw failure;
}

/**
 * Where files go, asked of the relay once per folder: a file is in an encrypted folder
 * exactly when its siblings are (a file is never the encrypted folder itself), so one
 * answer per parent tells whether a file's path must be sealed.
 */
class PlaceCache {
  /** The first file asked about in each folder, and its answer. */
  private readonly byParent = new Map<string, { remote: string; place: Promise<E2ePlace> }>();
  constructor(
    private readonly e2e: E2eFolders,
    private readonly space: number | undefined,
  ) {}

  /** True when `remote` is inside an encrypted folder. */
  async sealed(remote: string): Promise<boolean> {
    return !!(await this.first(remote).place).root;
  }

  /** Where `remote` is stored (sealed below an encrypted folder). */
  async place(remote: string): Promise<E2ePlace> {
    const first = this.first(remote);
    if (first.remote === remote) return first.place;
    return (await first.place).root ? this.e2e.place(this.space, remote) : { relayPath: remote };
  }

  private first(remote: string): { remote: string; place: Promise<E2ePlace> } {
    const parent = remote.slice(0, Math.max(0, remote.lastIndexOf('/')));
    let first = this.byParent.get(parent);
    if (!first) this.byParent.set(parent, (first = { remote, place: this.e2e.place(this.space, remote) }));
    return first;
  }
}

/** The encrypted folders of the signed-in person, opened with the key unlocked on this machine. */
async function e2eFor(client: FerryClient): Promise<E2eFolders> {
  const session = await loadSession();
  return new E2eFolders(client, () => unlockedKey(session), cliPins(session.url));
}

/** The CLI's pins of people's public keys (in its config file). */
export function cliPins(url: string): KeyPins {
  return { get: (user) => pinnedKey(url, user), set: (user, fp) => pinKey(url, user, fp) };
}

/** `place` with the path the relay stores, for commands that only name a path. */
async function relayPathOf(client: FerryClient, space: number | undefined, plain: string): Promise<string> {
  return (await (await e2eFor(client)).place(space, plain)).relayPath;
}

/** One file into an encrypted folder: names, contents and facts sealed here (contents on the seal pool's threads). */
async function putSealed(client: FerryClient, at: E2ePlace, space: number | undefined, f: { local: string; remote: string }, conflict: ConflictPolicy, prefix: string, pool: NodeSealPool, showBar: (b: Progress | undefined) => void): Promise<void> {
  const { cipher } = at.root!;
  if (conflict === 'rename') throw new UsageError('--on-conflict rename is not available in an encrypted folder (the relay cannot read names to pick another); use version or overwrite');
  const st = await stat(f.local);
  const size = st.size;
  const mtime = Math.floor(st.mtimeMs);
  const bar = createProgress(size, f.remote);
  showBar(bar);
  try {
    const name = path.posix.basename(f.remote);
    // The file keeps its id across versions.
    const current = (await client.request('stat', { space, paths: [at.relayPath] })).entries[0];
    const facts = current?.kind === 'file' && current.sealed ? (await cipher.openFacts(current.sealed)).facts : undefined;
    const fileId = facts?.fileId ?? newFileId();
    // The plaintext's SHA-256 (for the sealed facts), read while the threads seal.
    const plainHash = fileSha256(f.local);
    plainHash.catch(() => {});
    // The same plaintext as the current version (its sealed facts say so, and they are
    // authentic): nothing to seal or send, as the relay would keep no new version anyway.
    if (facts && facts.size === size && facts.sha256 === (await plainHash) && !!current!.executable === isExecutableMode(st.mode)) {
      bar.stop();
      out(`${prefix}${displayName(f.remote)}  v${current!.version}  unchanged (encrypted)  sha256 ${facts.sha256}`);
      return;
    }
    const { feed, source } = sealedUpload(pool, f.local, size, mtime, cipher.chunkSealing());
    const r = await uploadFile(client, source, {
      space,
      path: at.relayPath,
      conflict,
      feed,
      executable: isExecutableMode(st.mode),
      onProgress: (p) => bar.update(p.total ? Math.round((p.done / p.total) * size) : 0),
      seal: async (contentHash) => cipher.sealFacts({ fileId, name, size, sha256: await plainHash, contentHash, mtime }),
    });
    const sha256 = await plainHash;
    bar.stop();
    const shown = `${prefix}${displayName(f.remote)}`;
    if (r.unchanged) out(`${shown}  v${r.version}  unchanged (encrypted)  sha256 ${sha256}`);
    else out(`${shown}  v${r.version}  ${size} bytes, encrypted  sha256 ${sha256}  (${sentSummary(r.chunks.length, r.stats.sentChunks, r.stats.reconnects)})`);
  } finally {
    bar.stop();
    showBar(undefined);
  }
}

async function get(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o' }, version: { type: 'string' }, force: { type: 'boolean' }, zip: { type: 'boolean' } },
  });
  const [remote] = positionals;
  if (!remote) throw new UsageError('usage: ferry get REMOTE [-o LOCAL] [--version N] [--force]  |  ferry get FOLDER... --zip [-o LOCAL.zip]');
  if (values.zip) return getZip(positionals, values.output, !!values.force);
  const version = versionFlag(values.version);
  const remoteName = path.posix.basename(remote.replace(/^[^/:]*:/, '')) || 'download';
  let target = values.output ?? remoteName;
  if (await isDirectory(target)) target = path.join(target, remoteName);
  if (!values.force && (await stat(target).catch(() => undefined))) {
    throw new FerryError('LOCAL_FILE_EXISTS', `${target} exists; pass --force to replace it, or -o another name.`);
  }
  let bar: Progress | undefined;
  await withClient(async (client) => {
    const from = await new RemotePaths(client).resolve(remote);
    const at = await (await e2eFor(client)).place(from.space, from.path);
    const sink = fileSink(target);
    let plainBytes: number | undefined;
    try {
      const { meta, stats } = await downloadFile(client, at.root ? openingSink(sink, at.root.cipher, path.posix.basename(from.path), (f) => (plainBytes = f.size), undefined, openChunkNode) : sink, {
        space: from.space,
        path: at.relayPath,
        version,
        onProgress: (p) => {
          bar ??= createProgress(p.total, remote);
          bar.update(p.done);
        },
      });
      bar?.stop();
      // The hash of the bytes written (checked against the relay's by the sink).
      out(`${target}  v${meta.version}  ${plainBytes ?? meta.size} bytes${at.root ? ', decrypted' : ''}  sha256 ${sink.sha256}  (fetched ${stats.fetchedChunks}, kept ${stats.keptChunks} chunks)`);
    } catch (err) {
      bar?.stop();
      if ((err as FerryError).code === 'NOT_FOUND' || (err as FerryError).code === 'IS_FOLDER') await rm(partPath(target), { force: true });
      throw err;
    }
  }, (state) => bar?.state(state));
}

/** Files and folders as one zip, streamed from the relay into a part file, then renamed. */
async function getZip(remotes: string[], output: string | undefined, force: boolean): Promise<void> {
  const session = await loadSession();
  const ticket = await withClient(async (c) => {
    const remote = new RemotePaths(c);
    const at = await Promise.all(remotes.map((r) => remote.resolve(r)));
    if (new Set(at.map((a) => a.info.id)).size > 1) throw new UsageError('a zip takes files and folders of one space');
    return c.request('zip.ticket', { space: at[0].info.id, paths: at.map((a) => a.path.replace(/\/+$/, '')) });
  });
  let target = output ?? ticket.name;
  if (await isDirectory(target)) target = path.join(target, ticket.name);
  if (!force && (await stat(target).catch(() => undefined))) throw new FerryError('LOCAL_FILE_EXISTS', `${target} exists; pass --force to replace it, or -o another name.`);
  const zipUrl = new URL(ticket.url, session.url);
  const ca = await trustedCa(session.url);
  const { get } = await import(zipUrl.protocol === 'https:' ? 'node:https' : 'node:http');
  const body = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
    get(zipUrl, ca ? { ca } : {}, resolve).once('error', (err: Error) => reject(new FerryError('CONNECTION_LOST', `Cannot fetch the zip: ${err.message}`)));
  });
  if (body.statusCode !== 200) {
    body.resume();
    throw new FerryError('NOT_FOUND', `The relay answered ${body.statusCode} for the zip.`);
  }
  const { createWriteStream } = await import('node:fs');
  const { rename } = await import('node:fs/promises');
  const { pipeline } = await import('node:stream/promises');
  const part = partPath(target);
  const bar = createProgress(ticket.bytes, ticket.name);
  let written = 0;
  try {
    body.on('data', (b: Buffer) => bar.update(Math.min(ticket.bytes, (written += b.length))));
    await pipeline(body, createWriteStream(part));
  } catch (err) {
    bar.stop();
    await rm(part, { force: true });
    throw new FerryError('CONNECTION_LOST', `The zip stopped after ${written} bytes (${(err as Error).message}); run the command again.`);
  }
  bar.stop();
  await rename(part, target);
  out(`${target}  ${ticket.files} file(s)  ${written} bytes`);
}

function when(ms: number | undefined): string {
  return ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 16) : '';
}

async function ls(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { versions: { type: 'boolean' }, json: { type: 'boolean' } } });
  await withClient(async (client) => {
    const { space, path: plainTarget } = await new RemotePaths(client).resolve(positionals[0] ?? '');
    const at = await (await e2eFor(client)).place(space, plainTarget);
    const target = at.relayPath;
    if (values.versions) {
      const h = await client.request('history', { space, path: target });
      if (at.root) {
        // Sizes and hashes of the plaintext, from each version's sealed facts.
        out(`${displayName(plainTarget)}  (encrypted)`);
        for (const v of h.versions) {
          const facts = v.sealed ? (await at.root.cipher.openFacts(v.sealed)).facts : undefined;
          out(`${v.current ? '*' : ' '} v${String(v.version).padEnd(4)} ${String(facts?.size ?? plainSize(v.size)).padStart(12)}  ${when(v.createdAt)}  ${v.uploader.padEnd(12)} ${facts?.sha256 ?? '(no sealed facts)'}`);
        }
        return;
      }
      if (values.json) return out(JSON.stringify(h, null, 2));
      out(`${displayName(h.path)}`);
      for (const v of h.versions) out(`${v.current ? '*' : ' '} v${String(v.version).padEnd(4)} ${String(v.size).padStart(12)}  ${when(v.createdAt)}  ${v.uploader.padEnd(12)} ${v.sha256}`);
      return;
    }
    const r = await client.request('list', { space, folder: target });
    if (at.root) {
      // Inside an encrypted folder: names opened, sizes of the plaintext.
      const cipher = at.root.cipher;
      for (const e of r.entries) {
        e.name = await cipher.openName(e.name);
        e.path = await (await e2eFor(client)).plainPath(at.root, e.path);
        if (e.size !== undefined) e.size = plainSize(e.size);
        delete e.sha256;
      }
    }
    if (values.json) return out(JSON.stringify(r, null, 2));
    for (const e of r.entries) {
      // Terminals reorder text at bidirectional controls too: show them as marks.
      if (e.kind === 'folder') out(`${'folder'.padStart(12)}  ${''.padEnd(16)}  ${''.padEnd(12)} ${''.padEnd(5)} ${displayName(e.name)}/${e.encrypted ? '  (encrypted)' : ''}`);
      else out(`${String(e.size).padStart(12)}  ${when(e.modifiedAt)}  ${(e.uploader ?? '').padEnd(12)} v${String(e.versions).padEnd(4)} ${displayName(e.name)}${e.sha256 ? `  sha256 ${e.sha256.slice(0, 12)}…` : '  (encrypted)'}`);
    }
  });
}

async function verify(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { version: { type: 'string' } } });
  if (!positionals[0]) throw new UsageError('usage: ferry verify REMOTE [--version N]');
  const r = await withClient(async (c) => {
    const at = await new RemotePaths(c).resolve(positionals[0]);
    return c.request('verify', { space: at.space, path: await relayPathOf(c, at.space, at.path), version: versionFlag(values.version) });
  });
  if (!r.ok) throw new FerryError('INTEGRITY_FAILED', `${r.path} v${r.version} is damaged: chunks ${r.badChunks.join(', ') || '(none)'} ${r.sha256Ok ? '' : '; whole-file SHA-256 differs'}`);
  out(`${r.path}  v${r.version}  ok  sha256 ${r.sha256}`);
}

async function restore(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { version: { type: 'string' } } });
  const version = versionFlag(values.version);
  if (!positionals[0] || version === undefined) throw new UsageError('usage: ferry restore REMOTE --version N');
  const r = await withClient(async (c) => {
    const at = await new RemotePaths(c).resolve(positionals[0]);
    return c.request('restore', { space: at.space, path: await relayPathOf(c, at.space, at.path), version });
  });
  out(`${r.path}  v${r.restoredFrom} restored as v${r.version}`);
}

async function remove(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { version: { type: 'string' }, purge: { type: 'boolean' } } });
  if (!positionals[0]) throw new UsageError('usage: ferry rm REMOTE  |  ferry rm --purge REMOTE [--version N]');
  if (values.version !== undefined && !values.purge) throw new UsageError('a version cannot go to the trash; --purge --version N deletes it for good (admins)');
  await withClient(async (c) => {
    const remote = new RemotePaths(c);
    for (const text of positionals) {
      const at = await remote.resolve(text);
      const where = await relayPathOf(c, at.space, at.path);
      if (values.purge) {
        const r = await c.request('delete', { space: at.space, path: where, version: versionFlag(values.version) });
        out(`${spacePrefix(at.info)}${displayName(at.path)}  ${r.deletedVersions} version(s) deleted for good`);
      } else {
        const r = await c.request('trash', { space: at.space, path: where });
        out(`${spacePrefix(at.info)}${displayName(at.path)}  moved to the trash (${r.trashed.files} file(s); ferry untrash ${text} puts it back)`);
      }
    }
  });
}

async function mv(args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  if (positionals.length !== 2) throw new UsageError('usage: ferry mv REMOTE REMOTE');
  await withClient(async (c) => {
    const remote = new RemotePaths(c);
    const from = await remote.resolve(positionals[0]);
    const to = await remote.resolve(positionals[1]);
    const e2e = await e2eFor(c);
    // Into a folder that exists (or one written with a trailing slash), like mv(1).
    let target = to.path.replace(/\/+$/, '');
    const targetAt = (await e2e.place(to.space, target)).relayPath;
    const into = to.path.endsWith('/') || to.path === '' || (await c.request('list', { space: to.space, folder: targetAt }).then((l) => !l.entries.some((e) => e.kind === 'file' && e.path === targetAt), () => false));
    if (into) target = target ? `${target}/${path.posix.basename(from.path)}` : path.posix.basename(from.path);
    // toSpace absent means the same space, so My files is named by its id here.
    const r = await e2e.move(from.info.id, (await e2e.place(from.space, from.path)).relayPath, (await e2e.place(to.space, target)).relayPath, to.info.id);
    out(`${spacePrefix(from.info)}${displayName(from.path)} → ${spacePrefix(to.info)}${displayName(target)}${r.kind === 'folder' ? `  (${r.files} file(s))` : ''}`);
  });
}

async function mkdir(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { encrypted: { type: 'boolean' } } });
  if (!positionals[0]) throw new UsageError('usage: ferry mkdir FOLDER [--encrypted]');
  await withClient(async (c) => {
    const remote = new RemotePaths(c);
    const e2e = await e2eFor(c);
    for (const text of positionals) {
      const at = await remote.resolve(text);
      const plain = at.path.replace(/\/+$/, '');
      if (values.encrypted) {
        await e2e.mkdir(at.space, plain);
        out(`${spacePrefix(at.info)}${displayName(plain)}/  (end-to-end encrypted: only your devices can read what goes in it)`);
        continue;
      }
      await c.request('mkdir', { space: at.space, path: (await e2e.place(at.space, plain)).relayPath });
      out(`${spacePrefix(at.info)}${displayName(plain)}/`);
    }
  });
}


async function trash(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, empty: { type: 'boolean' } } });
  await withClient(async (c) => {
    const at = await new RemotePaths(c).resolve(positionals[0] ?? '');
    if (values.empty) {
      const r = await c.request('trash.purge', { space: at.info.id });
      return out(`${spacePrefix(at.info)}  trash emptied: ${r.items} item(s), ${r.files} file(s) deleted for good`);
    }
    const r = await c.request('trash.list', { space: at.space });
    if (values.json) return out(JSON.stringify(r, null, 2));
    if (r.items.length === 0) return out(`The trash of ${spacePrefix(at.info)} is empty.`);
    for (const t of r.items) {
      out(`${when(t.trashedAt)}  ${t.trashedBy.padEnd(12)} ${formatBytes(t.bytes).padStart(10)}  ${spacePrefix(at.info)}${displayName(t.path)}${t.kind === 'folder' ? `/  (${t.files} file(s))` : ''}`);
    }
    if (r.purgeAfterDays) out(`Items are deleted for good ${r.purgeAfterDays} days after they were trashed.`);
  });
}

async function untrash(args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  if (!positionals[0]) throw new UsageError('usage: ferry untrash REMOTE');
  await withClient(async (c) => {
    const remote = new RemotePaths(c);
    for (const text of positionals) {
      const at = await remote.resolve(text);
      const { items } = await c.request('trash.list', { space: at.space });
      // The newest trashed item that was at that path.
      const where = await relayPathOf(c, at.space, at.path.replace(/\/+$/, ''));
      const item = items.find((t) => t.path === where);
      if (!item) throw new FerryError('NOT_FOUND', `Nothing in the trash of ${spacePrefix(at.info)} was at "${at.path}" (ferry trash ${spacePrefix(at.info)} lists it).`);
      const r = await c.request('trash.restore', { space: at.space, item: item.item });
      out(`${spacePrefix(at.info)}${displayName(r.path === where ? at.path : r.path)}  restored${r.path !== item.path ? ` (its place was taken; it is now "${r.path}")` : ''}`);
    }
  });
}

async function search(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, in: { type: 'string' } } });
  const text = positionals.join(' ');
  if (!text) throw new UsageError('usage: ferry search TEXT [--in SPACE:] [--json]');
  await withClient(async (c) => {
    const remote = new RemotePaths(c);
    const only = values.in === undefined ? undefined : await remote.resolve(values.in);
    const space = only?.info.id;
    const r = await c.request('search', { text, space });
    if (values.json) return out(JSON.stringify(r, null, 2));
    for (const h of r.hits) {
      const where = `${await remote.label(h.space, h.path)}${h.kind === 'folder' ? '/' : ''}`;
      out(`${(h.size === undefined ? 'folder' : formatBytes(h.size)).padStart(10)}  ${when(h.modifiedAt).padEnd(16)}  ${displayName(where)}`);
    }
    if (r.truncated) out(`(only the first ${r.hits.length} matches; type more of the name)`);
  });
}

async function spaces(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const r = await withClient((c) => c.request('spaces', {}));
  if (values.json) return out(JSON.stringify(r, null, 2));
  for (const s of r.spaces) out(`${spacePrefix(s).padEnd(24)} ${s.kind === 'home' ? 'My files' : `shared folder, ${s.access}`}`);
}

async function folders(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } } });
  const r = await withClient((c) => c.request('folder.list', {}));
  if (values.json) return out(JSON.stringify(r, null, 2));
  for (const f of r.folders) {
    const members = f.members.map((m) => `${m.user}=${m.access}`).join(' ') || '(no members)';
    out(`${`${f.name}:`.padEnd(24)} ${String(f.files).padStart(6)} files ${formatBytes(f.bytes).padStart(10)}  ${members}`);
  }
}

/** `--member alice=edit` → { user, access }. */
function memberFlags(list: string[] | undefined, allowNone: boolean): { user: string; access: 'view' | 'edit' | 'none' }[] {
  return (list ?? []).map((m) => {
    const match = /^([^=]+)=(view|edit|none)$/.exec(m);
    if (!match || (match[2] === 'none' && !allowNone)) throw new UsageError(`--member takes USER=edit or USER=view${allowNone ? ' (or USER=none to remove)' : ''}, got "${m}"`);
    return { user: match[1], access: match[2] as 'view' | 'edit' | 'none' };
  });
}

async function folder(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { member: { type: 'string', multiple: true } } });
  const [sub, name] = positionals;
  const usage = 'usage: ferry folder add NAME [--member USER=edit|view]...  |  ferry folder set NAME --member USER=edit|view|none...  |  ferry folder rm NAME';
  if (!sub || !name) throw new UsageError(usage);
  await withClient(async (c) => {
    const byName = async () => {
      const f = (await c.request('folder.list', {})).folders.find((x) => x.name.toLowerCase() === name.replace(/:$/, '').toLowerCase());
      if (!f) throw new FerryError('NOT_FOUND', `No shared folder "${name}".`);
      return f;
    };
    let f;
    if (sub === 'add') f = await c.request('folder.create', { name, members: memberFlags(values.member, false) as { user: string; access: 'view' | 'edit' }[] });
    else if (sub === 'set') {
      const set = memberFlags(values.member, true);
      if (set.length === 0) throw new UsageError(usage);
      f = await c.request('folder.members', { folder: (await byName()).id, set });
    } else if (sub === 'rm') {
      const r = await c.request('folder.remove', { folder: (await byName()).id });
      return out(`${r.name}:  deleted with its ${r.files} file(s)`);
    } else throw new UsageError(usage);
    out(`${f.name}:  ${f.members.map((m) => `${m.user}=${m.access}`).join(' ') || '(no members)'}`);
  });
}

async function keys(args: string[]): Promise<void> {
  const [sub = 'show'] = args;
  const session = await loadSession();
  if (sub === 'trust') {
    // After a person made new keys (and the fingerprint was compared with them): forget the old pin.
    const user = args[1];
    if (!user) throw new UsageError('usage: ferry keys trust USER');
    const before = await pinnedKey(session.url, user);
    await pinKey(session.url, user, undefined);
    out(before ? `Forgot the key pinned for ${user} (${before}); the next one seen is pinned instead.` : `No key was pinned for ${user}.`);
    return;
  }
  const run = { init: keysInit, show: keysShow, passphrase: keysPassphrase, recover: keysRecover }[sub];
  if (!run) throw new UsageError('usage: ferry keys init|show|passphrase|recover|trust USER');
  await withClient((c) => run(c, session, out));
}

async function unlockCommand(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { for: { type: 'string' } } });
  const session = await loadSession();
  const forMs = values.for === undefined ? undefined : parseDuration(values.for);
  await withClient((c) => unlock(c, session, forMs, out));
}

async function lockCommand(): Promise<void> {
  await lockKeys(await loadSession());
  out('Locked: encrypted folders cannot be read or written from this machine until ferry unlock.');
}

/** `90s`, `30m`, `1h`, `7d`, `2w` → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(text.trim());
  if (!m) throw new UsageError(`--expires takes a number and a unit (s, m, h, d, w), like 1h or 7d; got "${text}"`);
  return Number(m[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as 's']!;
}

async function link(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { expires: { type: 'string' }, 'max-downloads': { type: 'string' }, password: { type: 'boolean' }, version: { type: 'string' }, message: { type: 'string' } },
  });
  if (!positionals[0]) throw new UsageError('usage: ferry link REMOTE [--expires 1h|7d|…] [--max-downloads N] [--password] [--version N] [--message TEXT]');
  const max = values['max-downloads'] === undefined ? undefined : Number(values['max-downloads']);
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) throw new UsageError('--max-downloads must be a positive whole number');
  const password = values.password ? (process.env.FERRY_LINK_PASSWORD ?? (await readPassword('Link password: '))) : undefined;
  const session = await loadSession();
  let fragment = '';
  const r = await withClient(async (c) => {
    const at = await new RemotePaths(c).resolve(positionals[0]);
    const limits = {
      version: versionFlag(values.version),
      expiresInMs: values.expires ? parseDuration(values.expires) : undefined,
      maxDownloads: max,
      password,
      message: values.message,
    };
    const place = await (await e2eFor(c)).place(at.space, at.path);
    if (!place.root) return c.request('link.create', { space: at.space, path: at.path, ...limits });
    // An encrypted file: a copy sealed for this link alone, its key in the link's fragment.
    const copy = await sealedLinkCopy(c, place, at.space, at.path, limits.version);
    fragment = `#${linkFragment(copy.key)}`;
    return c.request('link.create', { space: copy.space, path: copy.copyId, ...limits, version: undefined, e2e: { key: copy.wrapped } });
  });
  out(`${r.href ?? new URL(r.url, session.url).toString()}${fragment}`);
  if (fragment && values.message) process.stderr.write('ferry: note: the message is not encrypted (the link page shows it before the file is opened)\n');
}

/**
 * A copy of a file of an encrypted folder, sealed under a new link key into the signed-in
 * person's space of link copies: downloaded and opened into a private temporary folder,
 * then sealed and sent (on the seal pool's threads). Returns the key, and the key wrapped
 * for the owner.
 */
async function sealedLinkCopy(client: FerryClient, at: E2ePlace, space: number | undefined, plain: string, version: number | undefined): Promise<{ space: number; copyId: string; key: Uint8Array; wrapped: string }> {
  const ak = await unlockedKey(await loadSession());
  if (!ak) throw new FerryError('E2E_LOCKED');
  const name = path.posix.basename(plain);
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-link-')); // 0700
  const temp = path.join(dir, 'plain');
  const pool = new NodeSealPool();
  let bar: Progress | undefined;
  try {
    let facts: { size: number; mtime: number; sha256: string } | undefined;
    let fetched = 0; // the bar runs over the download, then the upload, of about the same size
    const sink = fileSink(temp);
    await downloadFile(client, openingSink(sink, at.root!.cipher, name, (f) => (facts = f), undefined, openChunkNode), {
      space,
      path: at.relayPath,
      version,
      onProgress: (p) => {
        bar ??= createProgress(p.total * 2, `${plain} (sealing a copy for the link)`);
        bar.update((fetched = p.done));
      },
    });
    if (!facts) throw new FerryError('E2E_TAMPERED', 'The file opened without its sealed facts.');
    const opened = facts;
    const seal = await newLinkSeal();
    const linkSpace = (await client.request('link.space', {})).space;
    const { feed, source } = sealedUpload(pool, temp, opened.size, opened.mtime, seal.cipher.chunkSealing());
    await uploadFile(client, source, {
      space: linkSpace,
      path: seal.copyId,
      conflict: 'version',
      feed,
      onProgress: (p) => bar?.update(fetched + (p.total ? Math.round((p.done / p.total) * fetched) : 0)),
      seal: (contentHash) => seal.cipher.sealFacts({ fileId: newFileId(), name, size: opened.size, sha256: opened.sha256, contentHash, mtime: opened.mtime }),
    });
    bar?.stop();
    return { space: linkSpace, copyId: seal.copyId, key: seal.key, wrapped: await wrapLinkKey(ak, seal.key, seal.copyId) };
  } finally {
    bar?.stop();
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function links(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' }, all: { type: 'boolean' } } });
  const session = await loadSession();
  await withClient(async (c) => {
    const r = await c.request('link.list', { all: !!values.all });
    if (values.json) return out(JSON.stringify(r, null, 2));
    const remote = new RemotePaths(c);
    const ak = r.links.some((l) => l.e2e) ? await unlockedKey(session) : undefined;
    for (const l of r.links) {
      const uses = `${l.downloads}${l.maxDownloads ? `/${l.maxDownloads}` : ''} downloads`;
      const state = l.revoked ? 'revoked' : l.trashed ? 'trashed' : l.expiresAt && l.expiresAt < Date.now() ? 'expired' : 'active';
      let label: string;
      let href = l.href ?? new URL(l.url, session.url).toString();
      if (l.e2e) {
        // An encrypted link: its name and whole address open only with the owner's key.
        const opened = ak && l.owner === session.user ? await openOwnLink(ak, l.path, l.e2e).catch(() => undefined) : undefined;
        label = opened ? `${opened.name} (encrypted)` : l.owner === session.user ? '(encrypted; ferry unlock shows its name and whole link)' : '(encrypted)';
        if (opened) href += `#${opened.fragment}`;
      } else label = await remote.label(l.space, l.path);
      out(`${l.id}  ${state.padEnd(7)}  ${uses.padEnd(16)} ${displayName(label)}${l.version ? ` v${l.version}` : ''}${l.protected ? '  (password)' : ''}  ${href}`);
    }
  });
}

async function unlink(args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true });
  if (!positionals[0]) throw new UsageError('usage: ferry unlink ID|URL');
  // Accept the link's URL as printed by `ferry link`, or its bare id (`--` before ids starting with `-`).
  const link = positionals[0].replace(/^https?:\/\/[^/]+\/s\//, '').replace(/[/#?].*$/, '');
  const r = await withClient((c) => c.request('link.revoke', { link }));
  out(`${r.link} revoked`);
}

async function devices(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, all: { type: 'boolean' } } });
  if (positionals[0] === 'revoke') {
    if (!positionals[1]) throw new UsageError('usage: ferry devices revoke ID');
    const r = await withClient((c) => c.request('device.revoke', { device: positionals[1] }));
    return out(`${positionals[1]} revoked; ${r.endedSessions} session(s) ended`);
  }
  if (positionals.length) throw new UsageError('usage: ferry devices [--json] [--all] | ferry devices revoke ID');
  await withClient(async (c) => {
    const r = await c.request('device.list', { all: !!values.all });
    if (values.json) return out(JSON.stringify(r, null, 2));
    for (const d of r.devices) {
      const seen = d.lastSeenAt ? `seen ${new Date(d.lastSeenAt).toISOString().slice(0, 16).replace('T', ' ')}` : 'never seen';
      const flags = [d.current && 'this device', d.revoked && 'revoked', values.all && `of ${d.user}`].filter(Boolean).join(', ');
      out(`${d.id}  ${(d.name ?? '(unnamed)').padEnd(20)} ${(d.kind ?? '').padEnd(4)} ${seen}${flags ? `  (${flags})` : ''}`);
      for (const f of d.sync) out(`    ${f.local} ⇄ ${f.remote || '/'}  ${f.state}${f.reason ? `: ${f.reason}` : ''}${f.conflicts ? `, ${f.conflicts} conflict(s)` : ''}`);
    }
  });
}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  devices,
  // Loaded on demand: sync brings its own database and watcher code.
  sync: async (args) => (await import('./sync-command.js')).syncCommand(args, withClient, out),
  link,
  links,
  unlink,
  serve,
  user: userAdd,
  migrate: migrateCommand,
  login,
  logout: () => logout(),
  put,
  get,
  ls,
  verify,
  restore,
  rm: remove,
  mv,
  mkdir,
  trash,
  untrash,
  search,
  spaces,
  folders,
  folder,
  keys,
  unlock: unlockCommand,
  lock: lockCommand,
};

/** Runs one `ferry` command; `root` is the package folder (for the default web app location). */
export async function main(argv: string[], opts: { root?: string } = {}): Promise<number> {
  mark('code loaded');
  try {
    return await runCommand(argv, opts);
  } finally {
    printTimings();
  }
}

async function runCommand(argv: string[], opts: { root?: string }): Promise<number> {
  if (opts.root) process.env.FERRY_WEB ??= path.join(opts.root, 'dist', 'web');
  // `ferry ls | head`: a reader that stops early is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  const [command, ...args] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    out(USAGE);
    return command ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`ferry: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    await run(args);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`ferry: ${(err as Error).message}\n`);
      return 2;
    }
    if (err instanceof FerryError || (err instanceof Error && err.name === 'MigrateError')) {
      process.stderr.write(`ferry: ${(err as FerryError).code}: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`ferry: INTERNAL: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
}
