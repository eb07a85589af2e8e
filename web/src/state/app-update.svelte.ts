/**
 * The installed app's own updates: a new version is announced ("update ready") and
 * applied only when the person chooses, so it never changes under a running upload.
 */
import { registerSW } from 'virtual:pwa-register';

class AppUpdate {
  ready = $state(false);
  offlineReady = $state(false);
  private apply?: (reload?: boolean) => Promise<void>;

  start(): void {
    if (!('serviceWorker' in navigator)) return;
    this.apply = registerSW({
      onNeedRefresh: () => (this.ready = true),
      onOfflineReady: () => (this.offlineReady = true),
    });
  }

  async update(): Promise<void> {
    // The new service worker takes over the page (clients.claim); reload into it then.
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    await this.apply?.(true);
  }
}

export const appUpdate = new AppUpdate();
