/**
 * URLs for the relay's media endpoint: thumbnails in the list and grid, and files opened
 * in the viewer (an `<img>`, a `<video>` that seeks with Range, the PDF viewer). The key
 * comes over the WebSocket and is asked for again well before it expires.
 */
import { request } from '../net/engine';
import { clientLog } from './log.svelte';

class Media {
  /** The key of this session, or '' until the relay gave one. */
  key = $state('');
  private expiresAt = 0;
  private asking?: Promise<void>;

  /** Gets a key when there is none or it is past half its life. */
  async refresh(): Promise<void> {
    if (this.key && Date.now() < this.expiresAt - 3_600_000) return;
    this.asking ??= request('media.key', {})
      .then((r) => {
        this.key = r.key;
        this.expiresAt = r.expiresAt;
      })
      .catch((err) => clientLog.add('warn', 'no media key: thumbnails and previews wait', { code: (err as Error).name }))
      .finally(() => (this.asking = undefined));
    await this.asking;
  }

  /** Signed out: the key is void. */
  clear(): void {
    this.key = '';
    this.expiresAt = 0;
  }

  /** The URL of a file (its current version, or `version`), a thumbnail with `thumb`; '' without a key. */
  url(space: number | undefined, path: string, opts: { version?: number; thumb?: boolean; download?: boolean } = {}): string {
    if (!this.key) return '';
    const q = new URLSearchParams({ path });
    if (space !== undefined) q.set('space', String(space));
    if (opts.version !== undefined) q.set('v', String(opts.version));
    if (opts.thumb) q.set('thumb', '1');
    if (opts.download) q.set('download', '1');
    return `/media/${this.key}?${q}`;
  }
}

export const media = new Media();
