/**
 * The transfers panel's state: every upload with its phase, progress, speed and time
 * left; the queue; checkpoints in IndexedDB so a reload or browser restart shows
 * unfinished files as waiting, and picking the same file again resumes it.
 */
import { newId } from '../lib/ids';
import type { ConflictPolicy } from '../../../relay/protocol';
import { CHUNK_SIZE } from '../../../relay/protocol/constants';
import { joinPath, parentOf } from '../../../relay/protocol/paths';
import { describe, engine, errorCode, onEngineEvent, request } from '../net/engine';
import { requestQueueSync, SYNC_MESSAGE, withQueueLock } from '../background-sync';
import { deleteCheckpoint, dequeue, enqueueFile, listCheckpoints, listQueue, queuedFile, saveCheckpoint, type Checkpoint, type QueuedFile } from '../storage/db';
import type { HasherKind } from '../workers/engine-api';
import { clientLog } from './log.svelte';
import { SpeedMeter } from '../lib/speed';
import { library } from './library.svelte';

export type TransferState = 'waiting' | 'offline' | 'queued' | 'hashing' | 'uploading' | 'verifying' | 'done' | 'paused' | 'failed' | 'cancelled';

/** States after which no checkpoint is kept. */
const ENDED: ReadonlySet<TransferState> = new Set(['done', 'cancelled']);

type Overall = { total: number; done: number; speed: number; eta?: number; fraction: number };

export interface TransferSummary {
  /** The uploads the panel lists. */
  rows: Transfer[];
  count: number;
  doneTotal: number;
  /** Done or cancelled (what "Clear finished" removes). */
  finished: number;
  /** Hashing, uploading or verifying now. */
  active: number;
  hiddenQueued: number;
  hiddenDone: number;
}

/** How often the overall progress and the rows shown are worked out again. */
const SUMMARY_EVERY_MS = 250;
/** Queued uploads listed before the rest are only counted. */
export const ROWS_QUEUED = 20;
/** Finished uploads listed (the latest). */
export const ROWS_DONE = 20;

/** Uploads of more than one chunk running at once. */
const CONCURRENCY = 2;
/**
 * Uploads of at most one chunk running at once, besides those: each is a few round trips
 * and a durable write at the relay, latency rather than bandwidth.
 */
const SMALL_CONCURRENCY = 16;

/**
 * `?hasher=noble` forces the portable hasher even where WebCrypto exists: it is what a
 * page served over plain http from a LAN address uses, and this makes it testable.
 */
const FORCED_HASHER: HasherKind | undefined = new URLSearchParams(location.search).get('hasher') === 'noble' ? 'noble' : undefined;

const CONFLICT_KEY = 'ferry.conflict';

/** The name-clash choice made in advance on this device ('ask' when none was). */
function savedConflict(): ConflictPolicy | 'ask' {
  try {
    const v = localStorage.getItem(CONFLICT_KEY);
    return v === 'version' || v === 'rename' || v === 'overwrite' ? v : 'ask';
  } catch {
    return 'ask';
  }
}

export class Transfer {
  readonly id: string;
  readonly name: string;
  readonly size: number;
  /** The space it goes to (absent: My files). */
  readonly space?: number;
  path: string;
  conflict: ConflictPolicy;
  file?: File;
  checkpoint?: Checkpoint;
  /** The relay's upload session, once known. */
  upload?: string;
  /** Its entry in the offline queue, when it was kept on this device first. */
  queued?: QueuedFile;
  state = $state<TransferState>('queued');
  /** Bytes the relay holds durably. */
  done = $state(0);
  /** Bytes hashed (hashing runs ahead of sending). */
  hashed = $state(0);
  speed = $state(0);
  error = $state('');
  errorCode = $state('');
  sha256 = $state('');
  version = $state(0);
  /** Bytes sent in the last leg (less than the size when the relay already held some). */
  sentBytes = $state(0);
  /** The relay had this content as the file's current version already: no version was added. */
  unchanged = $state(false);
  /**
   * Checkpoint writes of this transfer, one after another: a save that an engine event
   * started must not land after the removal that follows the commit (the file would come
   * back as waiting after a reload).
   */
  private checkpointWrites: Promise<unknown> = Promise.resolve();

