/**
 * My end-to-end encryption keys as the app shows them: whether I have them, whether they
 * are unlocked on this browser, and for how long. The account key itself stays in the
 * engine worker (docs/encryption.md).
 */
import { describe, engine } from '../net/engine';
import type { E2ePerson, E2eState } from '../workers/engine-api';
import { clientLog } from './log.svelte';

/** "Lock after a while without use": this long without a key or a touch. */
export const IDLE_LOCK_MS = 15 * 60_000;

export type KeepUnlocked = 'session' | 'signout' | 'idle';

class Keys {
  state = $state<E2eState | undefined>();
  error = $state('');
  /** The recovery key just made, shown once until the person says they wrote it down. */
  recoveryKey = $state<string | undefined>();
  /** The people of an encrypted folder and their keys, while that dialog is open. */
  people = $state<{ space?: number; folder: string; list: E2ePerson[] } | undefined>();
  /** Others' key fingerprints pinned on this browser. */
  pins = $state<{ user: string; fingerprint: string }[]>([]);
  private idleTimer?: ReturnType<typeof setTimeout>;
  private onIdle?: () => void;

  async load(): Promise<void> {
    try {
      this.state = await engine.e2eState();
    } catch (err) {
      this.error = describe(err);
    }
  }

  async loadPins(): Promise<void> {
    try {
      this.pins = await engine.e2ePins();
    } catch (err) {
      this.error = describe(err);
    }
  }

  /** Opens the dialog of who holds the key of the encrypted folder `folder` is in. */
  async showPeople(space: number | undefined, folder: string): Promise<void> {
    this.error = '';
    try {
      this.people = { space, folder, list: await engine.e2ePeople(space, folder) };
    } catch (err) {
      this.error = describe(err);
    }
  }

  closePeople(): void {
    this.people = undefined;
  }

  /**
   * Trusts `fingerprint` as `user`'s key on this browser (after the person compared it with
   * them), or forgets the one pinned (undefined): keys are then shared with, and taken
   * from, that key only.
   */
  async trust(user: string, fingerprint: string | undefined): Promise<void> {
    this.error = '';
    try {
      await engine.e2eTrust(user, fingerprint);
      clientLog.add('info', fingerprint ? `trusted ${user}'s public key ${fingerprint}` : `forgot the public key pinned for ${user}`);
      if (this.people) this.people = { ...this.people, list: await engine.e2ePeople(this.people.space, this.people.folder) };
      await this.loadPins();
    } catch (err) {
      this.error = describe(err);
    }
  }

  get unlocked(): boolean {
    return !!this.state?.unlocked;
  }

  async setup(passphrase: string): Promise<boolean> {
    this.error = '';
    try {
      const r = await engine.e2eSetup(passphrase);
      this.recoveryKey = r.recoveryKey;
      clientLog.add('info', 'encryption keys made');
      await this.load();
      return true;
    } catch (err) {
      this.error = describe(err);
      return false;
    }
  }

  /** Unlocks with the passphrase (or the recovery key); true when it worked. */
  async unlock(secret: string, keep: KeepUnlocked, recovery = false): Promise<boolean> {
    this.error = '';
    try {
      await engine.e2eUnlock(secret, { recovery, keep: keep === 'signout' ? 'signout' : 'session' });
      clientLog.add('info', `encryption keys unlocked (${keep})`);
      this.watchIdle(keep === 'idle');
      await this.load();
      return true;
    } catch (err) {
      this.error = describe(err);
      return false;
    }
  }

  async lock(): Promise<void> {
    this.watchIdle(false);
    await engine.e2eLock().catch(() => {});
    clientLog.add('info', 'encryption keys locked');
    await this.load();
    this.onIdle?.();
  }

  /** What to do after the keys locked themselves (show the library again, locked). */
  whenLocked(fn: () => void): void {
    this.onIdle = fn;
  }

  private idle = () => {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.lock(), IDLE_LOCK_MS);
  };

  private watchIdle(on: boolean): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    for (const type of ['pointerdown', 'keydown']) window.removeEventListener(type, this.idle);
    if (!on) return;
    for (const type of ['pointerdown', 'keydown']) window.addEventListener(type, this.idle, { passive: true });
    this.idle();
  }
}

export const keys = new Keys();
