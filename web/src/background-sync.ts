/**
 * Background Sync for the offline queue. Where the browser has it (Chromium), a page
 * that queues a file registers a one-off sync; when the device is online again the
 * browser wakes the service worker, which uploads the queue itself if no page of the
 * app is open, or tells the open pages to do it. When the relay cannot be reached the
 * sync fails and the browser tries again later, with its own backoff.
 *
 * The page and the service worker never upload the same entry twice: each holds the
 * Web Lock `ferry-queue-<id>` while it uploads an entry, and checks the entry is still
 * queued once it has the lock. The service worker's side is in sw-sync.ts.
 */
import { isQueued, type QueuedFile } from './storage/db';

export const SYNC_TAG = 'ferry-queue';

/** What a page hears from the service worker when it should read the queue. */
export const SYNC_MESSAGE = 'ferry.queue.sync';

interface SyncRegistration {
  sync?: { register(tag: string): Promise<void> };
}

/** Asks the browser for a sync once it is online (no-op where Background Sync is missing). */
export async function requestQueueSync(registration: ServiceWorkerRegistration | undefined): Promise<boolean> {
  const sync = (registration as (ServiceWorkerRegistration & SyncRegistration) | undefined)?.sync;
  if (!sync) return false;
  try {
    await sync.register(SYNC_TAG);
    return true;
  } catch {
    return false; // e.g. the permission is denied: the page still drains the queue itself
  }
}

/**
 * Runs `upload` for a queued entry while holding its lock, unless someone else holds
 * it (`undefined`) or the entry left the queue meanwhile (`false`).
 */
export function withQueueLock<T>(entry: QueuedFile, upload: () => Promise<T>, wait = false): Promise<T | false | undefined> {
  return navigator.locks.request(`ferry-queue-${entry.id}`, { ifAvailable: !wait }, async (lock) => {
    if (!lock) return undefined;
    if (!(await isQueued(entry.id))) return false;
    return upload();
  }) as Promise<T | false | undefined>; // the DOM types nest the callback's promise
}