  /** Saves the checkpoint, unless the transfer has ended by the time the write runs. */
  keepCheckpoint(): void {
    this.checkpointWrites = this.checkpointWrites.then(() => (this.checkpoint && !ENDED.has(this.state) ? saveCheckpoint(this.checkpoint) : undefined)).catch(() => {});
  }

  /** Removes the checkpoint after any write still in flight. */
  forgetCheckpoint(): Promise<void> {
    this.checkpointWrites = this.checkpointWrites.then(() => deleteCheckpoint(this.id)).catch(() => {});
    return this.checkpointWrites as Promise<void>;
  }
  private meter = new SpeedMeter();

  /** The path as a person reads it (in an encrypted folder the relay's is sealed). */
  readonly label: string;

  constructor(init: { id: string; name: string; size: number; space?: number; path: string; conflict: ConflictPolicy; file?: File; checkpoint?: Checkpoint; label?: string }) {
    this.id = init.id;
    this.name = init.name;
    this.size = init.size;
    this.space = init.space;
    this.path = init.path;
    this.label = init.label ?? init.path;
    this.conflict = init.conflict;
    this.file = init.file;
    this.checkpoint = init.checkpoint;
  }

  get active(): boolean {
    return this.state === 'hashing' || this.state === 'uploading' || this.state === 'verifying';
  }

  /** Seconds left at the current speed, when it can be told. */
  get eta(): number | undefined {
    if (!this.active || this.speed <= 0) return undefined;
    return (this.size - this.done) / this.speed;
  }

  /** Upload progress 0..1. */
  get fraction(): number {
    return this.size === 0 ? (this.state === 'done' ? 1 : 0) : Math.min(1, this.done / this.size);
  }

  /** Hashing progress 0..1. */
  get hashedFraction(): number {
    return this.size === 0 ? 1 : Math.min(1, this.hashed / this.size);
  }

  /** Updates progress, and the speed over the last few seconds (steady even when acks come in bursts). */
  progress(done: number): void {
    const speed = this.meter.sample(done);
    if (speed !== undefined) this.speed = speed;
    this.done = done;
  }

  resetSpeed(): void {
    this.speed = 0;
    this.meter.reset();
  }
}

class Transfers {
  /**
   * Every upload of this session, in the order added. Not reactive: the page shows
   * `summary`, worked out from it; a reactive array of thousands was read through its
   * proxy at every event.
   */
  items: Transfer[] = [];
  private byId = new Map<string, Transfer>();

  private push(t: Transfer): void {
    this.items.push(t);
    this.byId.set(t.id, t);
  }

  private keepOnly(keep: (t: Transfer) => boolean): void {
    this.items = this.items.filter(keep);
    this.byId = new Map(this.items.map((t) => [t.id, t]));
    this.updateSummary();
  }
  /** What an upload does when a name exists: ask each time (the default), or a policy chosen in advance (kept on this device). */
  conflict = $state<ConflictPolicy | 'ask'>(savedConflict());
  /** A name clash waiting for the person's choice. */
  clash = $state<{ path: string; remaining: number; choose: (choice: 'version' | 'rename' | 'skip', forAll: boolean) => void } | undefined>();
  /** The latest finished or failed transfer in words, for screen readers (a live region). */
  announcement = $state('');
  private running = 0;
  private runningSmall = 0;

