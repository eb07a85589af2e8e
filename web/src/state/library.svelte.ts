/** The library view: the spaces, the open space and folder, its entries, a file's history, the trash. */
import { media } from './media.svelte';
import { newId } from '../lib/ids';
import { baseName, displayName, parentOf } from '../../../relay/protocol/paths';
import { plainSize } from '../../../relay/crypto/format';
import { inlineType, previewOf } from '../../../relay/protocol/media-types';
import { FerryError, type ReplyBody, type SpaceInfo, type TrashInfo } from '../../../relay/protocol';
import { describe, engine, errorCode, onEngineEvent, request } from '../net/engine';
import { clientLog } from './log.svelte';
import { downloadedFile, dropDownload, forgetDownload, listDownloads, removeOrphanDownloads, saveDownload, type DownloadCheckpoint } from '../storage/db';
import { ADMIN_PATH, findSpace, parseRoute, routePath, spaceKey } from '../lib/routes';
import { kindOf, sortEntries, type Kind, type SortKey } from '../lib/sorting';
import { SpeedMeter } from '../lib/speed';

export type SearchHit = ReplyBody<'search'>['hits'][number];

/** An entry as shown: in an encrypted folder its name is opened and its size is the plaintext's (`sealed`). */
export type Entry = ReplyBody<'list'>['entries'][number] & { sealed?: boolean };
export type Version = ReplyBody<'history'>['versions'][number];

/** How long a refresh waits to gather what else changes meanwhile. */
const REFRESH_AFTER_MS = 200;

class Library {
  /** My files first, then the shared folders I am in. */
  spaces = $state<SpaceInfo[]>([]);
  /** The open space (undefined until the spaces are known: My files). */
  space = $state<number | undefined>();
  /** What the main view shows of the open space. */
  view = $state<'files' | 'trash'>('files');
  trashItems = $state<TrashInfo[]>([]);
  purgeAfterDays = $state(0);
  /** The last thing moved to the trash, for Undo. */
  lastTrashed = $state<{ space: number; item: number; path: string } | undefined>();
  folder = $state('');
  entries = $state<Entry[]>([]);
  /** How the folder is ordered and which kinds it shows. */
  sort = $state<SortKey>('name');
  descending = $state(false);
  kind = $state<Kind | 'all'>('all');
  /** Search across every space I can see, as I type. */
  query = $state('');
  hits = $state<SearchHit[] | undefined>();
  hitsTruncated = $state(false);
  private searchSeq = 0;
  /** The first view was opened from the address: until then nothing may replace the address. */
  private routed = false;
  loading = $state(false);
  error = $state('');
  /** The relay could not be reached when the folder was last asked for. */
  offline = $state(false);
  history = $state<{ path: string; versions: Version[] } | undefined>();
  /** Downloads to this device, newest first, for the Transfers panel. */
  downloads = $state<DeviceDownload[]>([]);
  message = $state('');
  /** Rows or a grid of thumbnails, kept on this device. */
  layout = $state<'list' | 'grid'>(typeof localStorage !== 'undefined' && localStorage.getItem('ferry.layout') === 'grid' ? 'grid' : 'list');
  /** The file open in the viewer. */
  viewing = $state<Entry | undefined>();
  /** The open folder is (in) an end-to-end encrypted folder: that folder's path and id. */
  encrypted = $state<{ root: string; id: string } | undefined>();
  /** …and this browser's keys are locked, so its names cannot be shown. */
  locked = $state(false);
  /** Opened names of encrypted folders, by their sealed form (for the path above the list). */
  private openedNames = new Map<string, string>();

  private refreshTimer?: ReturnType<typeof setTimeout>;
  /** Counts `open` calls: only the latest one's answer is shown. */
  private openSeq = 0;
  /** The folder the latest `open` is loading (before its answer makes it `folder`). */
  private wanted?: string;

