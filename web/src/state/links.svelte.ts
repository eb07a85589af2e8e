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
  dialog = $state<{ space?: number; path: string; versions: number[]; created?: ShareLinkInfo; encrypted?: { name: string }; busy?: boolean } | undefined>();

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

  /**
   * Opens the share dialog for a file of a space (absent: My files); `encrypted` for a file of
   * an encrypted folder (`path` as the relay stores it, `name` opened here).
   */
  async open(path: string, space?: number, encrypted?: { name: string }): Promise<void> {
    const versions = (await request('history', { space, path }).catch(() => ({ versions: [] }))).versions.map((v) => v.version);
    this.error = '';
    this.dialog = { space, path, versions, encrypted };
  }

  close(): void {
    this.dialog = undefined;
  }

  async create(opts: LinkOptions): Promise<void> {
    if (!this.dialog) return;
    const dialog = this.dialog;
    if (dialog.encrypted) return this.createEncrypted(opts);
    try {
      const link = await request('link.create', { space: dialog.space, path: dialog.path, ...opts });
      dialog.created = link;
      clientLog.add('info', `link created for ${link.path}`, { id: link.id });
      await this.load();
    } catch (err) {
      this.error = describe(err);
    }
  }

  /** A link to a file of an encrypted folder: a copy sealed here under the link's own key. */
  private async createEncrypted(opts: LinkOptions): Promise<void> {
    const dialog = this.dialog!;
    dialog.busy = true;
    this.error = '';
    try {
      const made = await engine.e2eLinkCreate(`link-${crypto.randomUUID()}`, dialog.space, dialog.path, opts);
      this.opened = { ...this.opened, [made.link.id]: { name: made.name, fragment: made.fragment } };
      dialog.created = made.link;
      clientLog.add('info', `encrypted link created for ${made.name}`, { id: made.link.id });
      await this.load();
    } catch (err) {
      this.error = describe(err);
    } finally {
      dialog.busy = false;
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