  constructor() {
    setInterval(() => this.updateSummary(), SUMMARY_EVERY_MS);
    // The service worker's Background Sync asks open pages to read the queue.
    navigator.serviceWorker?.addEventListener('message', (e) => {
      if (e.data?.type === SYNC_MESSAGE) void this.drainQueue();
    });
    onEngineEvent((e) => {
      const t = 'id' in e ? this.byId.get(e.id) : undefined;
      if (!t) return;
      if (e.type === 'upload.session.v1') {
        t.upload = e.upload;
        if (t.checkpoint && t.checkpoint.upload !== e.upload) {
          t.checkpoint.upload = e.upload;
          t.keepCheckpoint();
        }
      } else if (e.type === 'upload.hashed.v1') {
        // Hashing events may arrive after the commit: a finished file keeps no checkpoint.
        if (ENDED.has(t.state)) return;
        // A checkpoint as soon as the file can be recognised, completed once it is all
        // hashed, so a reload lists the file as waiting and a re-pick resumes it.
        t.checkpoint = {
          id: t.id,
          space: t.space,
          path: t.path,
          name: t.name,
          size: t.size,
          mtime: t.file?.lastModified ?? 0,
          firstChunk: e.firstChunk,
          chunks: e.chunks ?? t.checkpoint?.chunks ?? [],
          conflict: t.conflict,
          upload: t.upload ?? t.checkpoint?.upload,
          addedAt: t.checkpoint?.addedAt ?? Date.now(),
        };
        t.keepCheckpoint();
      } else if (e.type === 'upload.progress.v1') {
        if (t.state === 'paused' || t.state === 'cancelled' || t.state === 'done' || t.state === 'failed') return;
        t.hashed = e.hashed;
        const state: TransferState = e.phase === 'hashing' ? 'hashing' : e.phase === 'uploading' ? 'uploading' : 'verifying';
        if (state !== t.state) t.resetSpeed();
        t.state = state;
        t.progress(e.phase === 'committing' || e.phase === 'done' ? e.total : e.done);
      }
    });
  }

  /** Bytes, done bytes, speed and time left over every unfinished or finished transfer of this session. */
  /**
   * All uploads together, and the rows the panel lists, worked out four times a second
   * (and at once when uploads are added or cleared) rather than at every change of every
   * upload: with a thousand small files, going over them all at each change was most of
   * what the page did.
   */
  overall = $state<Overall>({ total: 0, done: 0, speed: 0, eta: undefined, fraction: 0 });
  summary = $state<TransferSummary>({ rows: [], count: 0, doneTotal: 0, finished: 0, active: 0, hiddenQueued: 0, hiddenDone: 0 });

  private updateSummary(): void {
    let total = 0;
    let done = 0;
    let speed = 0;
    let doneTotal = 0;
    let finished = 0;
    let active = 0;
    for (const t of this.items) {
      if (t.state === 'done') doneTotal++;
      if (t.state === 'done' || t.state === 'cancelled') finished++;
      if (t.active) active++;
      if (t.state === 'cancelled' || t.state === 'waiting') continue;
      total += t.size;
      if (t.state !== 'hashing') done += t.done;
      if (t.state === 'uploading') speed += t.speed;
    }
    const o = this.overall;
    if (o.total !== total || o.done !== done || o.speed !== speed) {
      this.overall = { total, done, speed, eta: speed > 0 ? (total - done) / speed : undefined, fraction: total ? done / total : 0 };
    }
    // Every upload that needs a look (running, paused, failed, waiting), the next
    // ROWS_QUEUED queued ones and the last ROWS_DONE finished; the rest are counted.
    const rows: Transfer[] = [];
    let queued = 0;
    let doneSeen = 0;
    for (const t of this.items) {
      if (t.state === 'queued') {
        if (queued++ < ROWS_QUEUED) rows.push(t);
      } else if (t.state === 'done') {
        if (doneSeen++ >= doneTotal - ROWS_DONE) rows.push(t);
      } else rows.push(t);
    }
    const next: TransferSummary = { rows, count: this.items.length, doneTotal, finished, active, hiddenQueued: Math.max(0, queued - ROWS_QUEUED), hiddenDone: Math.max(0, doneTotal - ROWS_DONE) };
    const was = this.summary;
    const same =
      was.rows.length === rows.length &&
      was.rows.every((t, i) => t === rows[i]) &&
      (['count', 'doneTotal', 'finished', 'active', 'hiddenQueued', 'hiddenDone'] as const).every((k) => was[k] === next[k]);
    if (!same) this.summary = next;
  }

