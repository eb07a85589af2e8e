/** Administration (admins only; the relay enforces it): users, storage used, the live relay log. */
import type { ReplyBody } from '../../../relay/protocol/messages';
import type { Role } from '../../../relay/protocol/constants';
import { describe, errorCode, onEngineEvent, request } from '../net/engine';
import { clientLog } from './log.svelte';

export type AdminUser = ReplyBody<'user.list'>['users'][number];
export type SharedFolder = ReplyBody<'folder.list'>['folders'][number];
export type Access = 'view' | 'edit';
export type Stats = ReplyBody<'stats'>;
export type RelayLogLine = Record<string, unknown> & { time?: string; level?: number; event?: string; user?: string; msg?: string };

/** pino's numeric levels. */
export const LEVELS: Record<string, number> = { debug: 20, info: 30, warn: 40, error: 50 };

/** Most relay log lines kept on the page. */
const KEEP_LINES = 2000;

class Admin {
  users = $state<AdminUser[]>([]);
  folders = $state<SharedFolder[]>([]);
  stats = $state<Stats | undefined>();
  lines = $state<RelayLogLine[]>([]);
  filter = $state({ level: 'info', user: '', event: '', text: '' });
  error = $state('');
  message = $state('');
  private subscribed = false;
  private statsTimer?: ReturnType<typeof setTimeout>;

  constructor() {
    onEngineEvent((e) => {
      if (e.type !== 'relay.log.v1') return;
      const line = e.line as RelayLogLine;
      this.lines.push(line);
      if (this.lines.length > KEEP_LINES) this.lines.splice(0, this.lines.length - KEEP_LINES);
      // Storage figures follow what the log says changed (at most once a second).
      if (['transfer', 'delete', 'restore', 'sweep'].includes(String(line.event)) && !this.statsTimer) {
        this.statsTimer = setTimeout(() => {
          this.statsTimer = undefined;
          void request('stats', {}).then((s) => (this.stats = s), () => {});
        }, 1000);
      }
    });
  }

  /** Lines that pass the filters, newest first. */
  get shown(): RelayLogLine[] {
    const { level, user, event, text } = this.filter;
    const min = LEVELS[level] ?? 0;
    const t = text.toLowerCase();
    return this.lines
      .filter((l) => (l.level ?? 0) >= min && (!user || l.user === user) && (!event || String(l.event ?? '').startsWith(event)) && (!t || JSON.stringify(l).toLowerCase().includes(t)))
      .slice(-300)
      .reverse();
  }

  private async run<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    this.error = '';
    try {
      return await fn();
    } catch (err) {
      this.error = describe(err);
      clientLog.add('warn', `${what} failed`, { code: errorCode(err) });
      return undefined;
    }
  }

  async load(): Promise<void> {
    await this.run('loading users', async () => {
      this.users = (await request('user.list', {})).users;
      this.folders = (await request('folder.list', {})).folders;
      this.stats = await request('stats', {});
    });
    if (!this.subscribed) {
      const r = await this.run('following the relay log', () => request('log.subscribe', {}));
      if (r) {
        this.lines = r.lines as RelayLogLine[];
        this.subscribed = true;
      }
    }
  }

  async addUser(name: string, role: Role, password: string): Promise<boolean> {
    const r = await this.run('adding a user', () => request('user.add', { name, role, password }));
    if (r) {
      this.message = `Added ${r.role} ${r.name}.`;
      await this.load();
    }
    return !!r;
  }

  async update(name: string, change: { role?: Role; disabled?: boolean; password?: string }): Promise<void> {
    const r = await this.run('changing a user', () => request('user.update', { name, ...change }));
    if (r) {
      this.message = change.password
        ? `Password of ${name} reset; their sessions ended.`
        : change.disabled === true
          ? `${name} is disabled; their sessions ended.`
          : change.disabled === false
            ? `${name} can sign in again.`
            : `${name} is now ${r.role === 'admin' ? 'an admin' : 'a user'}.`;
      await this.load();
    }
  }

  /** Removes a user with their My files, after asking. */
  async removeUser(u: AdminUser): Promise<void> {
    const what = u.homeFiles ? ` and the ${u.homeFiles} ${u.homeFiles === 1 ? 'file' : 'files'} in their My files` : '';
    if (!confirm(`Remove ${u.name}${what} for good? What they added to shared folders stays.`)) return;
    const r = await this.run('removing a user', () => request('user.remove', { name: u.name }));
    if (r) {
      this.message = `Removed ${r.name} with ${r.files} ${r.files === 1 ? 'file' : 'files'} of their own.`;
      await this.load();
    }
  }

  async createFolder(name: string, members: { user: string; access: Access }[]): Promise<boolean> {
    const r = await this.run('making a shared folder', () => request('folder.create', { name, members }));
    if (r) {
      this.message = `Made the shared folder ${r.name}.`;
      await this.load();
    }
    return !!r;
  }

  /** Adds a member, changes their access, or removes them ('none'). */
  async setMember(folder: SharedFolder, user: string, access: Access | 'none'): Promise<void> {
    const r = await this.run('changing members', () => request('folder.members', { folder: folder.id, set: [{ user, access }] }));
    if (r) {
      this.message = access === 'none' ? `${user} is no longer in ${r.name}.` : `${user} can ${access} ${r.name}.`;
      await this.load();
    }
  }

  async removeFolder(folder: SharedFolder): Promise<void> {
    if (!confirm(`Delete the shared folder ${folder.name} with its ${folder.files} ${folder.files === 1 ? 'file' : 'files'} for good? Its members lose them too.`)) return;
    const r = await this.run('deleting a shared folder', () => request('folder.remove', { folder: folder.id }));
    if (r) {
      this.message = `Deleted ${r.name}.`;
      await this.load();
    }
  }

  /** Log lines of a time range, as a file. */
  async readRange(from: number, to: number): Promise<string | undefined> {
    const r = await this.run('reading the relay log', () => request('log.read', { from, to }));
    return r && r.lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  }
}

export const admin = new Admin();
