/**
 * Folders on this computer kept in sync with relay folders, while the app is open: the
 * folder is picked with the File System Access API, its handle kept in IndexedDB (the
 * browser keeps or asks again for its permission), and the engine worker runs the same
 * sync engine as `ferry sync` on it.
 */
import type { SyncMode, SyncStatus } from '../../../relay/sync/engine';
import { describe, engine, errorCode, onEngineEvent } from '../net/engine';
import { newId } from '../lib/ids';
import { deleteSyncPair, saveSyncPair, syncPairs, type SyncPairRecord } from '../storage/db';
import { clientLog } from './log.svelte';

type PermissionHandle = FileSystemDirectoryHandle & {
  queryPermission(o: { mode: 'readwrite' }): Promise<PermissionState>;
  requestPermission(o: { mode: 'readwrite' }): Promise<PermissionState>;
};
type Picker = (o: { mode: 'readwrite'; id?: string }) => Promise<FileSystemDirectoryHandle>;

export interface SyncedFolder {
  record: SyncPairRecord;
  status?: SyncStatus;
  /** The browser needs a click to let the app use the folder again. */
  needsPermission: boolean;
  error?: string;
}

/** The name conflict copies of this browser carry, kept per browser. */
const DEVICE_KEY = 'ferry.sync.device';

function defaultDevice(): string {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? 'Edge' : /OPR\//.test(ua) ? 'Opera' : /Chrom/.test(ua) ? 'Chrome' : /Firefox/.test(ua) ? 'Firefox' : /Safari/.test(ua) ? 'Safari' : 'Browser';
  const os = /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Android/.test(ua) ? 'Android' : /Linux/.test(ua) ? 'Linux' : /CrOS/.test(ua) ? 'ChromeOS' : '';
  return os ? `${browser} on ${os}` : browser;
}

/** The names the computer's file system can hold, from what the browser says it runs on. */
function nameRules(): 'posix' | 'windows' | 'macos' {
  const ua = navigator.userAgent;
  return /Windows/.test(ua) ? 'windows' : /Mac OS X/.test(ua) ? 'macos' : 'posix';
}

class FolderSync {
  /** This browser can pick a folder and write into it. */
  readonly supported = typeof window !== 'undefined' && 'showDirectoryPicker' in window;
  folders = $state<SyncedFolder[]>([]);
  error = $state('');
  device = $state(typeof localStorage !== 'undefined' ? (localStorage.getItem(DEVICE_KEY) ?? defaultDevice()) : 'Browser');

  constructor() {
    onEngineEvent((e) => {
      if (e.type !== 'sync.v1') return;
      const f = this.folders.find((x) => x.record.id === e.id);
      if (!f) return;
      f.status = e.status;
      f.error = e.error ? e.error.message : undefined;
    });
  }

  /** After sign-in: the folders of this browser, started where the browser still allows it. */
  async load(): Promise<void> {
    if (!this.supported) return;
    const records = await syncPairs();
    const folders: SyncedFolder[] = [];
    for (const record of records) {
      const state = await (record.handle as PermissionHandle).queryPermission({ mode: 'readwrite' }).catch(() => 'denied' as PermissionState);
      folders.push({ record, needsPermission: state !== 'granted' });
    }
    this.folders = folders;
    for (const f of this.folders) if (!f.needsPermission) await this.start(f);
  }

  private async start(f: SyncedFolder): Promise<void> {
    const { id, handle, space, remote, mode } = f.record;
    try {
      await engine.syncStart({ id, handle, space, remote, mode, device: this.device, names: nameRules() });
      f.error = undefined;
    } catch (err) {
      f.error = describe(err);
    }
  }

  /** Picks a folder here and keeps it in sync with `remote` of `space`. */
  async add(space: number, remote: string, mode: SyncMode): Promise<boolean> {
    this.error = '';
    let handle: FileSystemDirectoryHandle;
    try {
      handle = await (window as unknown as { showDirectoryPicker: Picker }).showDirectoryPicker({ mode: 'readwrite', id: 'ferry-sync' });
    } catch (err) {
      if ((err as DOMException).name !== 'AbortError') this.error = describe(err);
      return false;
    }
    for (const f of this.folders) {
      if (await f.record.handle.isSameEntry(handle)) {
        this.error = `${handle.name} is synced already (with ${f.record.remote || 'the whole space'}).`;
        return false;
      }
    }
    localStorage.setItem(DEVICE_KEY, this.device);
    const record: SyncPairRecord = { id: newId(), handle, space, remote, mode, addedAt: Date.now() };
    await saveSyncPair(record);
    this.folders.push({ record, needsPermission: false });
    clientLog.add('info', `syncing ${handle.name} with ${remote || '/'}`, { mode });
    await this.start(this.folders[this.folders.length - 1]);
    return true;
  }

  /** Asks the browser again for the folder (needs a click). */
  async allow(f: SyncedFolder): Promise<void> {
    const state = await (f.record.handle as PermissionHandle).requestPermission({ mode: 'readwrite' }).catch(() => 'denied' as PermissionState);
    f.needsPermission = state !== 'granted';
    if (!f.needsPermission) await this.start(f);
    else f.error = 'The browser did not allow the app to use this folder.';
  }

  /** Lets a paused folder go on (the deletes the breaker held back are made). */
  async resume(f: SyncedFolder): Promise<void> {
    try {
      await engine.syncResume(f.record.id);
    } catch (err) {
      f.error = describe(err);
      clientLog.add('warn', 'resuming sync failed', { code: errorCode(err) });
    }
  }

  now(f: SyncedFolder): void {
    void engine.syncNow(f.record.id);
  }

  /** Stops syncing a folder; the files on both sides stay as they are. */
  async remove(f: SyncedFolder): Promise<void> {
    await engine.syncStop(f.record.id);
    await deleteSyncPair(f.record.id);
    this.folders = this.folders.filter((x) => x !== f);
    clientLog.add('info', `stopped syncing ${f.record.handle.name}`);
  }
}

export const folderSync = new FolderSync();
