/**
 * The service worker's side of Background Sync (see background-sync.ts): uploads the
 * offline queue with the shared transfer engine when no page of the app is open.
 */
import { FerryClient, defaultHasher, inPlace, uploadFile, type WebSocketLike } from '../../relay/client';
import { dequeue, listQueue, loadSession, queuedFile } from './storage/db';
import { fileSource } from './workers/read-once';
import { SYNC_MESSAGE, withQueueLock } from './background-sync';
import { relayUrl } from './net/relay-url';

/** The service worker's `sync` handler. */
export async function syncQueue(sw: ServiceWorkerGlobalScope): Promise<void> {
  const pages = await sw.clients.matchAll({ type: 'window' });
  if (pages.length > 0) {
    for (const page of pages) page.postMessage({ type: SYNC_MESSAGE });
    return;
  }
  const entries = (await listQueue()).filter((e) => e.opfsName);
  if (entries.length === 0) return;
  const session = await loadSession();
  if (!session) return; // signed out: the queue waits for the next sign-in
  const client = new FerryClient({
    url: relayUrl(sw.location),
    token: session.token,
    createSocket: (u, p) => new WebSocket(u, p) as unknown as WebSocketLike,
    reconnectTimeoutMs: 30_000,
  });
  // Rejects when the relay cannot be reached: the browser then tries the sync again later.
  await client.connect();
  try {
    for (const entry of entries) {
      await withQueueLock(entry, async () => {
        const file = await queuedFile(entry);
        if (!file) return;
        const source = fileSource(file, inPlace(defaultHasher()));
        try {
          const feed = source.feed({ concurrency: 2 });
          await uploadFile(client, source, { space: entry.space, path: entry.path, conflict: entry.conflict, feed });
        } finally {
          source.close();
        }
        await dequeue(entry);
      });
    }
  } finally {
    client.close();
  }
}