  /** Lists unfinished uploads from earlier visits as waiting for their file. */
  async init(): Promise<void> {
    clientLog.add('info', `hashing with ${FORCED_HASHER ?? (await engine.hasherKind())}`);
    for (const c of await listCheckpoints()) {
      if (this.byId.has(c.id)) continue;
      const t = new Transfer({ id: c.id, name: c.name, size: c.size, space: c.space, path: c.path, conflict: c.conflict, checkpoint: c });
      t.state = 'waiting';
      this.push(t);
    }
    this.updateSummary();
  }

  /** Whether the relay can be reached now; while not, added files are kept on the device. */
  online = $state(true);
  storage = $state<{ usage: number; quota: number; persisted: boolean } | undefined>();

  /** Asks to keep this site's storage, and reads how much is used. */
  async checkStorage(): Promise<void> {
    if (!navigator.storage) return;
    const persisted = (await navigator.storage.persisted?.()) || (await navigator.storage.persist?.()) || false;
    const { usage = 0, quota = 0 } = await navigator.storage.estimate();
    this.storage = { usage, quota, persisted };
  }

  private draining: Promise<void> = Promise.resolve();
  /**
   * Files added offline whose copy did not fit on the device, by queue entry: while
   * this page stays open they still upload from the picked file once the relay is back.
   */
  private readonly uncopied = new Map<string, File>();

  /** Lists files kept on the device, and uploads those whose copy is here once the relay is reachable. */
  drainQueue(): Promise<void> {
    // One pass at a time: two overlapping passes would start the same file twice.
    this.draining = this.draining.then(() => this.drainOnce()).catch((err) => clientLog.add('error', 'reading the offline queue failed', { message: String(err) }));
    return this.draining;
  }

  private async drainOnce(): Promise<void> {
    try {
      await this.drainEntries();
    } finally {
      this.updateSummary();
    }
  }

  private async drainEntries(): Promise<void> {
    for (const entry of await listQueue()) {
      let t = this.items.find((x) => x.queued?.id === entry.id);
      if (!t) {
        t = new Transfer({ id: entry.id, name: entry.name, size: entry.size, space: entry.space, path: entry.path, conflict: entry.conflict });
        t.queued = entry;
        this.push(t);
      }
      if (entry.problem) {
        const picked = this.uncopied.get(entry.id);
        if (picked && this.online) {
          if (t.state === 'offline') {
            t.file = picked;
            t.error = '';
            t.state = 'queued';
          }
          continue;
        }
        t.state = 'offline';
        t.error = picked ? `${entry.problem} It uploads when the relay is reachable, if this page stays open.` : `${entry.problem} Add the file again to upload it.`;
        continue;
      }
      if (!this.online) {
        t.state = 'offline';
        continue;
      }
      if (t.state === 'offline' || (t.state === 'queued' && !t.file)) {
        t.file = await queuedFile(entry);
        t.state = 'queued';
      }
    }
    this.pump();
    await this.checkStorage();
  }

  /**
   * Adds files (with their paths relative to the chosen folder) to the queue. A file
   * that matches a waiting upload (name, size, mtime and first-chunk hash) resumes it.
   * While the relay is unreachable, files are copied to this device's storage first.
   */
  /** Sets the policy chosen in advance, and keeps it on this device. */
  setConflict(c: ConflictPolicy | 'ask'): void {
    this.conflict = c;
    try {
      localStorage.setItem(CONFLICT_KEY, c);
    } catch {
      /* storage refused: the choice lasts this session */
    }
  }

