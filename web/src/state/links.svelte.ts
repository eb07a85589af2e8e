/** Share links: the dialog that creates one, and the list of links with their use counts. */
import { displayName } from '../../../relay/protocol/paths';
import type { ShareLinkInfo } from '../../../relay/protocol/messages';
import { describe, engine, onEngineEvent, request } from '../net/engine';
import { clientLog } from './log.svelte';

export interface LinkOptions {
  expiresInMs?: number;
  maxDownloads?: number;
  password?: string;
  message?: string;
  version?: number;
}

class Links {
  items = $state<ShareLinkInfo[]>([]);
  /** My encrypted links opened with my key (their names are sealed): by link id; null while locked. */
  opened = $state<Record<string, { name: string; fragment: string } | null>>({});
  /** Everyone's links (admins) instead of mine. */
  all = $state(false);
  error = $state('');
  /** The file the share dialog is open for, and the link it made. */
  dialog = $state<{ space?: number; path: string; versions: number[]; created?: ShareLinkInfo } | undefined>();

  constructor() {
    // The relay tells the owner when a link is used or revoked: counts move live.
    onEngineEvent((e) => {
      if (e.type !== 'link.v1') return;
      const i = this.items.findIndex((l) => l.id === e.link.id);
      if (i >= 0) this.items[i] = e.link;
      else if (!this.all) void this.load();
      if (this.dialog?.created?.id === e.link.id) this.dialog.created = e.link;
    });
  }

  async load(): Promise<void> {
    try {
      this.items = (await request('link.list', { all: this.all })).links;
      this.error = '';
      const sealed = this.items.filter((l) => l.e2e);
      if (sealed.length) {
        const names = await engine.e2eOpenLinks(sealed.map((l) => ({ copyId: l.path, ...l.e2e! })));
        this.opened = Object.fromEntries(sealed.map((l, i) => [l.id, names[i]]));
      }
    } catch (err) {
      this.error = describe(err);
    }
  }

  /** Opens the share dialog for a file of a space (absent: My files). */
  async open(path: string, space?: number): Promise<void> {
    const versions = (await request('history', { space, path }).catch(() => ({ versions: [] }))).versions.map((v) => v.version);
    this.dialog = { space, path, versions };
  }

  close(): void {
    this.dialog = undefined;
  }

  async create(opts: LinkOptions): Promise<void> {
    if (!this.dialog) return;
    try {
      const link = await request('link.create', { space: this.dialog.space, path: this.dialog.path, ...opts });
      this.dialog.created = link;
      clientLog.add('info', `link created for ${link.path}`, { id: link.id });
      await this.load();
    } catch (err) {
      this.error = describe(err);
    }
  }

  async revoke(id: string): Promise<void> {
    const link = this.items.find((l) => l.id === id);
    if (link && !confirm(`Revoke the link to ${this.label(link)}? Whoever has it can no longer download the file.`)) return;
    try {
      await request('link.revoke', { link: id });
      clientLog.add('info', `link revoked`, { id });
      await this.load();
    } catch (err) {
      this.error = describe(err);
    }
  }

  /** The link's full address on this relay (an encrypted link's with its key, once opened here). */
  url(link: ShareLinkInfo): string {
    const base = link.href ?? new URL(link.url, location.origin).toString();
    const opened = this.opened[link.id];
    return opened ? `${base}#${opened.fragment}` : base;
  }

  /** What the link hands out, as a person reads it. */
  label(link: ShareLinkInfo): string {
    if (!link.e2e) return displayName(link.path);
    const opened = this.opened[link.id];
    return opened ? displayName(opened.name) : 'Encrypted file (unlock your keys to see its name and whole link)';
  }
}

export const links = new Links();
