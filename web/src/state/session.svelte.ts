/** Who is signed in and how the connection to the relay is doing. */
import type { ConnectionState } from '../../../relay/client';
import { FerryError, type UserInfo } from '../../../relay/protocol';
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

  /**
   * Reconnects with the saved session, if any. An address ending in `#signin=CODE` (the
   * QR code of Connect a device) signs in with that one-time code instead: the code is
   * taken out of the address first, so it is not left in the history or a bookmark.
   */
  async init(): Promise<void> {
    const code = takeSigninCode();
    if (code !== undefined) {
      try {
        if (!code) throw new FerryError('SIGNIN_CODE_INVALID');
        await engine.connect(relayUrl());
        await this.signedIn(await engine.loginWithCode(code), 'with a sign-in code');
        this.ready = true;
        return;
      } catch (err) {
        // Said on the sign-in screen; a saved session, if any, still opens below.
        this.error = describe(err);
        clientLog.add('warn', 'sign-in with a code failed', { code: errorCode(err) });
      }
    }
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
      await this.signedIn(await engine.login(name, password, await loadDevice(name)));
    } catch (err) {
      this.error = (err as Error).message;
      clientLog.add('warn', 'sign-in failed', { code: errorCode(err) });
    }
  }

  private async signedIn(r: { token: string; user: UserInfo; device: string }, how = ''): Promise<void> {
    await saveSession({ token: r.token, user: r.user });
    await saveDevice(r.user.name, r.device);
    this.user = r.user;
    clientLog.add('info', `signed in as ${r.user.name}${how ? ` ${how}` : ''}`);
  }

  /** A one-time code that signs another device in as me (its QR code is shown in Connect a device). */
  async signinCode(): Promise<{ code: string; expiresAt: number }> {
    return request('signin.code', {});
  }

  /** Withdraws a code that was shown and is no longer wanted. */
  async cancelSigninCode(code: string): Promise<void> {
    await request('signin.code.cancel', { code });
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

/**
 * The sign-in code in this page's address (`#signin=CODE`; '' when malformed), removed
 * from the address; undefined when there is none.
 */
function takeSigninCode(): string | undefined {
  const hash = location.hash;
  if (!hash.startsWith('#signin=')) return undefined;
  history.replaceState(history.state, '', location.pathname + location.search);
  return /^#signin=([A-Za-z0-9_-]{1,256})$/.exec(hash)?.[1] ?? '';
}

export const session = new Session();
