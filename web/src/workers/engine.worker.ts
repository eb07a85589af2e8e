/**
 * The transfer engine's worker: owns the one WebSocket (through FerryClient), runs
 * uploads and downloads with the shared engine, and hashes with the pool, so the page
 * stays smooth. The page talks to it through comlink (see net/engine.ts).
 */
import * as Comlink from 'comlink';
import { FerryClient, downloadFile, inPlace, uploadFile, webCryptoHasher, type BufferHasher, type UploadPhase, type WebSocketLike } from '../../../relay/client';
import { CHUNK_SIZE, FerryError } from '../../../relay/protocol';
import { HashPool } from './hash-pool';
import { fileSource } from './read-once';
import { SequentialBlobReader } from './blob-read';
import type { HasherKind } from './hash.worker';
import { downloadSink, downloadedFile, forgetDownload } from '../storage/db';
import type { EngineApi, EngineEvent, SyncPairRequest } from './engine-api';
import { SyncEngine } from '../../../relay/sync/engine';
import { runSyncLoop } from '../../../relay/sync/runner';
import { DeviceReporter, folderInfo } from '../../../relay/sync/report';
import { BrowserLocalTree, IdbSyncState } from '../sync/browser-local';
import { E2eFolders, openingSink, sealedFeed, sealingSource, newFileId, type E2ePlace } from '../../../relay/client/e2e';
import { SealedPair } from '../../../relay/sync/sealed';
import { checkAccountKey, createAccountKeys, keyFingerprint, parseKeyRecord, unlockWithPassphrase, unlockWithRecoveryKey } from '../../../relay/crypto/account';
import { PLAIN_CHUNK, cipherSize, fromBase64Url, toBase64Url } from '../../../relay/crypto/format';
import { linkFragment, newLinkSeal, openOwnLink, wrapLinkKey } from '../../../relay/crypto/link';
import { createSHA256 } from 'hash-wasm';
import { forgetPin, listPins, loadPin, loadUnlockedKey, savePin, saveUnlockedKey } from '../storage/db';
import type { FileSource } from '../../../relay/client';

/** Unacknowledged chunks in flight (each holds a 4 MiB buffer until the relay answers). */
const UPLOAD_WINDOW = 16;

let emit: (e: EngineEvent) => void = () => {};
let client: FerryClient | undefined;
const pool = new HashPool();
const running = new Map<string, AbortController>();

function requireClient(): FerryClient {
  if (!client) throw new FerryError('CONNECTION_LOST', 'Not connected.');
  return client;
}

// ------------------------------------------------------------------ end-to-end encryption

/** The signed-in person's account key, while unlocked here (never sent anywhere). */
let accountKey: Uint8Array | undefined;
let folders: E2eFolders | undefined;

function e2e(): E2eFolders {
  folders ??= new E2eFolders(requireClient(), async () => accountKey, { get: loadPin, set: savePin });
  return folders;
}

/** Forgets the unlocked key (and the folder keys opened with it). */
function forgetKeys(): void {
  accountKey = undefined;
  folders = undefined;
}

/** Where a relay path is, encryption-wise (an already sealed path: the relay finds its encrypted folder by the plain part). */
async function placeOf(space: number | undefined, relayPath: string): Promise<E2ePlace> {
  return e2e().placeStored(space, relayPath);
}

/** Folders found plain lately, by space and path, until when (ms). */
const plainFolders = new Map<string, number>();
/** How long a folder found plain is taken as plain for the files uploaded into it. */
const PLAIN_FOLDER_MS = 2000;

/**
 * Where a file being uploaded goes. Its siblings share the answer (a file is never an
 * encrypted folder itself), so a folder found plain is not asked about again for a
 * moment: a thousand small files otherwise asked a thousand times. Were it made an
 * encrypted folder meanwhile, the relay refuses the plain upload; nothing leaks.
 */
async function uploadPlaceOf(space: number | undefined, relayPath: string): Promise<E2ePlace> {
  const key = `${space ?? ''}:${relayPath.slice(0, Math.max(0, relayPath.lastIndexOf('/')))}`;
  if ((plainFolders.get(key) ?? 0) > Date.now()) return { relayPath };
  const place = await placeOf(space, relayPath);
  if (!place.root) {
    if (plainFolders.size > 1000) plainFolders.clear();
    plainFolders.set(key, Date.now() + PLAIN_FOLDER_MS);
  }
  return place;
}