  constructor() {
    // Back and Forward move between the folders and views opened before.
    if (typeof window !== 'undefined') window.addEventListener('popstate', () => void this.openRoute(location.pathname, false));
    // The relay tells every client what changed: refresh what is on screen.
    onEngineEvent((e) => {
      if (e.type === 'spaces.v1') return void this.loadSpaces().then(() => this.refresh());
      if (e.type !== 'library.v1') return;
      if (e.event.space !== this.space && e.event.fromSpace !== this.space) return;
      if (this.view === 'trash') return void this.openTrash(false);
      const { path } = e.event;
      const inView = this.folder === '' || path === this.folder || path.startsWith(`${this.folder}/`);
      if (inView) this.refreshSoon();
      if (this.history?.path === path) void this.showHistory(path).catch(() => {});
    });
  }

  /** The open folder's entries in the chosen order, of the chosen kind (sorted once per change, not per read). */
  shown = $derived.by(() => {
    const kept = this.kind === 'all' ? this.entries : this.entries.filter((e) => kindOf(e) === this.kind);
    return sortEntries(kept, this.sort, this.descending);
  });

  /** Names containing `text` in every space I can see; a newer query wins over an older answer. */
  async search(text: string): Promise<void> {
    this.query = text;
    const seq = ++this.searchSeq;
    if (!text.trim()) {
      this.hits = undefined;
      return;
    }
    try {
      const r = await request('search', { text: text.trim() });
      if (seq !== this.searchSeq) return;
      this.hits = r.hits;
      this.hitsTruncated = r.truncated;
    } catch (err) {
      if (seq === this.searchSeq) this.error = describe(err);
    }
  }

  /** Opens where a search hit is: its folder (a file's parent) in its space. */
  async openHit(hit: SearchHit): Promise<void> {
    this.query = '';
    this.hits = undefined;
    this.space = hit.space;
    await this.open(hit.kind === 'folder' ? hit.path : parentOf(hit.path));
  }

  /** Opens the view an address names (after sign-in, on Back/Forward); anything else opens My files. */
  async openRoute(pathname: string, push: boolean): Promise<void> {
    // Administration is the app's own view: the library stays as it is, its address untouched.
    if (pathname === ADMIN_PATH) {
      this.routed = true;
      if (!this.entries.length) await this.open(this.folder, { push: false, address: false });
      return;
    }
    const route = parseRoute(pathname);
    // The address decides whether a file is open (a file's address opens it again).
    this.viewing = undefined;
    this.showSealed(undefined);
    const space = route && findSpace(this.spaces, route.space);
    if (space) this.space = space.id;
    else if (route) this.space = this.spaces[0]?.id;
    if (route?.view === 'trash' && space) return this.openTrash(push);
    this.routed = true;
    await this.open(space ? route!.folder : route ? '' : this.folder, { push });
    // An address that is not a view (the start page) becomes the view's own.
    // Unless the person went elsewhere (Administration) while the folder loaded.
    if (!route && location.pathname === pathname) history.replaceState(null, '', this.path());
  }

  /** After a reconnect: my spaces and what is shown may have changed meanwhile. */
  async reconnected(): Promise<void> {
    if (!this.routed) return;
    await this.loadSpaces();
    await this.refresh();
  }

  /** The address of what is shown: the trash, the file in the viewer, or the folder. */
  path(): string {
    const where = this.view === 'trash' ? '' : (this.viewing?.path ?? this.folder);
    return routePath({ space: spaceKey(this.current), view: this.view, folder: where });
  }

  private remember(push: boolean): void {
    if (typeof history === 'undefined' || !this.routed) return;
    const url = this.path();
    if (url === location.pathname) return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }

  /** The open space as its member sees it. */
  get current(): SpaceInfo | undefined {
    return this.spaces.find((s) => s.id === this.space);
  }

  /** I may change things here (upload, rename, move, trash). */
  get canEdit(): boolean {
    return this.current?.access !== 'view';
  }

  /** Spaces I may move things into. */
  get editable(): SpaceInfo[] {
    return this.spaces.filter((s) => s.access === 'edit');
  }

  /** Loads my spaces; keeps the open one when I can still see it, else opens My files. */
  async loadSpaces(): Promise<void> {
    try {
      this.spaces = (await request('spaces', {})).spaces;
      if (!this.spaces.some((s) => s.id === this.space)) {
        this.space = this.spaces[0]?.id;
        this.folder = '';
      }
    } catch (err) {
      if (errorCode(err) === 'CONNECTION_LOST') this.offline = true;
      else this.error = describe(err);
    }
  }