  /**
   * With `ask`: the policy for each file whose path is taken, asked in a dialog (with "do
   * this for all"); undefined skips it. A file whose path is free gets `version`, so one
   * that appears meanwhile (another device) becomes a version, never lost.
   */
  private async policies(space: number | undefined, paths: string[]): Promise<(ConflictPolicy | undefined)[]> {
    if (this.conflict !== 'ask') return paths.map(() => this.conflict as ConflictPolicy);
    const taken = new Set<string>();
    for (const folder of new Set(paths.map(parentOf))) {
      const r = await request('list', { space, folder }).catch(() => undefined);
      for (const e of r?.entries ?? []) if (e.kind === 'file') taken.add(e.path);
    }
    const clashing = paths.filter((p) => taken.has(p));
    const decided = new Map<string, ConflictPolicy | undefined>();
    let forAll: 'version' | 'rename' | 'skip' | undefined;
    for (const [i, p] of clashing.entries()) {
      const choice = forAll ?? (await new Promise<{ choice: 'version' | 'rename' | 'skip'; all: boolean }>((resolve) => {
        this.clash = { path: p, remaining: clashing.length - i - 1, choose: (choice, all) => resolve({ choice, all }) };
      }).then(({ choice, all }) => {
        this.clash = undefined;
        if (all) forAll = choice;
        return choice;
      }));
      decided.set(p, choice === 'skip' ? undefined : choice);
      if (choice === 'skip') clientLog.add('info', `skipped ${p}: it exists already`);
    }
    return paths.map((p) => (decided.has(p) ? decided.get(p) : 'version'));
  }

  async add(files: { file: File; relativePath: string }[]): Promise<void> {
    // Into an encrypted folder, names are sealed on this device first (the engine holds the keys).
    const sealedHere = library.encrypted !== undefined;
    if (sealedHere && !this.online) {
      library.error = 'Files go into an encrypted folder once the relay is reachable (their names are sealed with the folder\'s key first). Nothing was queued.';
      return;
    }
    /** Plain paths as shown, by the sealed path each upload goes to. */
    const labels = new Map<string, string>();
    if (sealedHere) {
      const shown = library.crumbs.map((c) => c.name).join('/');
      try {
        files = await Promise.all(
          files.map(async (f) => {
            const sealed = await engine.e2eSealPath(library.space, library.folder, f.relativePath);
            labels.set(joinPath(library.folder, sealed), joinPath(shown, f.relativePath));
            return { ...f, relativePath: sealed };
          }),
        );
      } catch (err) {
        library.error = describe(err);
        return;
      }
    }
    if (!this.online) {
      for (const { file, relativePath } of files) {
        // Offline nothing can be asked: a clash becomes a new version (the old one stays in history).
        const policy = this.conflict === 'ask' ? 'version' : this.conflict;
        const entry = await enqueueFile(file, library.space, joinPath(library.folder, relativePath), policy);
        if (entry.problem) this.uncopied.set(entry.id, file);
        else await requestQueueSync(await navigator.serviceWorker?.getRegistration());
        clientLog.add(entry.problem ? 'warn' : 'info', `kept ${entry.path} on this device until the relay is reachable`, entry.problem ? { problem: entry.problem } : undefined);
      }
      await this.drainQueue();
      return;
    }
    const space = library.space;
    const folder = library.folder;
    const policies = await this.policies(space, files.map((f) => joinPath(folder, f.relativePath)));
    const waitingNow = this.items.filter((t) => t.state === 'waiting' && t.checkpoint);
    for (const [i, { file, relativePath }] of files.entries()) {
      const conflict = policies[i];
      if (conflict === undefined) continue;
      const waiting = waitingNow.filter((t) => t.state === 'waiting' && t.name === file.name && t.size === file.size && t.checkpoint!.mtime === file.lastModified);
      if (waiting.length > 0) {
        const [first] = file.size > 0 ? await engine.hash(file, { limit: CHUNK_SIZE, kind: FORCED_HASHER }) : [];
        const match = waiting.find((t) => t.checkpoint!.firstChunk === (first?.sha256 ?? ''));
        if (match) {
          match.file = file;
          match.state = 'queued';
          clientLog.add('info', `resuming ${match.path}`);
          continue;
        }
      }
      const path = joinPath(folder, relativePath);
      this.push(new Transfer({ id: newId(), name: file.name, size: file.size, space, path, conflict, file, label: labels.get(path) }));
    }
    this.pump();
    this.updateSummary();
  }