/** A File as an upload source, read a slice at a time. */
function blobSource(file: File): FileSource {
  return {
    size: file.size,
    mtime: file.lastModified,
    async read(offset, length) {
      return new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** Rebuilds a FerryError on the page side: comlink passes plain errors only. */
function plain(err: unknown): Error {
  const e = err as FerryError;
  const out = new Error(e?.message ?? String(err));
  out.name = e?.code ?? e?.name ?? 'Error';
  return out;
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw plain(err);
  }
}

/**
 * WebCrypto hashes right here (its digests run off this thread); @noble/hashes is
 * plain JavaScript, so its buffers move to the pool's workers and back.
 */
function bufferHasher(kind: HasherKind | undefined): BufferHasher {
  const webcrypto = kind === 'noble' ? undefined : webCryptoHasher();
  if (webcrypto) return inPlace(webcrypto);
  return (data) => pool.hashBuffer(data, 'noble');
}

/** Progress reaches the page at most this often (ms); phase changes go at once. */
const PROGRESS_EVERY_MS = 100;

/**
 * Coalesces a transfer's progress events: the page redraws a few times a second
 * instead of twice per chunk, which leaves the CPU to the transfer.
 */
function progressEmitter<E extends object>(send: (e: E) => void): (e: E) => void {
  let lastAt = 0;
  let lastPhase: string | undefined;
  let pending: E | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    if (!pending) return;
    const e = pending;
    pending = undefined;
    lastAt = performance.now();
    lastPhase = phaseOf(e);
    send(e);
  };
  return (e) => {
    pending = e;
    if (phaseOf(e) !== lastPhase || performance.now() - lastAt >= PROGRESS_EVERY_MS) {
      if (timer) clearTimeout(timer);
      flush();
    } else timer ??= setTimeout(flush, PROGRESS_EVERY_MS);
  };
}

function phaseOf(e: object): string | undefined {
  return 'phase' in e ? String(e.phase) : undefined;
}

/** Chunks hashed between two checkpoints of an upload's hashed part. */
const CHECKPOINT_EVERY = 16;

/** Chunks of one file read and hashed at once. */
const HASH_CONCURRENCY = 2;

// Where the browser reports connectivity changes, act at once instead of waiting for
// the watchdog or the backoff.
self.addEventListener('online', () => client?.retryNow());
self.addEventListener('offline', () => client?.dropConnection('the device went offline'));

/** Synced folders running here: their engines, and how to stop or wake each. */
const syncs = new Map<string, { abort: AbortController; engine: SyncEngine; wake: () => void }>();

/** Without FileSystemObserver the folder is scanned this often (ms)… */
const SYNC_POLL_MS = 3000;
/** …and with it, a full scan still runs this often (an observer can miss events). */
const SYNC_FULL_SCAN_MS = 60_000;

interface Observer {
  observe(handle: FileSystemHandle, opts: { recursive: boolean }): Promise<void>;
  disconnect(): void;
}
/** What a FileSystemObserver reports (paths relative to the observed folder). */
interface ObserverRecord {
  type: 'appeared' | 'disappeared' | 'modified' | 'moved' | 'unknown' | 'errored';
  relativePathComponents: string[];
  relativePathMovedFrom?: string[];
}
type ObserverClass = new (cb: (records: ObserverRecord[]) => void) => Observer;

function watchHandle(handle: FileSystemDirectoryHandle, changed: (path?: string) => void): () => void {
  const FSO = (self as unknown as { FileSystemObserver?: ObserverClass }).FileSystemObserver;
  if (FSO) {
    const o = new FSO((records) => {
      for (const r of records) {
        // 'unknown' (events were lost) and 'errored': only a look at everything can tell.
        if (r.type === 'unknown' || r.type === 'errored' || !r.relativePathComponents?.length) changed();
        else {
          changed(r.relativePathComponents.join('/'));
          if (r.relativePathMovedFrom?.length) changed(r.relativePathMovedFrom.join('/'));
        }
      }
    });
    // An observer that cannot start (some folders refuse) leaves the full scan to notice.
    o.observe(handle, { recursive: true }).catch(() => {});
    return () => o.disconnect();
  }
  const t = setInterval(changed, SYNC_POLL_MS);
  return () => clearInterval(t);
}

/** Tells the relay what this browser syncs (one per connection). */
let reporter: DeviceReporter | undefined;

async function runPair(c: FerryClient, p: SyncPairRequest): Promise<void> {
  reporter ??= new DeviceReporter(c, { name: p.device, kind: 'app' });
  const reports = reporter;
  const plainTree = new BrowserLocalTree(p.handle, {
    hash: (f) => pool.feed(f).done,
    source: (f) => fileSource(f, bufferHasher(undefined)),
  });
  // A relay folder in an encrypted folder (named as a person typed it): names sealed here,
  // files compared as sealed.
  const place = await e2e().place(p.space, p.remote);
  const remote = place.relayPath;
  const sealing = place.root
    ? new SealedPair(place.root.cipher, async (rel) => {
        const source = await plainTree.openSource(rel);
        try {
          const h = await createSHA256();
          for (let at = 0; at < source.size; at += 4 * 1024 * 1024) h.update(await source.read(at, Math.min(4 * 1024 * 1024, source.size - at)));
          return h.digest('hex');
        } finally {
          await source.close();
        }
      })
    : undefined;
  const local = sealing ? sealing.tree(plainTree) : plainTree;
  const say = (message: string) => emit({ type: 'log.v1', level: 'info', message: `sync ${p.handle.name}: ${message}` });
  const engine = new SyncEngine({ client: c, space: p.space, spaceId: p.space, remote, local, state: new IdbSyncState(p.id), mode: p.mode, device: p.device, names: p.names, log: say, sealing });
  const abort = new AbortController();
  const entry = { abort, engine, wake: () => {} };
  syncs.set(p.id, entry);
  const report = (error?: { code: string; message: string }) => {
    emit({ type: 'sync.v1', id: p.id, status: structuredClone(engine.status), error });
    if (syncs.get(p.id) === entry) reports.update(p.id, folderInfo(p.handle.name, p.space, remote, p.mode, engine.status));
  };
  const hasObserver = 'FileSystemObserver' in self;
  void (async () => {
    while (!abort.signal.aborted) {
      try {
        // The relay folder exists from the start, so it shows in the library.
        if (remote !== '') await c.request('mkdir', { space: p.space, path: remote });
        await runSyncLoop({
          engine,
          client: c,
          spaceId: p.space,
          remote,
          watch: (changed) => watchHandle(p.handle, changed),
          fullScanMs: hasObserver ? SYNC_FULL_SCAN_MS : SYNC_POLL_MS,
          signal: abort.signal,
          onStatus: () => report(),
          log: say,
          wakeup: (start) => (entry.wake = start),
        });
      } catch (err) {
        const e = err as FerryError;
        const code = e.code ?? (err as Error).name ?? 'INTERNAL';
        engine.status.state = code === 'CONNECTION_LOST' ? 'offline' : 'paused';
        engine.status.reason = (err as Error).message;
        report({ code, message: (err as Error).message });
        // The folder's permission was taken back, or the session ended: the page decides.
        if (code !== 'CONNECTION_LOST') break;
        await c.ready().catch(() => new Promise((r) => setTimeout(r, 5000)));
      }
    }
    if (syncs.get(p.id) === entry) syncs.delete(p.id);
  })();
}

function stopAllSyncs(): void {
  for (const s of syncs.values()) s.abort.abort();
  syncs.clear();
  reporter?.close();
  reporter = undefined;
}

/** Chunks sealed at once for an upload into an encrypted folder (WebCrypto works off this thread). */
const SEAL_CONCURRENCY = 3;

/**
 * An upload into an encrypted folder: the name and the facts sealed, every chunk sealed
 * on its way out (WebCrypto), the plaintext's SHA-256 read alongside.
 */
async function uploadSealed(c: FerryClient, req: Parameters<EngineApi['upload']>[0], place: E2ePlace, signal: AbortSignal): Promise<Awaited<ReturnType<EngineApi['upload']>>> {
  const { cipher } = place.root!;
  const name = await cipher.openName(req.path.slice(req.path.lastIndexOf('/') + 1));
  const current = (await c.request('stat', { space: req.space, paths: [req.path] })).entries[0];
  const fileId = current?.kind === 'file' && current.sealed ? (await cipher.openFacts(current.sealed)).facts.fileId : newFileId();
  // The plaintext's SHA-256 on a hash worker, while this thread seals and sends.
  const plainHash = pool.wholeSha256(req.file);
  plainHash.catch(() => {});
  const total = req.file.size;
  const progress = progressEmitter<Extract<EngineEvent, { type: 'upload.progress.v1' }>>(emit);
  // Each chunk sealed once (WebCrypto, a few at a time), hashed, and held until it is sent;
  // the plaintext read front to back through one stream.
  const reader = new SequentialBlobReader(req.file);
  const { feed, source } = sealedFeed(cipherSize(total), req.file.lastModified, async (offset, length) => {
    const bytes = await reader.read((offset / CHUNK_SIZE) * PLAIN_CHUNK, new Uint8Array(length - (CHUNK_SIZE - PLAIN_CHUNK)));
    const sealed = await cipher.sealChunk(bytes);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', sealed));
    return { sealed, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
  }, { concurrency: SEAL_CONCURRENCY });
  let r: Awaited<ReturnType<typeof uploadFile>>;
  try {
    r = await uploadFile(c, source, {
      feed,
      space: req.space,
      path: req.path,
      conflict: req.conflict === 'rename' ? 'version' : req.conflict,
      window: UPLOAD_WINDOW,
      signal,
      resume: req.resume,
      onSession: (upload) => emit({ type: 'upload.session.v1', id: req.id, upload }),
      onProgress: (p) => {
        const scale = (n: number) => (p.total ? Math.round((n / p.total) * total) : 0);
        progress({ type: 'upload.progress.v1', id: req.id, phase: p.phase, hashed: scale(p.hashed), done: scale(p.done), total });
      },
      seal: async (contentHash) => cipher.sealFacts({ fileId, name, size: total, sha256: await plainHash, contentHash, mtime: req.file.lastModified }),
    });
  } finally {
    reader.close();
  }
  const sha256 = await plainHash;
  emit({ type: 'log.v1', level: 'info', message: `uploaded ${name} (encrypted) v${r.version}`, data: { size: total, sha256, sent: r.stats.sentBytes } });
  return { space: r.space, path: r.path, version: r.version, size: total, contentHash: r.contentHash, sha256, chunks: r.chunks, sentBytes: r.stats.sentBytes, unchanged: r.unchanged, sentChunks: r.stats.sentChunks, heldChunks: r.stats.heldChunks };
}

const api: EngineApi = {
  setListener(listener) {
    emit = listener;
  },

  connect(url, token) {
    return guard(async () => {
      // Synced folders ran on the old connection; the page starts them again once signed in.
      stopAllSyncs();
      client?.close();
      forgetKeys();
      client = new FerryClient({
        url,
        token,
        createSocket: (u, p) => new WebSocket(u, p) as unknown as WebSocketLike,
        onState: (state, detail) => emit({ type: 'connection.v1', state, detail }),
      });
      client.onLogLine((line) => emit({ type: 'relay.log.v1', line }));
      client.onLibraryEvent((event) => emit({ type: 'library.v1', event }));
      client.onLinkChanged((link) => emit({ type: 'link.v1', link }));
      client.onSpacesChanged(() => emit({ type: 'spaces.v1' }));
      await client.connect();
      return client.user;
    });
  },

  login(user, password, device) {
    return guard(() => requireClient().login(user, password, device));
  },

  loginWithCode(code, device) {
    return guard(() => requireClient().loginWithCode(code, device));
  },

  logout() {
    stopAllSyncs();
    return guard(async () => {
      const user = requireClient().user?.name;
      forgetKeys();
      if (user) await saveUnlockedKey(user, undefined).catch(() => {});
      await requireClient().logout();
    });
  },

  e2eState() {
    return guard(async () => {
      const available = !!globalThis.crypto?.subtle;
      const { record } = await requireClient().request('e2e.keys', {});
      if (record === undefined) return { available, keys: false, unlocked: false };
      const r = parseKeyRecord(record);
      // A key kept until sign-out (from an earlier visit): used once it is known to fit.
      const user = requireClient().user?.name;
      if (!accountKey && user) {
        const kept = await loadUnlockedKey(user).catch(() => undefined);
        if (kept) {
          const ak = fromBase64Url(kept);
          if (await checkAccountKey(r, ak).then(() => true, () => false)) accountKey = ak;
          else await saveUnlockedKey(user, undefined);
        }
      }
      return { available, keys: true, unlocked: !!accountKey, fingerprint: await keyFingerprint(r) };
    });
  },

  e2eSetup(passphrase) {
    return guard(async () => {
      const c = requireClient();
      if ((await c.request('e2e.keys', {})).record !== undefined) throw new FerryError('E2E_KEYS_EXIST');
      const made = await createAccountKeys(passphrase);
      await c.request('e2e.keys.put', { record: JSON.stringify(made.record), replace: false });
      forgetKeys();
      accountKey = made.accountKey;
      return { recoveryKey: made.recoveryKey, fingerprint: await keyFingerprint(made.record) };
    });
  },

  e2eUnlock(secret, opts) {
    return guard(async () => {
      const c = requireClient();
      const { record } = await c.request('e2e.keys', {});
      if (record === undefined) throw new FerryError('E2E_NO_KEYS');
      const r = parseKeyRecord(record);
      const ak = opts.recovery ? await unlockWithRecoveryKey(r, secret) : await unlockWithPassphrase(r, secret);
      await checkAccountKey(r, ak);
      forgetKeys();
      accountKey = ak;
      const user = c.user?.name;
      if (user) await saveUnlockedKey(user, opts.keep === 'signout' ? toBase64Url(ak) : undefined);
    });
  },

  e2eLock() {
    return guard(async () => {
      const user = client?.user?.name;
      forgetKeys();
      if (user) await saveUnlockedKey(user, undefined);
    });
  },

  e2eOpenNames(space, folder, names) {
    return guard(async () => {
      const place = await placeOf(space, folder);
      if (!place.root) return names;
      const cipher = place.root.cipher;
      return Promise.all(names.map((n) => cipher.openName(n).catch(() => null)));
    });
  },

  e2ePeople(space, folder) {
    return guard(async () => {
      const c = requireClient();
      const me = c.user?.name ?? '';
      const found = await c.request('e2e.folder', { space, path: folder });
      if (!found.root) return [];
      const { record } = await c.request('e2e.keys', {});
      const mine = record === undefined ? undefined : await keyFingerprint(parseKeyRecord(record));
      // Not shared: only I hold its key.
      const people = found.people ?? [{ user: me, member: true, epochs: found.keys.map((k) => k.epoch) }];
      return Promise.all(
        people.map(async (p) => {
          const isMe = p.user.toLowerCase() === me.toLowerCase();
          const fingerprint = isMe ? mine : p.publicKey ? await keyFingerprint({ publicKey: p.publicKey }) : undefined;
          const pinned = isMe ? undefined : await loadPin(p.user);
          return { user: p.user, me: isMe, member: p.member, epochs: p.epochs, ...(fingerprint ? { fingerprint } : {}), ...(pinned ? { pinned } : {}) };
        }),
      );
    });
  },

  e2ePins() {
    return guard(() => listPins());
  },

  e2eTrust(user, fingerprint) {
    return guard(async () => {
      if (fingerprint === undefined) await forgetPin(user);
      else await savePin(user, fingerprint);
    });
  },

  e2eOpenLinks(list) {
    return guard(async () => {
      const ak = accountKey;
      return Promise.all(list.map((l) => (ak ? openOwnLink(ak, l.copyId, l).catch(() => null) : null)));
    });
  },

  e2eLinkCreate(id, space, path, opts) {
    return guard(async () => {
      const c = requireClient();
      const ak = accountKey;
      if (!ak) throw new FerryError('E2E_LOCKED');
      const place = await placeOf(space, path);
      if (!place.root) throw new FerryError('E2E_NOT_ALLOWED', 'Only a file of an encrypted folder gets an encrypted link.');
      const name = await place.root.cipher.openName(path.slice(path.lastIndexOf('/') + 1));
      const abort = new AbortController();
      running.set(id, abort);
      // The plaintext waits in this origin's private storage (OPFS) between the two legs.
      const temp = `link-${id}`;
      const sink = await downloadSink(temp);
      const progress = progressEmitter<Extract<EngineEvent, { type: 'download.progress.v1' }>>(emit);
      try {
        let facts: { size: number; sha256: string; mtime: number } | undefined;
        await downloadFile(c, openingSink(sink, place.root.cipher, name, (f) => (facts = f)), {
          space,
          path,
          version: opts.version,
          signal: abort.signal,
          onProgress: (p) => progress({ type: 'download.progress.v1', id, done: Math.round(p.done / 2), total: p.total }),
        });
        sink.close();
        const opened = facts!;
        const file = await downloadedFile(temp);
        const seal = await newLinkSeal();
        const { space: copies } = await c.request('link.space', {});
        await uploadFile(c, sealingSource(blobSource(file), seal.cipher), {
          space: copies,
          path: seal.copyId,
          conflict: 'version',
          window: UPLOAD_WINDOW,
          signal: abort.signal,
          onProgress: (p) => progress({ type: 'download.progress.v1', id, done: Math.round(p.total / 2 + p.done / 2), total: p.total }),
          seal: (contentHash) => seal.cipher.sealFacts({ fileId: newFileId(), name, size: opened.size, sha256: opened.sha256, contentHash, mtime: opened.mtime }),
        });
        const link = await c.request('link.create', { space: copies, path: seal.copyId, expiresInMs: opts.expiresInMs, maxDownloads: opts.maxDownloads, password: opts.password, message: opts.message, e2e: { key: await wrapLinkKey(ak, seal.key, seal.copyId) } });
        emit({ type: 'log.v1', level: 'info', message: `encrypted link made for ${name}`, data: { id: link.id } });
        return { link, name, fragment: linkFragment(seal.key) };
      } finally {
        sink.close();
        running.delete(id);
        await forgetDownload(temp).catch(() => {});
      }
    });
  },

  e2eSealPath(space, folder, rel) {
    return guard(async () => {
      const place = await placeOf(space, folder);
      return place.root ? place.root.cipher.sealPath(rel) : rel;
    });
  },

  e2eMove(space, from, to) {
    return guard(async () => {
      await e2e().move(space, from, to);
    });
  },

  e2eMkdir(space, path) {
    return guard(async () => {
      await e2e().mkdir(space, path);
    });
  },

  request(type, body) {
    return guard(() => requireClient().request(type, body));
  },

  hash(file, opts = {}) {
    return guard(() => pool.feed(file, opts).done);
  },

  hasherKind() {
    return pool.available();
  },

  upload(req) {
    return guard(async () => {
      const c = requireClient();
      const abort = new AbortController();
      running.set(req.id, abort);
      let source: ReturnType<typeof fileSource> | undefined;
      try {
        const place = await uploadPlaceOf(req.space, req.path);
        if (place.root) return await uploadSealed(c, req, place, abort.signal);
        const total = req.file.size;
        const known = req.chunks?.reduce((n, c) => n + c.length, 0) ?? 0;
        const complete = req.chunks && known === total ? req.chunks : undefined;
        let hashed = complete ? total : known;
        let last = { phase: 'hashing' as UploadPhase, done: 0 };
        const progress = progressEmitter<Extract<EngineEvent, { type: 'upload.progress.v1' }>>(emit);
        source = fileSource(req.file, bufferHasher(req.hasher));
        const feed = complete
          ? undefined
          : source.feed({
              concurrency: HASH_CONCURRENCY,
              known: req.chunks,
              signal: abort.signal,
              onHashed: (n) => {
                hashed = n;
                progress({ type: 'upload.progress.v1', id: req.id, phase: last.phase, hashed, done: last.done, total });
              },
            });
        if (feed) {
          // Checkpoints: once the file can be recognised, then the hashed part every
          // CHECKPOINT_EVERY chunks (a resume after a pause or reload hashes only the rest).
          const checkpoints = async () => {
            while (feed.chunks.length === 0 && !feed.complete) await feed.changed();
            emit({ type: 'upload.hashed.v1', id: req.id, firstChunk: feed.chunks[0]?.sha256 ?? '' });
            let saved = feed.chunks.length;
            while (!feed.complete && !abort.signal.aborted) {
              await feed.changed();
              if (feed.chunks.length - saved < CHECKPOINT_EVERY || feed.complete) continue;
              saved = feed.chunks.length;
              emit({ type: 'upload.hashed.v1', id: req.id, firstChunk: feed.chunks[0].sha256, chunks: feed.chunks.slice() });
            }
          };
          checkpoints().catch(() => {});
          feed.done.then((chunks) => emit({ type: 'upload.hashed.v1', id: req.id, firstChunk: chunks[0]?.sha256 ?? '', chunks }), () => {});
        }
        const r = await uploadFile(c, source, {
          space: req.space,
          path: req.path,
          conflict: req.conflict,
          chunks: complete,
          feed,
          window: UPLOAD_WINDOW,
          signal: abort.signal,
          resume: req.resume,
          onSession: (upload) => emit({ type: 'upload.session.v1', id: req.id, upload }),
          onProgress: (p) => {
            last = { phase: p.phase, done: p.done };
            progress({ type: 'upload.progress.v1', id: req.id, phase: p.phase, hashed: Math.max(hashed, p.hashed), done: p.done, total });
          },
        });
        const chunks = r.chunks;
        emit({ type: 'log.v1', level: 'info', message: `uploaded ${r.path} v${r.version}`, data: { size: r.size, sha256: r.sha256, sent: r.stats.sentBytes } });
        return {
          space: r.space,
          path: r.path,
          version: r.version,
          size: r.size,
          contentHash: r.contentHash,
          sha256: r.sha256,
          chunks,
          sentBytes: r.stats.sentBytes,
          unchanged: r.unchanged,
          sentChunks: r.stats.sentChunks,
          heldChunks: r.stats.heldChunks,
        };
      } finally {
        source?.close();
        running.delete(req.id);
      }
    });
  },

  stop(id) {
    running.get(id)?.abort();
  },

  downloadToDevice(id, space, path, version) {
    return guard(async () => {
      const c = requireClient();
      const abort = new AbortController();
      running.set(id, abort);
      const sink = await downloadSink(id);
      const progress = progressEmitter<Extract<EngineEvent, { type: 'download.progress.v1' }>>(emit);
      try {
        // In an encrypted folder: every chunk checked, opened, and written as plaintext.
        const place = await placeOf(space, path);
        let plainSha: string | undefined;
        const into = place.root ? openingSink(sink, place.root.cipher, await place.root.cipher.openName(path.slice(path.lastIndexOf('/') + 1)), (f) => (plainSha = f.sha256)) : sink;
        const { meta, stats } = await downloadFile(c, into, {
          space,
          path,
          version,
          signal: abort.signal,
          onProgress: (p) => progress({ type: 'download.progress.v1', id, done: p.done, total: p.total }),
        });
        return { sha256: plainSha ?? meta.sha256, version: meta.version, fetchedBytes: stats.fetchedBytes, keptChunks: stats.keptChunks };
      } finally {
        sink.close();
        running.delete(id);
      }
    });
  },

  syncStart(pair) {
    return guard(async () => {
      const c = requireClient();
      api.syncStop(pair.id);
      await runPair(c, pair);
    });
  },

  syncStop(id) {
    syncs.get(id)?.abort.abort();
    syncs.delete(id);
    reporter?.remove(id);
  },

  syncResume(id) {
    return guard(async () => {
      const s = syncs.get(id);
      if (!s) throw new FerryError('NOT_FOUND', 'That folder is not being synced here.');
      await s.engine.allowDeletes();
      s.wake();
    });
  },

  syncNow(id) {
    syncs.get(id)?.wake();
  },
};

Comlink.expose(api);