  /** Opens a space at its top folder. */
  async openSpace(space: number): Promise<void> {
    this.message = '';
    this.lastTrashed = undefined;
    this.space = space;
    this.view = 'files';
    this.history = undefined;
    await this.open('', { push: true });
  }

  get crumbs(): { name: string; path: string }[] {
    const parts = this.folder ? this.folder.split('/') : [];
    return parts.map((name, i) => ({ name: this.openedNames.get(name) ?? (name.startsWith('e1.') ? '(encrypted)' : name), path: parts.slice(0, i + 1).join('/') }));
  }

  /**
   * An encrypted folder's listing as a person reads it: names opened (by the engine, which
   * holds the keys), sizes of the plaintext. Throws E2E_LOCKED while the keys are locked.
   */
  private async opened(folder: string, entries: Entry[], root: string): Promise<Entry[]> {
    // The folder's own names below the encrypted folder too, for the path above the list.
    const own = folder === root ? [] : folder.slice(root.length + 1).split('/');
    const names = await engine.e2eOpenNames(this.space, folder, [...own, ...entries.map((e) => e.name)]);
    own.forEach((s, i) => names[i] !== null && this.openedNames.set(s, names[i]!));
    return entries.map((e, i) => {
      const name = names[own.length + i];
      if (name !== null) this.openedNames.set(e.name, name);
      return { ...e, name: name ?? '(a name that does not open)', ...(e.kind === 'file' && e.size !== undefined ? { size: plainSize(e.size) } : {}), sealed: true };
    });
  }

  /** A name typed here as the relay stores it in `folder` (sealed in an encrypted folder). */
  private async stored(folder: string, name: string): Promise<string> {
    return this.encrypted && (folder === this.encrypted.root || folder.startsWith(`${this.encrypted.root}/`)) ? engine.e2eSealPath(this.space, folder, name) : name;
  }

  /** Lists a folder of the open space; `push` makes it a step Back returns from (a refresh is not). */
  async open(folder: string, opts: { push?: boolean; address?: boolean } = {}): Promise<void> {
    this.loading = true;
    this.error = '';
    this.view = 'files';
    // A refresh of the old folder answered after a click on another must not win over it.
    const seq = ++this.openSeq;
    this.wanted = folder;
    try {
      const r = await request('list', { space: this.space, folder });
      if (seq !== this.openSeq) return;
      // A file's address (a link to it, a reload while it was open): its folder, with the file in the viewer.
      const file = r.entries.length === 1 && r.entries[0].kind === 'file' && r.entries[0].path === r.folder ? r.entries[0] : undefined;
      if (file) {
        await this.open(parentOf(file.path), { ...opts, address: false });
        // In an encrypted folder, the entry as listed there (its name opened).
        this.viewing = this.entries.find((e) => e.path === file.path) ?? file;
        this.showSealed(this.viewing);
        if (opts.address !== false) this.remember(opts.push ?? true);
        return;
      }
      let entries: Entry[] = r.entries;
      let locked = false;
      if (r.encrypted) {
        try {
          entries = await this.opened(r.folder, r.entries, r.encrypted.root);
        } catch (err) {
          if (errorCode(err) !== 'E2E_LOCKED' && errorCode(err) !== 'E2E_UNAVAILABLE') throw err;
          locked = true;
          entries = [];
        }
        if (seq !== this.openSeq) return;
      }
      this.encrypted = r.encrypted;
      this.locked = locked;
      this.folder = r.folder;
      this.entries = entries;
      this.offline = false;
      if (this.viewing && parentOf(this.viewing.path) !== r.folder) {
        this.viewing = undefined;
        this.showSealed(undefined);
      }
      if (opts.address !== false) this.remember(opts.push ?? true);
    } catch (err) {
      if (seq !== this.openSeq) return;
      this.wanted = undefined;
      // Not reaching the relay is a state, not an error: say so, keep what was shown.
      if (errorCode(err) === 'CONNECTION_LOST') this.offline = true;
      else if (errorCode(err) === 'NOT_FOUND' && folder !== '') return this.open(parentOf(folder), { push: false });
      else this.error = describe(err);
    } finally {
      if (seq === this.openSeq) this.loading = false;
    }
  }