  private pump(): void {
    for (;;) {
      const next = this.items.find((t) => t.state === 'queued' && t.file && (t.size <= CHUNK_SIZE ? this.runningSmall < SMALL_CONCURRENCY : this.running < CONCURRENCY));
      if (!next) return;
      const small = next.size <= CHUNK_SIZE;
      if (small) this.runningSmall++;
      else this.running++;
      void this.run(next).finally(() => {
        if (small) this.runningSmall--;
        else this.running--;
        this.pump();
      });
    }
  }

  private async run(t: Transfer): Promise<void> {
    const file = t.file!;
    t.error = '';
    t.errorCode = '';
    t.resetSpeed();
    // A checkpoint with the whole chunk list resumes without hashing, one with part of
    // it hashes only the rest; the relay skips every chunk it acknowledged either way.
    const chunks = t.checkpoint?.chunks.length ? t.checkpoint.chunks : undefined;
    const hashedBefore = chunks?.reduce((n, c) => n + c.length, 0) ?? 0;
    if (chunks && hashedBefore < t.size) clientLog.add('info', `continuing ${t.path} with ${chunks.length} chunks hashed earlier`);
    t.state = chunks && hashedBefore === t.size ? 'uploading' : 'hashing';
    try {
      const upload = () => engine.upload({ id: t.id, file, space: t.space, path: t.path, conflict: t.conflict, chunks, hasher: FORCED_HASHER, resume: t.upload ?? t.checkpoint?.upload });
      // A file from the offline queue may be in the hands of the service worker (Background Sync).
      const r = t.queued ? await withQueueLock(t.queued, upload, true) : await upload();
      if (!r) {
        this.keepOnly((x) => x !== t);
        clientLog.add('info', `${t.path} was uploaded in the background`);
        library.refreshSoon();
        return;
      }
      t.state = 'done';
      t.done = t.size;
      t.hashed = t.size;
      t.sha256 = r.sha256;
      t.version = r.version;
      t.path = r.path;
      t.sentBytes = r.sentBytes;
      t.unchanged = r.unchanged;
      // Not waited for: the next upload need not wait for storage (it stays in order per upload).
      void t.forgetCheckpoint();
      if (t.queued) await dequeue(t.queued);
      clientLog.add('info', r.unchanged ? `unchanged: ${r.path} is v${r.version} already` : `upload done: ${r.path} v${r.version}`, { size: r.size, sha256: r.sha256, sentBytes: r.sentBytes });
      this.announcement = r.unchanged ? `${t.name} is unchanged.` : `${t.name} uploaded.`;
      library.refreshSoon();
    } catch (err) {
      const now = t.state as TransferState; // changed by pause() or cancel() meanwhile
      if (now === 'paused' || now === 'cancelled') return;
      t.state = 'failed';
      t.errorCode = errorCode(err);
      t.error = (err as Error).message;
      clientLog.add('error', `upload of ${t.path} failed`, { code: t.errorCode, message: t.error });
      this.announcement = `Upload of ${t.name} failed: ${t.error}`;
    }
  }

  pause(t: Transfer): void {
    if (!t.active && t.state !== 'queued') return;
    t.state = 'paused';
    void engine.stop(t.id);
    clientLog.add('info', `paused ${t.path}`);
  }

  resume(t: Transfer): void {
    if (t.state !== 'paused' && t.state !== 'failed') return;
    t.state = 'queued';
    this.pump();
  }

  /** Same as resume, for a failed transfer. */
  retry(t: Transfer): void {
    this.resume(t);
  }

  async cancel(t: Transfer): Promise<void> {
    const upload = t.upload ?? t.checkpoint?.upload;
    t.state = 'cancelled';
    void engine.stop(t.id);
    await t.forgetCheckpoint();
    if (t.queued) await dequeue(t.queued);
    if (upload) await request('upload.cancel', { upload }).catch(() => {});
    clientLog.add('info', `cancelled ${t.path}`);
  }

  /** Removes finished and cancelled entries from the panel. */
  clearFinished(): void {
    this.keepOnly((t) => t.state !== 'done' && t.state !== 'cancelled');
  }
}

export const transfers = new Transfers();

