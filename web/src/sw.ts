/// <reference lib="webworker" />
/**
 * Ferry's service worker (built by vite-plugin-pwa with injectManifest): precaches
 * the app shell so the app opens offline, and leaves the relay's own routes (the
 * WebSocket, share links, setup, health) to the network. A new version waits until
 * the page says so (the "update ready" prompt), never swapping under an upload.
 */
import { createHandlerBoundToURL, precacheAndRoute, cleanupOutdatedCaches } from 'workbox-precaching';
import { NavigationRoute, registerRoute } from 'workbox-routing';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: (string | { url: string; revision: string | null })[] };

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();

// Every page of the app is the app shell; the relay's own pages are not.
registerRoute(new NavigationRoute(createHandlerBoundToURL('index.html'), { denylist: [/^\/s\//, /^\/setup/, /^\/healthz/, /^\/ws/] }));

self.addEventListener('message', (event) => {
  if (event.data?.type === 'SKIP_WAITING') void self.skipWaiting();
});
