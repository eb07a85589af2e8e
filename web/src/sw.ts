/// <reference lib="webworker" />
/**
 * Ferry's service worker (built by vite-plugin-pwa with injectManifest): precaches
 * the app shell so the app opens offline, and leaves the relay's own routes (the
 * WebSocket, share links, setup, health) to the network. A new version waits until
 * the page says so (the "update ready" prompt), never swapping under an upload.
 */
import { createHandlerBoundToURL, precacheAndRoute, cleanupOutdatedCaches } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';
import { enqueueFile } from './storage/db';
import { requestQueueSync, SYNC_TAG } from './background-sync';
import { syncQueue } from './sw-sync';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: (string | { url: string; revision: string | null })[] };

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();

// Every page of the app is the app shell; the relay's own pages are not.
registerRoute(new NavigationRoute(createHandlerBoundToURL('index.html'), { denylist: [/^\/s\//, /^\/zip\//, /^\/media\//, /^\/setup/, /^\/healthz/, /^\/ws/] }));

self.addEventListener('message', (event) => {
  if (event.data?.type === 'SKIP_WAITING') void self.skipWaiting();
});

// Once active (the person chose to update), take over the open pages so they reload into it.
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The share target: files shared from the device's share sheet arrive here as a
// multipart POST. They are kept on the device (OPFS, queued in IndexedDB) and the app
// uploads them as soon as the relay is reachable.
self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'POST' || url.pathname !== '/share') return;
  event.respondWith(
    (async () => {
      const form = await event.request.formData();
      const files = form.getAll('files').filter((f): f is File => f instanceof File);
      // Shared from another app: into My files.
      for (const file of files) await enqueueFile(file, undefined, file.name, 'version');
      await requestQueueSync(self.registration);
      return Response.redirect(`/?shared=${files.length}`, 303);
    })(),
  );
});

// Background Sync: the device is online again (see background-sync.ts).
self.addEventListener('sync', (event) => {
  const e = event as ExtendableEvent & { tag: string };
  if (e.tag === SYNC_TAG) e.waitUntil(syncQueue(self));
});
