/**
 * What the relay says about reaching it from other devices (`/connect.json`): how it
 * speaks TLS, its own CA's fingerprint, and the addresses to open. Read once, on demand.
 */
export interface ConnectInfo {
  tls: 'auto' | 'files' | 'off';
  fingerprint?: string;
  urls: string[];
}

class Connect {
  info = $state<ConnectInfo | undefined>();
  failed = $state(false);
  /** This page is not a secure context: no service worker, no OPFS, no crypto.subtle. */
  readonly insecure = typeof window !== 'undefined' && !window.isSecureContext;

  async load(): Promise<void> {
    if (this.info) return;
    try {
      const r = await fetch('/connect.json', { cache: 'no-store' });
      if (!r.ok) throw new Error(String(r.status));
      this.info = (await r.json()) as ConnectInfo;
    } catch {
      this.failed = true;
    }
  }

  /** The https address of this very page (same host and port: the relay speaks both on one port). */
  get httpsHere(): string | undefined {
    if (!this.info || this.info.tls === 'off') return undefined;
    return `https://${location.host}/`;
  }
}

export const connect = new Connect();
