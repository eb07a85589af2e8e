/**
 * The sync engine: keeps a local folder and a relay folder the same, for the CLI and the
 * app. No Node or DOM imports: the local folder, the state on disk and the connection are
 * handed in.
 *
 * Each round is a three-way comparison of what the local folder holds now (L), what the
 * relay holds now (R) and what both held after the last round (the base, B, kept on
 * disk):
 * - L = R: nothing to do (the base is brought up to date);
 * - only L differs from B: the local change goes to the relay — an upload that names the
 *   content it was based on (compare-and-swap: if the relay's file changed meanwhile, the
 *   relay keeps this write as a conflict instead of replacing anything), a move, a
 *   folder, or a delete (to the relay's trash);
 * - only R differs from B: the relay's change comes here — written to a part file,
 *   verified chunk by chunk, reusing chunks this device already has, and renamed into
 *   place only if the local file is still what the base says;
 * - both differ: a conflict. An edited file always wins over a delete; two edits keep
 *   both (the relay's copy at the path, this device's beside it as a conflict copy).
 *
 * A round looks only where something may have changed: the paths the folder's watcher
 * named, the paths the relay's change log names since the last round (`changes`, asked
 * from the position the last round reached), and the paths an earlier round left
 * unsettled. A full round (at start, every few minutes, when the change log cannot say
 * what happened, when the ignore rules change) looks at everything. Either way the base
 * stays on disk and only the part a round looks at is read, so an idle pair over a big
 * folder holds little memory and one change costs a few lookups.
 *
 * A round that is killed half-way is harmless: the base is only ever moved to states
 * that were reached, a base that lags behind is caught up by the rule L = R, and the
 * change log position is saved only after a round finished (so its changes are looked at
 * again).
 */
import { CHUNK_SIZE, FerryError, compareCodePoints, conflictPath, contentHash, portabilityProblems, joinPath, parentOf, type ChunkRef, type LibraryEvent } from '../protocol/index.js';
import type { FerryClient } from '../client/connection.js';
import { uploadFile, type FileSource } from '../client/upload.js';
import { downloadFile, type FileSink } from '../client/download.js';
import { IGNORE_FILE, IgnoreRules } from './ignore.js';

export type SyncMode = 'two-way' | 'upload-only' | 'download-only';

export interface LocalFile {
  kind: 'file';
  path: string;
  size: number;
  /** Modification time, ms. */
  mtime: number;
  /** The file's identity on its file system (inode), to tell a rename from a new file. */
  id?: string;
  /** POSIX `+x`; absent where the file system has no such bit (then the relay's is kept). */
  executable?: boolean;
}
export interface LocalFolder {
  kind: 'folder';
  path: string;
}
export type LocalEntry = LocalFile | LocalFolder;

/** What both sides held for a path after the last round. */
export interface BaseEntry {
  path: string;
  kind: 'file' | 'folder';
  /** Files: the content hash (the chunk list's), and the local facts it was seen with. */
  contentHash?: string;
  size?: number;
  mtime?: number;
  id?: string;
  executable?: boolean;
  /** Files: the relay's version number of this content (the change log's own writes are known by it). */
  version?: number;
  /** Written with the entry (for chunk reuse); not given back by `loadUnder`. */
  chunks?: ChunkRef[];
}

