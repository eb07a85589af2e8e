/** The library view: the open folder, its entries, a file's history. */
import { displayName } from '../../../relay/protocol/paths';
import type { ReplyBody } from '../../../relay/protocol';
import { engine, errorCode, onEngineEvent, request } from '../net/engine';
import { clientLog } from './log.svelte';
import { downloadedFile, forgetDownload, listDownloads, saveDownload, type DownloadCheckpoint } from '../storage/db';

export type Entry = ReplyBody<'list'>['entries'][number];
export type Version = ReplyBody<'history'>['versions'][number];

class Library {
  folder = $state('');
  entries = $state<Entry[]>([]);
  loading = $state(false);
  error = $state('');
  /** The relay could not be reached when the folder was last asked for. */
  offline = $state(false);
  history = $state<{ path: string; versions: Version[] } | undefined>();
  /** Path and version being downloaded, with progress 0..1. */
  downloading = $state<{ path: string; version?: number; progress: number } | undefined>();
  message = $state('');

  private refreshTimer?: ReturnType<typeof setTimeout>;

  constructor() {
    // The relay tells every client what changed: refresh what is on screen.
    onEngineEvent((e) => {
      if (e.type !== 'library.v1') return;
      const { path } = e.event;
      const inView = this.folder === '' || path === this.folder || path.startsWith(`${this.folder}/`);
      if (inView && !this.refreshTimer) {
        this.refreshTimer = setTimeout(() => {
          this.refreshTimer = undefined;
          void this.refresh();
        }, 50);
      }
      if (this.history?.path === path) void this.showHistory(path).catch(() => {});
    });
  }

  get crumbs(): { name: string; path: string }[] {
    const parts = this.folder ? this.folder.split('/') : [];
    return parts.map((name, i) => ({ name, path: parts.slice(0, i + 1).join('/') }));
  }

  async open(folder: string): Promise<void> {
    this.loading = true;
    this.error = '';
    try {
      const r = await request('list', { folder });
      this.folder = r.folder;
      this.entries = r.entries;
      this.offline = false;
    } catch (err) {
      // Not reaching the relay is a state, not an error: say so, keep what was shown.
      if (errorCode(err) === 'CONNECTION_LOST') this.offline = true;
      else this.error = `${errorCode(err)}: ${(err as Error).message}`;
    } finally {
      this.loading = false;
    }
  }

  refresh(): Promise<void> {
    return this.open(this.folder);
  }

  async showHistory(path: string): Promise<void> {
    try {
      this.history = await request('history', { path });
    } catch (err) {
      this.error = `${errorCode(err)}: ${(err as Error).message}`;
    }
  }

  closeHistory(): void {
    this.history = undefined;
  }

  async restore(path: string, version: number): Promise<void> {
    try {
      const r = await request('restore', { path, version });
      this.message = `Restored v${r.restoredFrom} of ${path} as v${r.version}.`;
      clientLog.add('info', `restored ${path} v${r.restoredFrom} as v${r.version}`);
      await this.showHistory(path);
      await this.refresh();
    } catch (err) {
      this.error = `${errorCode(err)}: ${(err as Error).message}`;
    }
  }

  /** Deletes a file, or one version of it (admins; the relay refuses others). Asks first. */
  async remove(path: string, version?: number): Promise<void> {
    const shown = displayName(path);
    const what = version === undefined ? `${shown} and all its versions` : `version ${version} of ${shown}`;
    if (!confirm(`Delete ${what}? This cannot be undone.`)) return;
    try {
      const r = await request('delete', { path, version });
      this.message = `Deleted ${r.deletedVersions} version(s) of ${shown}.`;
      clientLog.add('info', `deleted ${what}`);
      if (this.history?.path === path) {
        if (version === undefined) this.history = undefined;
        else await this.showHistory(path).catch(() => (this.history = undefined));
      }
      await this.refresh();
    } catch (err) {
      this.error = `${errorCode(err)}: ${(err as Error).message}`;
    }
  }

  /**
   * Downloads a version to this device: every chunk verified, written to the Origin
   * Private File System with a checkpoint, so a reload or a dropped connection resumes
   * it; then hands the file over (save dialog where there is one, else a download).
   */
  async download(path: string, version?: number): Promise<void> {
    try {
      const versions = (await request('history', { path })).versions;
      const v = versions.find((x) => (version === undefined ? x.current : x.version === version));
      if (!v) throw Object.assign(new Error(`No version ${version} of ${path}.`), { name: 'NOT_FOUND' });
      const checkpoint: DownloadCheckpoint = { id: crypto.randomUUID(), path, version: v.version, size: v.size, addedAt: Date.now() };
      await saveDownload(checkpoint);
      await this.runDownload(checkpoint);
    } catch (err) {
      this.error = `${errorCode(err)}: ${(err as Error).message}`;
    }
  }

  /** Continues downloads a reload or a restart interrupted. */
  async resumeDownloads(): Promise<void> {
    for (const d of await listDownloads()) await this.runDownload(d);
  }

  private async runDownload(d: DownloadCheckpoint): Promise<void> {
    this.downloading = { path: d.path, version: d.version, progress: 0 };
    const off = onEngineEvent((e) => {
      if (e.type === 'download.progress.v1' && e.id === d.id && this.downloading) this.downloading.progress = e.total ? e.done / e.total : 1;
    });
    try {
      const r = await engine.downloadToDevice(d.id, d.path, d.version);
      const file = await downloadedFile(d.id);
      await handOver(file, d.path.slice(d.path.lastIndexOf('/') + 1), r.sha256);
      clientLog.add('info', `downloaded ${d.path} v${r.version}`, { sha256: r.sha256, fetchedBytes: r.fetchedBytes, keptChunks: r.keptChunks });
      await forgetDownload(d.id, 60_000);
    } catch (err) {
      this.error = `${errorCode(err)}: ${(err as Error).message}`;
      clientLog.add('error', `download of ${d.path} failed`, { code: errorCode(err) });
      if (errorCode(err) === 'NOT_FOUND' || errorCode(err) === 'DOWNLOAD_HASH_MISMATCH') await forgetDownload(d.id);
    } finally {
      off();
      this.downloading = undefined;
    }
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
