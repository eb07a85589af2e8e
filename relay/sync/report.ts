/**
 * Tells the relay what this device syncs (`device.report`), for the device list in the
 * app: one report per device covering all its pairs, sent when a pair's state changes and
 * otherwise at most every few seconds. A report that fails is dropped; the next goes.
 */
import type { FerryClient } from '../client/connection.js';
import type { SyncedFolderInfo } from '../protocol/index.js';
import type { SyncMode, SyncStatus } from './engine.js';

/** Reports in a row are this far apart at least (ms), unless a state changed. */
const MIN_GAP_MS = 5000;

export function folderInfo(local: string, space: number | undefined, remote: string, mode: SyncMode, status: SyncStatus): SyncedFolderInfo {
  return {
    local: local.slice(0, 1024),
    space,
    remote,
    mode,
    state: status.state,
    reason: status.reason?.slice(0, 2000),
    lastSyncAt: status.lastSyncAt,
    conflicts: status.conflicts.length,
    files: status.files,
    bytes: status.bytes,
  };
}

export class DeviceReporter {
  private readonly folders = new Map<string, SyncedFolderInfo>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sentAt = 0;
  private sentStates = '';

  constructor(
    private readonly client: FerryClient,
    private readonly who: { name: string; kind: 'app' | 'cli' },
  ) {}

  update(key: string, info: SyncedFolderInfo): void {
    this.folders.set(key, info);
    this.schedule();
  }

  remove(key: string): void {
    if (this.folders.delete(key)) this.schedule();
  }

  private states(): string {
    return [...this.folders.values()].map((f) => `${f.local}\n${f.state}\n${f.conflicts}`).join('\n');
  }

  private schedule(): void {
    if (this.timer) return;
    const changed = this.states() !== this.sentStates;
    const wait = changed ? 0 : Math.max(0, this.sentAt + MIN_GAP_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.send();
    }, wait);
  }

  private async send(): Promise<void> {
    this.sentAt = Date.now();
    this.sentStates = this.states();
    await this.client.request('device.report', { name: this.who.name, kind: this.who.kind, sync: [...this.folders.values()] }).catch(() => {});
  }

  /** Sends what is pending now (before a short-lived client exits). */
  async flush(): Promise<void> {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.send();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