/** The local folder, as the engine needs it. Paths are relative and `/`-separated. */
export interface LocalTree {
  /** For messages. */
  readonly name: string;
  /** The marker file says this is the folder that was synced (a drive not mounted has none). */
  hasMarker(): Promise<boolean>;
  writeMarker(text: string): Promise<void>;
  /** Every file and folder under `folder` ('' = all of it), except the marker and part files of downloads. */
  scan(folder?: string): Promise<LocalEntry[]>;
  stat(path: string): Promise<LocalEntry | undefined>;
  hashFile(path: string): Promise<ChunkRef[]>;
  openSource(path: string): Promise<FileSource & { close(): Promise<void> }>;
  readRange(path: string, offset: number, length: number): Promise<Uint8Array | undefined>;
  /**
   * A download into a part file beside `path`, replacing it only after `beforeReplace`
   * passed. Chunks this device holds already come from `reuse` (their bytes) or `locate`
   * (where they are), whichever the tree uses.
   */
  sink(path: string, opts: { reuse?: (sha256: string, length: number) => Promise<Uint8Array | undefined>; locate?: (sha256: string) => Promise<{ path: string; offset: number } | undefined>; beforeReplace: () => Promise<void> }): FileSink;
  /** Deletes a file. */
  remove(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** Removes a folder if it is empty; false if it is not. */
  rmdir(path: string): Promise<boolean>;
  /** Renames; fails if `to` exists. */
  rename(from: string, to: string): Promise<void>;
  /** Sets or clears the executable bit; absent where the file system has none. */
  setExecutable?(path: string, executable: boolean): Promise<void>;
  readText(path: string): Promise<string | undefined>;
  /** Removes the part files the scans since the last call saw, unless `keep` says a download wants one. */
  dropParts(keep: (path: string) => boolean): Promise<number>;
  /** The folder treats `a` and `A` as one name (probed once). */
  caseInsensitive?(): Promise<boolean>;
}

/** The base and a few values, kept on disk. */
export interface SyncStateStore {
  /** The base entries at each of `roots` and under them ('' = all), without their chunk lists. */
  loadUnder(roots: string[]): Promise<Map<string, BaseEntry>>;
  /** Writes an entry (and its chunk list, when it has one: else the one kept stays). */
  put(entry: BaseEntry): Promise<void>;
  delete(path: string): Promise<void>;
  /** The chunk list written with a file's entry. */
  chunksOf(path: string): Promise<ChunkRef[] | undefined>;
  /** A synced file holding a chunk with this SHA-256, and where in it. */
  findChunk(sha256: string): Promise<{ path: string; offset: number } | undefined>;
  /** A path of the base other than `path` that differs from it only in letter case. */
  caseTwin(path: string): Promise<string | undefined>;
  /** How many entries the base holds, how many of them are files, and their bytes. */
  totals(): Promise<{ entries: number; files: number; bytes: number }>;
  value(name: string): Promise<string | undefined>;
  setValue(name: string, value: string | undefined): Promise<void>;
}

/**
 * A pair whose relay folder is end-to-end encrypted: names are sealed on the way to the
 * relay and opened on the way back, and each version goes with its sealed facts. (The
 * local tree of such a pair hashes files as their sealed chunks, so a local file and the
 * relay's compare by content as in any pair; see relay/sync/sealed.ts.)
 */
export interface SyncSealing {
  sealPath(rel: string): Promise<string>;
  openPath(stored: string): Promise<string>;
  /** The sealed facts of `rel`'s version about to be committed; `previous`: the current version's (its file id stays). */
  facts(rel: string, file: LocalFile, contentHash: string, previous: string | undefined): Promise<string>;
  /** Renames or moves an entry on the relay (stored paths), sealing a renamed file's facts again under its new name. */
  move(client: FerryClient, space: number | undefined, from: string, to: string): Promise<unknown>;
}

/** How paths are compared when a folder treats `a` and `A` as one name. */
export function foldCase(path: string): string {
  return path.normalize('NFC').toLowerCase();
}

export interface SyncOptions {
  client: FerryClient;
  /** The relay space as requests name it (absent: My files). */
  space?: number;
  /** Its id, as the change log names it. */
  spaceId: number;
  /** Set when the relay folder is end-to-end encrypted (then `remote` is its path as the relay stores it). */
  sealing?: SyncSealing;
  /** The folder in it ('' = all of it). */
  remote: string;
  local: LocalTree;
  state: SyncStateStore;
  mode?: SyncMode;
  /** This device's name (conflict copies say where a write came from). */
  device: string;
  /** Pause instead of deleting more than this share of the files or bytes on the relay (default 0.5)… */
  maxDeleteShare?: number;
  /** …when at least this many files would go (default 5). */
  minDeletes?: number;
  /**
   * A file modified less than this long ago is still being written: wait (default 20 ms).
   * A file whose size or time changes while it is hashed waits too.
   */
  settleMs?: number;
  now?: () => number;
  log?: (line: string) => void;
  /**
   * Which names this device's file system can hold: `windows` (no reserved names such as
   * CON, none of < > : " | ? *, no trailing dot or space, one file per name whatever its
   * case), `macos` (no ":", case-insensitive), `posix` (anything; case-insensitive only
   * if the folder says so, see LocalTree.caseInsensitive). Names it cannot hold are
   * skipped here and reported, never deleted anywhere.
   */
  names?: 'posix' | 'windows' | 'macos';
}

export type SyncState = 'up to date' | 'syncing' | 'paused' | 'offline';

export interface SyncStatus {
  state: SyncState;
  /** Why it is paused. */
  reason?: string;
  /** What this round still has to send or fetch. */
  files: number;
  bytes: number;
  doneBytes: number;
  /** When this round's transfers began (for speed and time left). */
  transfersSince?: number;
  /** Conflict copies made, this round and before (paths in the folder). */
  conflicts: string[];
  /** Files and folders left alone by the ignore rules (counted by the last full round). */
  ignored: number;
  /** Names the relay refused (or this device cannot hold), with why; never deleted. */
  skipped: { path: string; why: string }[];
  lastSyncAt?: number;
}

export interface RoundReport {
  /** The round looked at everything (not only where changes were heard). */
  full: boolean;
  /** Paths it compared. */
  compared: number;
  uploaded: number;
  downloaded: number;
  deleted: number;
  moved: number;
  conflicts: number;
  /** Files still being written: the round should run again after `settleMs`. */
  unsettled: number;
  /** Bytes sent (chunks the relay did not have) and fetched (chunks not found here). */
  sentBytes: number;
  fetchedBytes: number;
  paused?: string;
}

interface RemoteFile {
  kind: 'file';
  path: string;
  size: number;
  mtime: number;
  version: number;
  contentHash: string;
  executable?: boolean;
  /** In an encrypted folder: the version's sealed facts. */
  sealed?: string;
}

function remoteFile(rel: string, e: { size?: number; mtime?: number; version?: number; contentHash?: string; executable?: boolean; sealed?: string }): RemoteFile {
  return { kind: 'file', path: rel, size: e.size!, mtime: e.mtime!, version: e.version!, contentHash: e.contentHash!, ...(e.executable ? { executable: true } : {}), ...(e.sealed ? { sealed: e.sealed } : {}) };
}
type RemoteEntry = RemoteFile | { kind: 'folder'; path: string };
type HereFile = LocalFile & { contentHash: string; chunks?: ChunkRef[] };
type HereEntry = HereFile | LocalFolder;
/** Chunks this device holds: their bytes, or where they are. */
type Have = Pick<Parameters<LocalTree['sink']>[1], 'reuse' | 'locate'>;
const NOTHING_HERE: Have = { reuse: async () => undefined, locate: async () => undefined };

/** Small files sent or fetched at once. */
const TRANSFERS_AT_ONCE = 8;

/** See SyncOptions.settleMs. */
export const SETTLE_MS = 20;

/** The marker's name, at the top of the local folder. */
export const MARKER = '.ferry-sync';
const PAUSED = 'paused';
const ALLOW_DELETES = 'allowDeletes';
/** The change log position the last finished round reached: `{ epoch, position }`. */
const POSITION = 'changes';

/** Identity of an entry for comparisons: a file is its content and its executable bit. */
function ident(e: { kind: 'file' | 'folder'; contentHash?: string; executable?: boolean } | undefined): string | undefined {
  return e === undefined ? undefined : e.kind === 'folder' ? 'folder' : `file:${e.contentHash}${e.executable ? '+x' : ''}`;
}

function depth(path: string): number {
  return path.split('/').length;
}

/** `path` is `root` or inside it ('' holds everything). */
function within(path: string, root: string): boolean {
  return root === '' || path === root || path.startsWith(`${root}/`);
}

/** The roots with every one inside another dropped ('' alone when it is there). */
function outermost(roots: Iterable<string>): string[] {
  const sorted = [...new Set(roots)].sort(compareCodePoints);
  const out: string[] = [];
  for (const r of sorted) if (!out.some((o) => within(r, o))) out.push(r);
  return out;
}

export class SyncEngine {
  readonly status: SyncStatus = { state: 'syncing', files: 0, bytes: 0, doneBytes: 0, conflicts: [], ignored: 0, skipped: [] };
  private readonly mode: SyncMode;
  /** Bytes of this round's transfers that finished. */
  private doneBefore = 0;
  /** Bytes done of the transfers running now, by path. */
  private readonly running = new Map<string, number>();
  /** Downloads that failed (their part files stay for the next try). */
  private readonly pendingDownloads = new Set<string>();
  /** Paths the watcher named since the last round began. */
  private readonly touchedPaths = new Set<string>();
  /** Paths a round could not settle (still being written, a transfer that failed): looked at again. */
  private readonly retry = new Set<string>();
  /** The next round looks at everything. */
  private fullDue = true;
  /** Moves this device made on the relay (`from\nto`), known again when the change log tells of them. */
  private readonly ownMoves = new Set<string>();