  /**
   * Refreshes what is on screen shortly, once for everything that happened meanwhile
   * (a thousand small uploads finishing would otherwise list the folder a thousand times).
   */
  refreshSoon(): void {
    // (REFRESH_AFTER_MS: soon enough to look immediate, late enough to gather a burst.)
    if (this.refreshTimer) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      void this.refresh();
    }, REFRESH_AFTER_MS);
  }

  refresh(): Promise<void> {
    return this.view === 'trash' ? this.openTrash(false) : this.open(this.wanted ?? this.folder, { push: false });
  }

  /** Shows the open space's trash. */
  async openTrash(push = true): Promise<void> {
    if (this.view !== 'trash') this.message = '';
    this.view = 'trash';
    this.error = '';
    // A folder still loading does not replace the trash when it answers.
    this.openSeq++;
    this.loading = false;
    this.remember(push);
    try {
      const r = await request('trash.list', { space: this.space });
      this.trashItems = r.items;
      this.purgeAfterDays = r.purgeAfterDays;
    } catch (err) {
      this.error = describe(err);
    }
  }

  /** Makes a folder in the open folder (`encrypted`: a new end-to-end encrypted one). */
  async makeFolder(name: string, encrypted = false): Promise<boolean> {
    return this.act(async () => {
      const path = this.folder ? `${this.folder}/${await this.stored(this.folder, name)}` : name;
      if (encrypted) await engine.e2eMkdir(this.space, path);
      else await request('mkdir', { space: this.space, path });
      this.message = `Made the ${encrypted ? 'end-to-end encrypted ' : ''}folder ${displayName(name)}.`;
      clientLog.add('info', `made ${encrypted ? 'encrypted ' : ''}folder ${encrypted ? path : name}`);
      await this.refresh();
    });
  }

  /** The open folder as a person reads it (names below an encrypted folder opened). */
  get plainFolder(): string {
    return this.crumbs.map((c) => c.name).join('/');
  }

  /**
   * Renames or moves items of an encrypted folder to `plainFolder` (typed as a person reads
   * it: names opened), each keeping its name, or a single one under `name`. The target must
   * be in the same encrypted folder: the relay moves sealed entries as they are, and going
   * out of (or into) one would mean sealing everything again.
   */
  async moveSealed(paths: string[], plainFolder: string, name?: string): Promise<boolean> {
    return this.act(async () => {
      const root = this.encrypted?.root;
      const clean = plainFolder.trim().replace(/^\/+|\/+$/g, '');
      if (root === undefined || (clean !== root && !clean.startsWith(`${root}/`))) {
        throw new FerryError('E2E_NOT_ALLOWED', `Items of this encrypted folder move only within it (${displayName(root ?? '')}): going out of it would need sealing them again — download them and upload them where they go.`);
      }
      const folder = clean === root ? root : `${root}/${await engine.e2eSealPath(this.space, root, clean.slice(root.length + 1))}`;
      let moved = 0;
      try {
        for (const path of paths) {
          const sealedName = name !== undefined ? await engine.e2eSealPath(this.space, folder, name.trim()) : baseName(path);
          const to = `${folder}/${sealedName}`;
          if (to !== path) await engine.e2eMove(this.space, path, to);
          if (this.history?.path === path) this.history = undefined;
          moved++;
        }
      } finally {
        if (moved) this.message = name !== undefined && parentOf(paths[0]) === folder ? `Renamed it to ${displayName(name)}.` : `Moved ${moved === 1 && paths.length === 1 ? 'it' : `${moved} of ${paths.length}`} to ${displayName(clean)}.`;
        clientLog.add('info', `moved ${moved} of ${paths.length} items in an encrypted folder`);
        await this.refresh();
      }
    });
  }

  /** Renames or moves a file or folder (to another space with `toSpace`). */
  async move(path: string, to: string, toSpace = this.space): Promise<boolean> {
    return this.act(async () => {
      const r = await request('move', { space: this.space, path, toSpace, to });
      const where = toSpace === this.space ? '' : ` in ${this.spaceName(toSpace)}`;
      this.message = `Moved ${displayName(path)} to ${displayName(r.path)}${where}.`;
      clientLog.add('info', `moved ${path} to ${r.path}${where}`);
      if (this.history?.path === path) this.history = undefined;
      await this.refresh();
    });
  }

  /** Moves a file or folder to the trash (Undo puts it back). */
  async trash(path: string): Promise<boolean> {
    return this.act(async () => {
      const r = await request('trash', { space: this.space, path });
      this.lastTrashed = { space: r.space, item: r.trashed.item, path };
      this.message = `Moved ${displayName(path)} to the trash.`;
      clientLog.add('info', `trashed ${path}`, { files: r.trashed.files });
      if (this.history?.path === path) this.history = undefined;
      await this.refresh();
    });
  }

  /** Settles a conflict copy: keep it, keep the file it stands beside, or both. */
  async resolve(path: string, keep: 'original' | 'copy' | 'both'): Promise<boolean> {
    return this.act(async () => {
      const r = await request('conflict.resolve', { space: this.space, path, keep });
      this.message = keep === 'both' ? `Kept both: ${r.kept.map((p) => displayName(p)).join(' and ')}.` : `Kept ${displayName(r.kept[0] ?? path)}; the other version is in the trash.`;
      clientLog.add('info', `conflict resolved: ${path}`, { keep });
      await this.refresh();
    });
  }

  /** Puts a trash item back (the last trashed one with no argument: Undo). */
  async untrash(item = this.lastTrashed?.item): Promise<boolean> {
    if (item === undefined) return false;
    return this.act(async () => {
      const r = await request('trash.restore', { space: this.space, item });
      this.message = `Restored ${displayName(r.path)}.`;
      clientLog.add('info', `restored ${r.path} from the trash`);
      if (this.lastTrashed?.item === item) this.lastTrashed = undefined;
      await this.refresh();
    });
  }

  /** Deletes one trash item, or the whole trash, for good (admins). Asks first. */
  async purge(item?: TrashInfo): Promise<boolean> {
    const what = item ? `${displayName(item.path)}${item.kind === 'folder' ? ` and the ${item.files} file(s) in it` : ''}` : 'everything in this trash';
    if (!confirm(`Delete ${what} for good? This cannot be undone.`)) return false;
    return this.act(async () => {
      const r = await request('trash.purge', { space: this.space, item: item?.item });
      this.message = `Deleted ${r.files} file(s) for good.`;
      clientLog.add('info', `purged ${item ? item.path : 'the trash'}`, { files: r.files });
      await this.refresh();
    });
  }

  /**
   * Downloads files and folders of the open space as one zip, streamed by the relay from
   * a single-use URL (the browser saves it like any download).
   */
  async downloadZip(paths: string[]): Promise<boolean> {
    return this.act(async () => {
      const t = await request('zip.ticket', { space: this.space, paths });
      const a = document.createElement('a');
      a.href = t.url;
      a.download = t.name;
      document.body.append(a);
      a.click();
      a.remove();
      this.message = `Downloading ${t.name}: ${t.files} ${t.files === 1 ? 'file' : 'files'}.`;
      clientLog.add('info', `zip download of ${paths.join(', ')}`, { files: t.files, bytes: t.bytes });
    });
  }

  setLayout(layout: 'list' | 'grid'): void {
    this.layout = layout;
    localStorage.setItem('ferry.layout', layout);
  }

  /** The files of the open folder as shown, which the viewer steps through. */
  get viewable(): Entry[] {
    return this.shown.filter((e) => e.kind === 'file');
  }

  /** Opens a file in the viewer; its address is a step Back returns from. */
  openFile(entry: Entry): void {
    this.viewing = entry;
    this.remember(true);
    this.showSealed(entry);
  }

  /** Closes the viewer: the address is the folder's again. */
  closeViewer(): void {
    if (!this.viewing) return;
    this.viewing = undefined;
    this.showSealed(undefined);
    this.remember(false);
  }

  /** Opens the file next to the one in the viewer (`step` -1 or 1). */
  viewStep(step: number): void {
    const files = this.viewable;
    const at = files.findIndex((e) => e.path === this.viewing?.path);
    if (at >= 0 && files[at + step]) {
      this.viewing = files[at + step];
      this.showSealed(this.viewing);
      this.remember(false);
    }
  }

  /**
   * An encrypted file in the viewer: downloaded into this device's private storage, opened
   * and checked there by the engine, and shown from there (a blob address of the file on
   * this device, never the relay's); dropped when the viewer moves on or closes.
   */
  sealedView = $state<{ path: string; done: number; total: number; url?: string; file?: Blob; error?: string } | undefined>();
  private sealedViewId?: string;

  private showSealed(entry: Entry | undefined): void {
    if (this.sealedView?.url) URL.revokeObjectURL(this.sealedView.url);
    const previous = this.sealedViewId;
    this.sealedViewId = undefined;
    this.sealedView = undefined;
    if (previous) {
      engine.stop(previous);
      void forgetDownload(previous).catch(() => {});
    }
    if (!entry?.sealed || entry.kind !== 'file' || !previewOf(entry.name)) return;
    const view = { path: entry.path, done: 0, total: entry.size ?? 0 };
    this.sealedView = view;
    if (!navigator.storage?.getDirectory) {
      this.sealedView = { ...view, error: 'Files of encrypted folders are opened on this device, which needs its private storage: open the app over https.' };
      return;
    }
    const id = newId();
    this.sealedViewId = id;
    const off = onEngineEvent((e) => {
      if (e.type === 'download.progress.v1' && e.id === id && this.sealedView?.path === entry.path) this.sealedView = { ...this.sealedView, done: e.done };
    });
    (async () => {
      try {
        await engine.downloadToDevice(id, this.space, entry.path, entry.version!);
        // Typed as its name says (the browser shows a PDF, plays a video, only when told what it is).
        const file = new Blob([await downloadedFile(id)], { type: inlineType(entry.name) ?? '' });
        if (this.sealedViewId !== id) return;
        this.sealedView = { ...view, done: view.total, url: URL.createObjectURL(file), file };
        clientLog.add('info', 'opened an encrypted file in the viewer');
      } catch (err) {
        if (this.sealedViewId === id) this.sealedView = { ...view, error: describe(err) };
      } finally {
        off();
      }
    })();
  }

  /** Moves several files and folders into one folder (each move is atomic; they are made one after another). */
  async moveMany(paths: string[], folder: string, toSpace = this.space): Promise<boolean> {
    return this.act(async () => {
      let moved = 0;
      try {
        for (const path of paths) {
          const name = path.slice(path.lastIndexOf('/') + 1);
          await request('move', { space: this.space, path, toSpace, to: folder ? `${folder}/${name}` : name });
          moved++;
        }
      } finally {
        const where = `${this.spaceName(toSpace)}/${folder}`;
        if (moved) this.message = `Moved ${moved} of ${paths.length} to ${displayName(where)}.`;
        clientLog.add('info', `moved ${moved} of ${paths.length} to ${where}`);
        await this.refresh();
      }
    });
  }

  /** Moves several files and folders to the trash (one after another; Undo is per item in the trash). */
  async trashMany(paths: string[]): Promise<boolean> {
    if (paths.length === 1) return this.trash(paths[0]);
    return this.act(async () => {
      let trashed = 0;
      try {
        for (const path of paths) {
          await request('trash', { space: this.space, path });
          trashed++;
        }
      } finally {
        this.lastTrashed = undefined;
        if (trashed) this.message = `Moved ${trashed} of ${paths.length} to the trash. Restore them from the trash.`;
        clientLog.add('info', `trashed ${trashed} of ${paths.length}`);
        await this.refresh();
      }
    });
  }

  /** The name people know a space by. */
  spaceName(id: number | undefined): string {
    const s = this.spaces.find((x) => x.id === id);
    // Before the spaces are known (offline after a reload) the app is in My files.
    return !s || s.kind === 'home' ? 'My files' : s.name;
  }

  /** Runs a change, showing its error; true when it worked. */
  private async act(fn: () => Promise<void>): Promise<boolean> {
    this.error = '';
    this.message = '';
    try {
      await fn();
      return true;
    } catch (err) {
      this.error = describe(err);
      return false;
    }
  }

  async showHistory(path: string): Promise<void> {
    try {
      this.history = await request('history', { space: this.space, path });
    } catch (err) {
      this.error = describe(err);
    }
  }

  closeHistory(): void {
    this.history = undefined;
  }

  async restore(path: string, version: number): Promise<void> {
    try {
      const r = await request('restore', { space: this.space, path, version });
      this.message = `Restored v${r.restoredFrom} of ${path} as v${r.version}.`;
      clientLog.add('info', `restored ${path} v${r.restoredFrom} as v${r.version}`);
      await this.showHistory(path);
      await this.refresh();
    } catch (err) {
      this.error = describe(err);
    }
  }

  /** Deletes a file, or one version of it, for good (admins; the relay refuses others). Asks first. */
  async remove(path: string, version?: number): Promise<void> {
    const shown = displayName(path);
    const what = version === undefined ? `${shown} and all its versions` : `version ${version} of ${shown}`;
    if (!confirm(`Delete ${what} for good? This cannot be undone.`)) return;
    try {
      const r = await request('delete', { space: this.space, path, version });
      this.message = `Deleted ${r.deletedVersions} version(s) of ${shown}.`;
      clientLog.add('info', `deleted ${what}`);
      if (this.history?.path === path) {
        if (version === undefined) this.history = undefined;
        else await this.showHistory(path).catch(() => (this.history = undefined));
      }
      await this.refresh();
    } catch (err) {
      this.error = describe(err);
    }
  }

  /**
   * Downloads a version to this device: every chunk verified, written to the Origin
   * Private File System with a checkpoint, so a reload or a dropped connection resumes
   * it; then hands the file over (save dialog where there is one, else a download).
   */
  async download(path: string, version?: number): Promise<void> {
    try {
      const versions = (await request('history', { space: this.space, path })).versions;
      const v = versions.find((x) => (version === undefined ? x.current : x.version === version));
      if (!v) throw Object.assign(new Error(`No version ${version} of ${path}.`), { name: 'NOT_FOUND' });
      // An encrypted file is opened here, on this device: never through the relay's own address.
      const sealed = this.entries.find((e) => e.path === path && e.sealed);
      if (!navigator.storage?.getDirectory) {
        if (sealed) throw Object.assign(new Error('Files of encrypted folders are opened on this device, which needs its private storage: open the app over https.'), { name: 'E2E_UNAVAILABLE' });
        return await this.downloadPlain(path, v.version);
      }
      const checkpoint: DownloadCheckpoint = { id: newId(), space: this.space, path, version: v.version, size: sealed ? plainSize(v.size) : v.size, addedAt: Date.now(), ...(sealed ? { name: sealed.name, label: [...this.crumbs.map((c) => c.name), sealed.name].join('/') } : {}) };
      await saveDownload(checkpoint);
      await this.runDownload(checkpoint);
    } catch (err) {
      this.error = describe(err);
    }
  }

  /**
   * Without the Origin Private File System (a page that is not a secure context): the
   * browser downloads the file itself from the relay's media address (no resume, no
   * check of every chunk on this device; the relay still checked them on the way in).
   */
  private async downloadPlain(path: string, version: number): Promise<void> {
    await media.refresh();
    const url = media.url(this.space, path, { version, download: true });
    if (!url) throw Object.assign(new Error('The relay gave no download address; try again.'), { name: 'CONNECTION_LOST' });
    const a = document.createElement('a');
    a.href = url;
    a.download = path.slice(path.lastIndexOf('/') + 1);
    document.body.append(a);
    a.click();
    a.remove();
    clientLog.add('info', `downloading ${path} v${version} through the browser (no device storage on this page)`);
  }

  /** Continues downloads a reload or a restart interrupted. */
  async resumeDownloads(): Promise<void> {
    await removeOrphanDownloads().catch(() => {});
    for (const d of await listDownloads()) await this.runDownload(d);
  }

  private async runDownload(d: DownloadCheckpoint): Promise<void> {
    const item = new DeviceDownload(d);
    this.downloads = [item, ...this.downloads.filter((x) => x.id !== d.id)];
    const off = onEngineEvent((e) => {
      if (e.type === 'download.progress.v1' && e.id === d.id) item.progress(e.done);
    });
    try {
      const r = await engine.downloadToDevice(d.id, d.space, d.path, d.version);
      item.progress(d.size);
      item.state = 'done';
      item.speed = 0;
      const file = await downloadedFile(d.id);
      await handOver(file, item.name, r.sha256);
      clientLog.add('info', `downloaded ${d.path} v${r.version}`, { sha256: r.sha256, fetchedBytes: r.fetchedBytes, keptChunks: r.keptChunks });
      await forgetDownload(d.id, 60_000);
    } catch (err) {
      item.speed = 0;
      if (item.state === 'cancelled') {
        // The engine has let go of the file by now: what it fetched can go.
        await forgetDownload(d.id);
        clientLog.add('info', `download of ${d.path} cancelled`);
        return;
      }
      item.state = 'failed';
      item.error = describe(err);
      clientLog.add('error', `download of ${d.path} failed`, { code: errorCode(err) });
      if (errorCode(err) === 'NOT_FOUND' || errorCode(err) === 'DOWNLOAD_HASH_MISMATCH') await forgetDownload(d.id);
    } finally {
      off();
    }
  }

  /** Stops a download and forgets what it had fetched on this device. */
  async cancelDownload(item: DeviceDownload): Promise<void> {
    if (item.state !== 'downloading') return;
    // The checkpoint goes first: a reload from now on must not resume this download.
    await dropDownload(item.id);
    if (item.state !== 'downloading') return;
    item.state = 'cancelled';
    await engine.stop(item.id);
  }

  /** Downloads still running. */
  get downloading(): number {
    return this.downloads.filter((d) => d.state === 'downloading').length;
  }

  /** Takes finished, failed and cancelled downloads off the list. */
  clearDownloads(): void {
    this.downloads = this.downloads.filter((d) => d.state === 'downloading');
  }
}

