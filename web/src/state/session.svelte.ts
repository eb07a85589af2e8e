/** Who is signed in and how the connection to the relay is doing. */
import type { ConnectionState } from '../../../relay/client';
import type { UserInfo } from '../../../relay/protocol';
import { describe, engine, errorCode, onEngineEvent, relayUrl, request } from '../net/engine';
import { clearSession, loadDevice, loadSession, saveDevice, saveSession } from '../storage/db';
import { clientLog } from './log.svelte';

class Session {
  user = $state<UserInfo | undefined>();
  connection = $state<ConnectionState>('closed');
  ready = $state(false);
  error = $state('');

  constructor() {
    onEngineEvent((e) => {
      if (e.type === 'connection.v1') {
        if (e.state !== this.connection) clientLog.add(e.state === 'open' ? 'info' : 'warn', `connection ${e.state}`, e.detail ? { detail: e.detail } : undefined);
        this.connection = e.state;
      } else if (e.type === 'log.v1') {
        clientLog.add(e.level, e.message, e.data);
      }
    });
  }

  /** Reconnects with the saved session, if any. */
  async init(): Promise<void> {
    const saved = await loadSession();
    try {
      const user = await engine.connect(relayUrl(), saved?.token);
      this.user = user;
    } catch (err) {
      if (errorCode(err) === 'SESSION_EXPIRED') {
        await clearSession();
        await engine.connect(relayUrl()).catch(() => {});
      } else if (saved) {
        // The relay is unreachable: keep working offline as the saved user; the engine reconnects.
        this.user = saved.user;
      }
    }
    this.ready = true;
  }

  async login(name: string, password: string): Promise<void> {
    this.error = '';
    try {
      if (this.connection === 'closed') await engine.connect(relayUrl());
      const r = await engine.login(name, password, await loadDevice(name));
      await saveSession({ token: r.token, user: r.user });
      await saveDevice(r.user.name, r.device);
      this.user = r.user;
      clientLog.add('info', `signed in as ${r.user.name}`);
    } catch (err) {
      this.error = (err as Error).message;
      clientLog.add('warn', 'sign-in failed', { code: errorCode(err) });
    }
  }

  accountMessage = $state('');

  /** Changes my password; my other sessions end. */
  async changePassword(current: string, password: string): Promise<void> {
    try {
      const r = await request('password.change', { current, password });
      this.accountMessage = `Password changed; ${r.endedSessions} other session(s) signed out.`;
      clientLog.add('info', 'password changed', { endedSessions: r.endedSessions });
    } catch (err) {
      this.accountMessage = describe(err);
    }
  }

  async logout(): Promise<void> {
    await engine.logout().catch(() => {});
    await clearSession();
    this.user = undefined;
    clientLog.add('info', 'signed out');
  }
}

export const session = new Session();