  constructor(private readonly opts: SyncOptions) {
    this.mode = opts.mode ?? 'two-way';
  }

  /** A path in the pair as the relay stores it (its names sealed, in an encrypted folder). */
  private async remotePath(rel: string): Promise<string> {
    const stored = rel && this.opts.sealing ? await this.opts.sealing.sealPath(rel) : rel;
    return this.opts.remote ? (stored === '' ? this.opts.remote : joinPath(this.opts.remote, stored)) : stored;
  }

  /** A relay path below the pair's folder, as a path in the pair. */
  private async pairPath(stored: string): Promise<string> {
    const prefix = this.opts.remote ? `${this.opts.remote}/` : '';
    const rel = stored.slice(prefix.length);
    return rel && this.opts.sealing ? this.opts.sealing.openPath(rel) : rel;
  }

  /** A relay path as a path in the pair, or undefined when it is outside the pair's folder. */
  private async relative(space: number | undefined, path: string | undefined): Promise<string | undefined> {
    if (space !== this.opts.spaceId || path === undefined) return undefined;
    const remote = this.opts.remote;
    if (path === remote) return '';
    if (remote !== '' && !path.startsWith(`${remote}/`)) return undefined;
    return this.pairPath(path);
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** The local folder changed at `path` (what a watcher reports); without a path, anywhere. */
  touched(path?: string): void {
    if (path === undefined || path === '') this.fullDue = true;
    else this.touchedPaths.add(path);
  }

  /** The next round looks at everything (the periodic full scan; a watcher that may have missed events). */
  requestFull(): void {
    this.fullDue = true;
  }

  /** Lets the next round delete what the breaker held back (`ferry sync resume`). */
  async allowDeletes(): Promise<void> {
    await this.opts.state.setValue(ALLOW_DELETES, '1');
    await this.opts.state.setValue(PAUSED, undefined);
  }

  /** Everything under `root` on the relay (not `root` itself), as paths in the pair. */
  private async remoteTree(root: string, into: Map<string, RemoteEntry>): Promise<void> {
    const { client, space } = this.opts;
    const base = await this.remotePath(root);
    let after: string | undefined;
    for (;;) {
      const page = await client.request('tree', { space, folder: base, after, limit: 5000 });
      for (const e of page.entries) {
        const rel = await this.pairPath(e.path);
        if (e.kind === 'folder') into.set(rel, { kind: 'folder', path: rel });
        else into.set(rel, remoteFile(rel, e));
        // Folders that exist only as part of a file's path (inside the root only: what is
        // outside it is not looked at this round).
        for (let p = rel.lastIndexOf('/'); p > 0; p = rel.lastIndexOf('/', p - 1)) {
          const folder = rel.slice(0, p);
          if (into.has(folder) || !within(folder, root) || folder === root) break;
          into.set(folder, { kind: 'folder', path: folder });
        }
      }
      if (!page.more || page.entries.length === 0) break;
      after = page.entries[page.entries.length - 1].path;
    }
  }

  /** What the relay holds at and under each root. */
  private async remoteScope(roots: string[]): Promise<Map<string, RemoteEntry>> {
    const found = new Map<string, RemoteEntry>();
    if (roots.includes('')) {
      await this.remoteTree('', found);
      return found;
    }
    for (let i = 0; i < roots.length; i += 1000) {
      const batch = roots.slice(i, i + 1000);
      const { entries } = await this.opts.client.request('stat', { space: this.opts.space, paths: await Promise.all(batch.map((r) => this.remotePath(r))) });
      for (const e of entries) {
        const rel = await this.pairPath(e.path);
        if (e.kind === 'folder') {
          found.set(rel, { kind: 'folder', path: rel });
          await this.remoteTree(rel, found);
        } else {
          found.set(rel, remoteFile(rel, e));
        }
      }
    }
    return found;
  }

  /** What the local folder holds at and under each root. */
  private async localScope(roots: string[]): Promise<LocalEntry[]> {
    const { local } = this.opts;
    if (roots.includes('')) return local.scan('');
    const found: LocalEntry[] = [];
    for (const r of roots) {
      const st = await local.stat(r);
      if (!st) continue;
      found.push(st);
      if (st.kind === 'folder') found.push(...(await local.scan(r)));
    }
    return found;
  }

  /**
   * The paths the relay's change log names since the last round, in the pair's folder.
   * Undefined when it cannot say (no position yet, or the log no longer reaches back):
   * then the round looks at everything.
   */
  private async remoteChanges(): Promise<{ paths: Set<string>; next: { epoch: number; position: number } } | undefined> {
    const saved = await this.opts.state.value(POSITION);
    if (!saved) return undefined;
    const { epoch, position } = JSON.parse(saved) as { epoch: number; position: number };
    /** The last change of each path. */
    const last = new Map<string, LibraryEvent>();
    let since = position;
    for (;;) {
      const page = await this.opts.client.request('changes', { since, epoch, limit: 1000 });
      if (page.reset) return undefined;
      for (const e of page.events as LibraryEvent[]) {
        const at = await this.relative(e.space, e.path);
        const from = e.kind === 'moved' ? await this.relative(e.fromSpace ?? e.space, e.from) : undefined;
        if (at !== undefined) last.set(at, e);
        if (from !== undefined) last.set(from, e);
      }
      since = page.position;
      if (!page.more) break;
    }
    // What this device wrote itself is in the log too: a path whose last change is what
    // the base holds already needs no look.
    const base = last.size ? await this.opts.state.loadUnder(outermost(last.keys())) : new Map<string, BaseEntry>();
    const paths = new Set<string>();
    for (const [p, e] of last) {
      const b = base.get(p);
      if ((e.kind === 'file.added' || e.kind === 'version.added' || e.kind === 'version.restored') && b?.kind === 'file' && b.version !== undefined && b.version === e.version) continue;
      if (e.kind === 'folder.added' && b?.kind === 'folder') continue;
      if ((e.kind === 'trashed' || e.kind === 'file.deleted' || e.kind === 'purged') && ![...base.keys()].some((k) => within(k, p))) continue;
      if (e.kind === 'moved' && this.ownMoves.has(`${await this.relative(e.fromSpace ?? e.space, e.from)}\n${await this.relative(e.space, e.path)}`)) continue;
      paths.add(p);
    }
    return { paths, next: { epoch, position: since } };
  }

  /** One round; see the top of this file. */
  async runOnce(): Promise<RoundReport> {
    const { local, state } = this.opts;
    const now = this.opts.now ?? Date.now;
    const settleMs = this.opts.settleMs ?? SETTLE_MS;
    const report: RoundReport = { full: false, compared: 0, uploaded: 0, downloaded: 0, deleted: 0, moved: 0, conflicts: 0, unsettled: 0, sentBytes: 0, fetchedBytes: 0 };
    const pause = async (why: string) => {
      this.status.state = 'paused';
      this.status.reason = why;
      await state.setValue(PAUSED, why);
      report.paused = why;
      this.log(`paused: ${why}`);
      return report;
    };
    const paused = await state.value(PAUSED);
    if (paused) {
      this.status.state = 'paused';
      this.status.reason = paused;
      report.paused = paused;
      return report;
    }
    const totals = await state.totals();
    if (!(await local.hasMarker())) {
      if (totals.entries > 0) return pause(`${local.name} has no ${MARKER} file: is it the folder that was synced (a drive not mounted)? Nothing was deleted. Put the folder back, or start the pair again to sync it as new.`);
      await local.writeMarker(`Ferry keeps this folder in sync with ${this.opts.remote || 'My files'}. Removing this file pauses syncing.\n`);
    }

    // Where to look: what was heard since the last round. What is taken here goes back if
    // the round fails, so nothing heard is forgotten.
    const heard = new Set([...this.touchedPaths, ...this.retry]);
    let full = this.fullDue;
    this.touchedPaths.clear();
    this.retry.clear();
    this.fullDue = false;
    try {
      let next: { epoch: number; position: number } | undefined;
      if (!full) {
        const changes = await this.remoteChanges();
        if (changes) {
          for (const p of changes.paths) heard.add(p);
          next = changes.next;
        } else full = true;
      }
      if (full || heard.has(IGNORE_FILE) || heard.has('')) {
        full = true;
        // The position first: what changes while the relay's tree is read is looked at again.
        const { epoch, position } = await this.opts.client.request('changes', {});
        next = { epoch, position };
      }
      report.full = full;
      const roots = full ? [''] : outermost(heard);
      if (roots.length > 0) {
        this.status.state = 'syncing';
        this.status.reason = undefined;
        const done = await this.compare(roots, full, totals, report, now, settleMs, pause);
        if (done) return done;
      }
      await state.setValue(POSITION, JSON.stringify(next));
    } catch (err) {
      for (const p of heard) this.touchedPaths.add(p);
      if (full) this.fullDue = true;
      throw err;
    }
    this.status.files = 0;
    this.status.bytes = 0;
    this.status.transfersSince = undefined;
    this.status.state = report.unsettled > 0 ? 'syncing' : 'up to date';
    this.status.lastSyncAt = now();
    return report;
  }

  /** Compares and brings together what is at and under `roots`; a report when the round stops early (paused). */
  private async compare(
    roots: string[],
    full: boolean,
    totals: { files: number; bytes: number },
    report: RoundReport,
    now: () => number,
    settleMs: number,
    pause: (why: string) => Promise<RoundReport>,
  ): Promise<RoundReport | undefined> {
    const { local, state } = this.opts;
    // What is here now, and its content (hashed only when its facts changed).
    const rules = new IgnoreRules(await local.readText(IGNORE_FILE));
    const ignoredPath = (p: string, folder: boolean) => rules.ignores(p, folder) || [...parents(p)].some((q) => rules.ignores(q, true));
    const base = await state.loadUnder(roots);
    let ignored = 0;
    const here = new Map<string, HereEntry>();
    const unsettled = new Set<string>();
    for (const e of await this.localScope(roots)) {
      if (e.path === MARKER) continue;
      if (ignoredPath(e.path, e.kind === 'folder')) {
        ignored++;
        continue;
      }
      if (e.kind === 'folder') {
        here.set(e.path, e);
        continue;
      }
      const b = base.get(e.path);
      if (b?.kind === 'file' && b.size === e.size && b.mtime === e.mtime && (b.id === undefined || e.id === undefined || b.id === e.id)) {
        here.set(e.path, { ...e, contentHash: b.contentHash! });
        continue;
      }
      if (now() - e.mtime < settleMs) {
        unsettled.add(e.path);
        continue;
      }
      const chunks = await local.hashFile(e.path).catch(() => undefined);
      const again = await local.stat(e.path);
      if (!chunks || !again || again.kind !== 'file' || again.size !== e.size || again.mtime !== e.mtime) {
        unsettled.add(e.path);
        continue;
      }
      here.set(e.path, { ...e, contentHash: contentHash(chunks), chunks });
    }
    if (full) this.status.ignored = ignored;
    report.unsettled = unsettled.size;
    for (const p of unsettled) this.retry.add(p);

    const there = await this.remoteScope(roots);
    // The marker is this folder's own (a file of that name on the relay is not fetched over it).
    there.delete(MARKER);
    for (const [p, e] of there) if (ignoredPath(p, e.kind === 'folder')) there.delete(p);

    // Names from the relay this device cannot hold: skipped (no step at all, so nothing
    // is deleted on either side because of them) and reported.
    const cannotHold = await this.unholdable(here, there, base);

    // Chunks this device holds, for downloads that can reuse them: what this round hashed,
    // then what the base says synced files hold.
    const hashedHere = new Map<string, { path: string; offset: number }>();
    for (const e of here.values()) {
      if (e.kind === 'file' && e.chunks) for (const c of e.chunks) hashedHere.set(c.sha256, { path: e.path, offset: c.offset });
    }
    const locate = async (sha256: string) => hashedHere.get(sha256) ?? (await state.findChunk(sha256));
    const reuse = async (sha256: string, length: number) => {
      const at = await locate(sha256);
      return at ? local.readRange(at.path, at.offset, length) : undefined;
    };

    // A local file without an executable bit of its own (a file system without one) has
    // the one the base or the relay says.
    const executableHere = (L: HereFile, B: BaseEntry | undefined, R: RemoteEntry | undefined): boolean | undefined =>
      L.executable ?? (B?.kind === 'file' && B.contentHash === L.contentHash ? B.executable : R?.kind === 'file' && R.contentHash === L.contentHash ? R.executable : undefined);
    const effective = (p: string): HereEntry | undefined => {
      const L = here.get(p);
      if (L?.kind !== 'file' || L.executable !== undefined) return L;
      const x = executableHere(L, base.get(p), there.get(p));
      return x ? { ...L, executable: true } : L;
    };

    const paths = new Set([...here.keys(), ...there.keys(), ...base.keys()]);
    for (const p of unsettled) paths.delete(p);
    for (const p of cannotHold) paths.delete(p);
    report.compared = paths.size;
    type Step =
      | { do: 'upload'; path: string; base: string }
      | { do: 'download'; path: string; remote: RemoteFile; expect: BaseEntry | undefined }
      | { do: 'mode-local'; path: string; remote: RemoteFile }
      | { do: 'mkdir-remote' | 'mkdir-local' | 'trash' | 'remove-local' | 'rmdir-local' | 'same'; path: string };
    const steps: Step[] = [];
    for (const p of paths) {
      const L = effective(p);
      const R = there.get(p);
      const B = base.get(p);
      const l = ident(L);
      const r = ident(R);
      const b = ident(B);
      if (l === r) {
        if (l !== undefined || b !== undefined) steps.push({ do: 'same', path: p });
        continue;
      }
      const push = this.mode !== 'download-only';
      const pull = this.mode !== 'upload-only';
      if (l === b) {
        // Only the relay changed.
        if (!pull) continue;
        if (R === undefined) steps.push({ do: L!.kind === 'folder' ? 'rmdir-local' : 'remove-local', path: p });
        else if (R.kind === 'folder') steps.push({ do: 'mkdir-local', path: p });
        else if (L?.kind === 'file' && L.contentHash === R.contentHash) steps.push({ do: 'mode-local', path: p, remote: R });
        else steps.push({ do: 'download', path: p, remote: R, expect: B });
      } else if (r === b) {
        // Only this device changed.
        if (!push) continue;
        if (L === undefined) steps.push({ do: 'trash', path: p });
        else if (L.kind === 'folder') steps.push({ do: 'mkdir-remote', path: p });
        else steps.push({ do: 'upload', path: p, base: B?.kind === 'file' ? B.contentHash! : '' });
      } else {
        // Both changed, differently.
        if (L?.kind === 'file' && (R === undefined || R.kind === 'file')) {
          if (push) steps.push({ do: 'upload', path: p, base: B?.kind === 'file' ? B.contentHash! : '' });
        } else if (L === undefined && R?.kind === 'file') {
          // Deleted here, edited there: the edit wins (nothing here to keep).
          if (pull) steps.push({ do: 'download', path: p, remote: R, expect: undefined });
        } else if (L?.kind === 'folder' && R === undefined) {
          if (push) steps.push({ do: 'mkdir-remote', path: p });
        } else if (L === undefined && R?.kind === 'folder') {
          if (pull) steps.push({ do: 'mkdir-local', path: p });
        } else {
          this.skip(p, 'a file on one side and a folder on the other; rename one of them');
        }
      }
    }

    // Moves: a delete and an addition of the same content are one rename.
    const moves: { from: string; to: string; where: 'remote' | 'local'; then?: 'upload' }[] = [];
    const byContent = (kind: Step['do'], content: (path: string) => string | undefined) => {
      const m = new Map<string, Step>();
      for (const s of steps) if (s.do === kind) {
        const c = content(s.path);
        if (c) m.set(c, s);
      }
      return m;
    };
    const baseContent = (p: string) => (base.get(p)?.kind === 'file' ? base.get(p)!.contentHash : undefined);
    const localDeletes = byContent('trash', baseContent);
    // The same file (its identity on the file system) renamed and changed: moved first,
    // then its new content sent as its next version, so its history and links follow.
    const localDeletesById = byContent('trash', (p) => (base.get(p)?.kind === 'file' ? base.get(p)!.id : undefined));
    for (const s of steps) {
      if (s.do !== 'upload' || s.base !== '' || there.has(s.path)) continue;
      const L = here.get(s.path) as HereFile;
      const gone = localDeletes.get(L.contentHash);
      if (gone) {
        localDeletes.delete(L.contentHash);
        moves.push({ from: gone.path, to: s.path, where: 'remote' });
        continue;
      }
      const same = L.id !== undefined ? localDeletesById.get(L.id) : undefined;
      const was = same && base.get(same.path);
      if (!same || !was || !localDeletes.has(was.contentHash!) || localDeletes.get(was.contentHash!) !== same) continue;
      localDeletes.delete(was.contentHash!);
      localDeletesById.delete(L.id!);
      moves.push({ from: same.path, to: s.path, where: 'remote', then: 'upload' });
      s.base = was.contentHash!;
    }
    const remoteDeletes = byContent('remove-local', baseContent);
    for (const s of steps) {
      if (s.do !== 'download' || here.has(s.path)) continue;
      const gone = remoteDeletes.get(s.remote.contentHash);
      if (!gone) continue;
      remoteDeletes.delete(s.remote.contentHash);
      moves.push({ from: gone.path, to: s.path, where: 'local' });
    }
    const moved = new Set(moves.flatMap((m) => (m.then ? [m.from] : [m.from, m.to])));
    const todo = steps.filter((s) => !moved.has(s.path));

    // The mass-delete breaker, against everything the base holds.
    const trashes = todo.filter((s) => s.do === 'trash' && base.get(s.path)?.kind === 'file');
    const goneBytes = trashes.reduce((n, s) => n + (base.get(s.path)?.size ?? 0), 0);
    const share = this.opts.maxDeleteShare ?? 0.5;
    if (trashes.length >= (this.opts.minDeletes ?? 5) && (trashes.length > share * totals.files || goneBytes > share * totals.bytes)) {
      if ((await state.value(ALLOW_DELETES)) !== '1') {
        return pause(`${trashes.length} of ${totals.files} files (${goneBytes} of ${totals.bytes} bytes) are gone from ${local.name}; deleting them on the relay waits until you confirm with: ferry sync resume`);
      }
    }
    if (trashes.length > 0) await state.setValue(ALLOW_DELETES, undefined);

    const transfers = todo.filter((s) => s.do === 'upload' || s.do === 'download');
    this.status.files = transfers.length;
    this.status.bytes = transfers.reduce((n, s) => n + (s.do === 'download' ? s.remote.size : (here.get(s.path) as LocalFile).size), 0);
    this.status.doneBytes = 0;
    this.status.transfersSince = now();
    this.doneBefore = 0;
    this.running.clear();

    const putBase = async (e: BaseEntry) => {
      base.set(e.path, e);
      await state.put(e);
    };
    const dropBase = async (p: string) => {
      if (!base.delete(p)) return;
      await state.delete(p);
    };
    const fileBase = (L: HereFile): BaseEntry => ({ path: L.path, kind: 'file', contentHash: L.contentHash, size: L.size, mtime: L.mtime, id: L.id, ...(L.executable ? { executable: true } : {}), chunks: L.chunks });
    /** The base already says this (a round over everything writes only what moved on). */
    const sameAsBase = (e: BaseEntry) => {
      const b = base.get(e.path);
      return !!b && e.chunks === undefined && b.kind === e.kind && b.contentHash === e.contentHash && b.size === e.size && b.mtime === e.mtime && b.id === e.id && !!b.executable === !!e.executable && b.version === e.version;
    };

    // Folders first, shallow before deep.
    for (const s of todo.filter((s) => s.do === 'mkdir-local' || s.do === 'mkdir-remote').sort((a, b) => depth(a.path) - depth(b.path))) {
      try {
        if (s.do === 'mkdir-local') await local.mkdir(s.path);
        else await this.opts.client.request('mkdir', { space: this.opts.space, path: await this.remotePath(s.path) });
      } catch (err) {
        // A name the relay (or an encrypted folder's 160 bytes) refuses: reported, left here, the round goes on.
        const code = (err as FerryError).code;
        if (code !== 'BAD_PATH' && code !== 'PATH_CONFLICT' && code !== 'E2E_REQUIRED') throw err;
        this.skip(s.path, (err as Error).message);
        continue;
      }
      await putBase({ path: s.path, kind: 'folder' });
    }
    for (const m of moves) {
      if (m.where === 'remote') {
        const L = effective(m.to) as HereFile;
        try {
          const from = await this.remotePath(m.from);
          const to = await this.remotePath(m.to);
          if (this.opts.sealing) await this.opts.sealing.move(this.opts.client, this.opts.space, from, to);
          else await this.opts.client.request('move', { space: this.opts.space, path: from, toSpace: this.opts.space, to });
        } catch (err) {
          this.log(`move ${m.from} → ${m.to} on the relay failed (${(err as FerryError).code}); next round sends it as a new file`);
          this.retry.add(m.to);
          this.retry.add(m.from);
          // Its new content then goes as a new file (nothing to base it on at the new path).
          for (const s of todo) if (s.do === 'upload' && s.path === m.to) s.base = '';
          continue;
        }
        this.ownMoves.add(`${m.from}\n${m.to}`);
        const was = base.get(m.from)!;
        await dropBase(m.from);
        // Moved and changed: the base at the new path is the old content until it is sent.
        await putBase(m.then ? { ...was, path: m.to } : { ...fileBase(L), ...(was.version !== undefined ? { version: was.version } : {}) });
      } else {
        const before = await local.stat(m.from);
        const b = base.get(m.from)!;
        if (!before || before.kind !== 'file' || before.size !== b.size || before.mtime !== b.mtime) {
          this.retry.add(m.to);
          continue;
        }
        await local.mkdir(parentOf(m.to));
        await local.rename(m.from, m.to);
        const after = (await local.stat(m.to)) as LocalFile;
        const chunks = await state.chunksOf(m.from);
        await dropBase(m.from);
        await putBase({ ...b, path: m.to, size: after.size, mtime: after.mtime, id: after.id, chunks });
      }
      report.moved++;
      this.log(`moved ${m.from} → ${m.to}${m.where === 'local' ? ' here' : ' on the relay'}`);
    }

    // Transfers: small files several at once (each is a few round trips), files of more
    // than one chunk one at a time beside them (each already keeps a window of chunks in
    // flight, and memory stays bounded).
    const step = async (s: Step) => {
      try {
        if (s.do === 'same') {
          this.pendingDownloads.delete(s.path);
          const L = effective(s.path);
          const R = there.get(s.path);
          if (L === undefined) await dropBase(s.path);
          else {
            const e: BaseEntry = L.kind === 'folder' ? { path: s.path, kind: 'folder' } : { ...fileBase(L), ...(R?.kind === 'file' ? { version: R.version } : {}) };
            if (!sameAsBase(e)) await putBase(e);
          }
        } else if (s.do === 'upload') {
          await this.upload(s.path, s.base, effective(s.path) as HereFile, there, report, putBase);
        } else if (s.do === 'download') {
          this.pendingDownloads.add(s.path);
          await this.download(s.path, s.remote, s.expect, { reuse, locate }, report, putBase);
          this.pendingDownloads.delete(s.path);
        } else if (s.do === 'mode-local') {
          const L = here.get(s.path) as HereFile;
          if (local.setExecutable) await local.setExecutable(s.path, !!s.remote.executable);
          const now = (await local.stat(s.path)) as LocalFile;
          await putBase({ ...fileBase(L), mtime: now.mtime, executable: !!s.remote.executable, version: s.remote.version });
          this.log(`${s.path} is ${s.remote.executable ? '' : 'no longer '}executable`);
        }
      } catch (err) {
        const code = (err as FerryError).code;
        if (code === 'CONNECTION_LOST' || code === 'SESSION_EXPIRED' || code === 'AUTH_REQUIRED') throw err;
        if (code === 'BAD_PATH' || code === 'PATH_CONFLICT' || code === 'IS_FOLDER') this.skip(s.path, (err as Error).message);
        else {
          this.retry.add(s.path);
          this.log(`${s.path}: ${code ?? 'ERROR'}: ${(err as Error).message} (tried again next round)`);
        }
      }
    };
    const sizeOf = (s: Step) => (s.do === 'download' ? s.remote.size : s.do === 'upload' ? (here.get(s.path) as LocalFile).size : 0);
    const big = todo.filter((s) => (s.do === 'upload' || s.do === 'download') && sizeOf(s) > CHUNK_SIZE);
    const bigSet = new Set(big);
    // Paths already in sync whose base says so need nothing at all (most of a round over everything).
    const settled = (s: Step) => {
      if (s.do !== 'same' || this.pendingDownloads.has(s.path)) return false;
      const L = effective(s.path);
      const R = there.get(s.path);
      if (L === undefined) return !base.has(s.path);
      return sameAsBase(L.kind === 'folder' ? { path: s.path, kind: 'folder' } : { ...fileBase(L), ...(R?.kind === 'file' ? { version: R.version } : {}) });
    };
    const small = todo.filter((s) => !bigSet.has(s) && (s.do === 'upload' || s.do === 'download' || s.do === 'mode-local' || (s.do === 'same' && !settled(s))));
    let fatal: unknown;
    const drain = async (queue: Step[]) => {
      while (queue.length > 0 && fatal === undefined) {
        try {
          await step(queue.shift()!);
        } catch (err) {
          fatal ??= err;
        }
      }
    };
    await Promise.all([drain(big), ...Array.from({ length: TRANSFERS_AT_ONCE }, () => drain(small))]);
    if (fatal !== undefined) throw fatal;

    // Deletes last: files, then folders deepest first.
    for (const s of todo.filter((s) => s.do === 'trash' || s.do === 'remove-local')) {
      const b = base.get(s.path);
      if (s.do === 'trash') {
        if (b?.kind === 'folder') continue;
        try {
          await this.opts.client.request('trash', { space: this.opts.space, path: await this.remotePath(s.path) });
        } catch (err) {
          if ((err as FerryError).code !== 'NOT_FOUND') throw err;
        }
      } else {
        // Only if it is still what was synced: a change since is kept (and sent next round).
        const now = await local.stat(s.path);
        if (now && (now.kind !== 'file' || now.size !== b?.size || now.mtime !== b?.mtime)) {
          this.retry.add(s.path);
          continue;
        }
        if (now) await local.remove(s.path);
      }
      await dropBase(s.path);
      report.deleted++;
      this.log(`deleted ${s.path}${s.do === 'trash' ? ' on the relay (in its trash)' : ' here'}`);
    }
    const folders = todo.filter((s) => s.do === 'rmdir-local' || (s.do === 'trash' && base.get(s.path)?.kind === 'folder')).sort((a, b) => depth(b.path) - depth(a.path));
    for (const s of folders) {
      if (s.do === 'rmdir-local') {
        if (!(await local.rmdir(s.path))) continue;
      } else {
        const under = [...there.keys()].some((p) => p.startsWith(`${s.path}/`) && base.has(p));
        if (under) continue;
        await this.opts.client.request('trash', { space: this.opts.space, path: await this.remotePath(s.path) }).catch((err) => {
          if ((err as FerryError).code !== 'NOT_FOUND') throw err;
        });
      }
      await dropBase(s.path);
    }

    // A part file left by a download that was killed is resumed by the next download of
    // the same file; once that file is in sync (or gone) nothing needs it.
    await local.dropParts((p) => this.pendingDownloads.has(p));
    return undefined;
  }

  private caseFolds: boolean | undefined;

  /** Relay paths this device cannot hold (see SyncOptions.names), each reported once. */
  private async unholdable(here: Map<string, unknown>, there: Map<string, RemoteEntry>, base: Map<string, BaseEntry>): Promise<Set<string>> {
    const names = this.opts.names ?? 'posix';
    this.caseFolds ??= names !== 'posix' || ((await this.opts.local.caseInsensitive?.()) ?? false);
    const out = new Set<string>();
    if (names !== 'posix') {
      for (const p of there.keys()) {
        if (here.has(p) || base.has(p)) continue;
        for (const seg of p.split('/')) {
          const problems = portabilityProblems(seg)[names];
          if (problems.length) {
            out.add(p);
            this.skip(p, `${names === 'windows' ? 'Windows' : 'macOS'} cannot hold this name (${problems.join('; ')}); it stays on the relay`);
            break;
          }
        }
      }
    }
    if (this.caseFolds) {
      // One name per folded spelling: what is here or was synced wins, then the first in order.
      const fold = foldCase;
      const taken = new Map<string, string>();
      for (const p of [...here.keys(), ...base.keys()]) taken.set(fold(p), p);
      for (const p of [...there.keys()].sort(compareCodePoints)) {
        if (out.has(p)) continue;
        // A twin synced before, outside what this round looks at.
        if (!here.has(p) && !base.has(p) && !taken.has(fold(p))) {
          const twin = await this.opts.state.caseTwin(p);
          if (twin !== undefined) taken.set(fold(p), twin);
        }
        const owner = taken.get(fold(p));
        if (owner === undefined) taken.set(fold(p), p);
        else if (owner !== p) {
          out.add(p);
          this.skip(p, `differs from ${owner} only in letter case, and this folder holds one of them; it stays on the relay`);
        }
      }
    }
    return out;
  }

  private progress(path: string, done: number): void {
    this.running.set(path, done);
    this.recount();
  }

  private finished(path: string, size: number): void {
    this.running.delete(path);
    this.doneBefore += size;
    this.recount();
  }

  private recount(): void {
    let n = this.doneBefore;
    for (const d of this.running.values()) n += d;
    this.status.doneBytes = n;
  }

  private skip(path: string, why: string): void {
    if (!this.status.skipped.some((s) => s.path === path)) this.status.skipped.push({ path, why });
    this.log(`skipped ${path}: ${why}`);
  }

  private async upload(
    path: string,
    base: string,
    L: HereFile,
    there: Map<string, RemoteEntry>,
    report: RoundReport,
    putBase: (e: BaseEntry) => Promise<void>,
  ): Promise<void> {
    const { client, local } = this.opts;
    const source = await local.openSource(path);
    let result;
    try {
      result = await uploadFile(client, source, {
        space: this.opts.space,
        path: await this.remotePath(path),
        chunks: L.chunks,
        base,
        device: this.opts.device,
        executable: !!L.executable,
        onProgress: (p) => this.progress(path, p.done),
        ...(this.opts.sealing ? { seal: (ch: string) => this.opts.sealing!.facts(path, L, ch, (there.get(path) as RemoteFile | undefined)?.sealed) } : {}),
      });
    } finally {
      await source.close();
    }
    report.sentBytes += result.stats.sentBytes;
    this.finished(path, L.size);
    if (result.contentHash !== L.contentHash) throw new FerryError('LOCAL_CHANGED', `${path} changed while it was sent; sent again next round.`);
    const entry: BaseEntry = { path, kind: 'file', contentHash: L.contentHash, size: L.size, mtime: L.mtime, id: L.id, ...(L.executable ? { executable: true } : {}), version: result.version, chunks: result.chunks };
    if (result.conflict === 'copy') {
      // This device's content is at the conflict copy on the relay: keep it under that name
      // here too, and let the relay's file come to the path.
      const copy = await this.pairPath(result.path);
      await local.rename(path, copy);
      const moved = (await local.stat(copy)) as LocalFile;
      await putBase({ ...entry, path: copy, size: moved.size, mtime: moved.mtime, id: moved.id });
      this.status.conflicts.push(copy);
      report.conflicts++;
      this.log(`conflict: ${path} changed here and on the relay; this device's version is now ${copy}`);
      const R = there.get(path);
      if (R?.kind === 'file') await this.download(path, R, undefined, NOTHING_HERE, report, putBase);
      return;
    }
    if (result.conflict === 'history' && this.opts.sealing) {
      // An encrypted folder: the relay cannot name a copy, so this device makes one (its
      // content is in the file's history already, and is sent again under the copy's name).
      const at = new Date((this.opts.now ?? Date.now)());
      let n = 1;
      while (there.has(conflictPath(path, this.opts.device, at, n)) || (await local.stat(conflictPath(path, this.opts.device, at, n)))) n++;
      const copy = conflictPath(path, this.opts.device, at, n);
      await local.rename(path, copy);
      const moved = (await local.stat(copy)) as LocalFile;
      this.status.conflicts.push(copy);
      report.conflicts++;
      this.log(`conflict: ${path} changed here and on the relay; this device's version is now ${copy}`);
      await this.upload(copy, '', { ...L, path: copy, size: moved.size, mtime: moved.mtime, id: moved.id }, there, report, putBase);
      const R = there.get(path);
      if (R?.kind === 'file') await this.download(path, R, undefined, NOTHING_HERE, report, putBase);
      return;
    }
    if (result.conflict === 'history') {
      report.conflicts++;
      this.log(`conflict: ${path} changed here and on the relay; this device's version is kept as version ${result.conflictVersion} in its history`);
      const R = there.get(path);
      // Replaced by the relay's (the local content is in the history).
      if (R?.kind === 'file') await this.download(path, R, entry, NOTHING_HERE, report, putBase);
      return;
    }
    if (result.conflict === 'revived') {
      report.conflicts++;
      this.status.conflicts.push(path);
      this.log(`conflict: ${path} was deleted on the relay and changed here; it is back on the relay`);
    }
    report.uploaded++;
    await putBase(entry);
    this.log(`sent ${path} (${result.stats.sentBytes} bytes of ${L.size})`);
  }

  private async download(
    path: string,
    R: RemoteFile,
    expect: BaseEntry | undefined,
    have: Have,
    report: RoundReport,
    putBase: (e: BaseEntry) => Promise<void>,
  ): Promise<void> {
    const { client, local } = this.opts;
    await local.mkdir(parentOf(path));
    const sink = local.sink(path, {
      ...have,
      beforeReplace: async () => {
        // The file here must still be what the base says (or absent): else it changed
        // since this round looked, and that change is not overwritten.
        const now = await local.stat(path);
        const same = expect?.kind === 'file' ? now?.kind === 'file' && now.size === expect.size && now.mtime === expect.mtime : now === undefined;
        if (!same) throw new FerryError('LOCAL_CHANGED', `${path} changed here while the relay's version came; both are compared again next round.`);
      },
    });
    const { meta, stats } = await downloadFile(client, sink, { space: this.opts.space, path: await this.remotePath(path), onProgress: (p) => this.progress(path, p.done) });
    this.finished(path, R.size);
    report.fetchedBytes += stats.fetchedBytes;
    report.downloaded++;
    const now = (await local.stat(path)) as LocalFile;
    await putBase({ path, kind: 'file', contentHash: meta.contentHash, size: now.size, mtime: now.mtime, id: now.id, ...(meta.executable ? { executable: true } : {}), version: meta.version, chunks: meta.chunks });
    this.log(`fetched ${path} (${stats.fetchedBytes} bytes of ${R.size})`);
  }
}

function* parents(path: string): Generator<string> {
  for (let p = parentOf(path); p !== ''; p = parentOf(p)) yield p;
}