/** A download to this device, as the Transfers panel shows it. */
export class DeviceDownload {
  readonly id: string;
  readonly path: string;
  readonly name: string;
  /** The path as a person reads it (in an encrypted folder the relay's is sealed). */
  readonly label: string;
  readonly size: number;
  readonly version: number;
  state = $state<'downloading' | 'done' | 'failed' | 'cancelled'>('downloading');
  done = $state(0);
  speed = $state(0);
  error = $state('');
  private meter = new SpeedMeter();

  constructor(d: DownloadCheckpoint) {
    this.id = d.id;
    this.path = d.path;
    this.name = d.name ?? d.path.slice(d.path.lastIndexOf('/') + 1);
    this.label = d.label ?? d.path;
    this.size = d.size;
    this.version = d.version;
  }

  progress(done: number): void {
    const speed = this.meter.sample(done);
    if (speed !== undefined) this.speed = speed;
    this.done = done;
  }

  get fraction(): number {
    return this.size === 0 ? (this.state === 'done' ? 1 : 0) : Math.min(1, this.done / this.size);
  }

  /** Seconds left at the current speed, when it can be told. */
  get eta(): number | undefined {
    return this.state === 'downloading' && this.speed > 0 ? (this.size - this.done) / this.speed : undefined;
  }
}

/** Gives a finished download to the person: the save dialog where it exists, otherwise a download. */
async function handOver(file: File, name: string, sha256: string): Promise<void> {
  const picker = (window as unknown as { showSaveFilePicker?: (o: { suggestedName: string }) => Promise<FileSystemFileHandle> }).showSaveFilePicker;
  // An automated browser cannot answer a native save dialog: it gets the download.
  if (picker && !navigator.webdriver) {
    try {
      const handle = await picker({ suggestedName: name });
      await file.stream().pipeTo(await (handle as unknown as { createWritable(): Promise<WritableStream> }).createWritable());
      return;
    } catch (err) {
      if ((err as Error).name === 'AbortError') return; // the person closed the dialog
      // No user gesture left (the download took a while): fall back to a download link.
    }
  }
  const url = URL.createObjectURL(file);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.dataset.sha256 = sha256;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export const library = new Library();
