/**
 * Accounts: users, sign-in, sessions, one-time sign-in codes and the one-time setup token. Session tokens
 * are 256-bit random strings handed to the client once; only their SHA-256 is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FerryError, type Role } from '../protocol/index.js';
import type { MetaStore, User } from '../store/meta-store.js';
import { isStorageError } from '../store/storage-error.js';
import { SIGNIN_CODE_MS } from '../limits.js';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.js';
import { RULES, Throttle, type RuleName } from './throttle.js';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

const USER_NAME = /^[\p{L}\p{N}._-]{1,64}$/u;

export class Accounts {
  readonly throttle: Throttle;

  constructor(
    private readonly meta: MetaStore,
    private readonly sessionTtlMs: number,
    throttle?: Throttle,
  ) {
    this.throttle = throttle ?? new Throttle(RULES, meta.attempts);
  }

  private checkNewUser(name: string, password: string): void {
    if (!USER_NAME.test(name)) throw new FerryError('BAD_MESSAGE', 'User names are 1–64 letters, digits, dots, dashes or underscores.');
    if (password.length < 8) throw new FerryError('BAD_MESSAGE', 'Passwords need at least 8 characters.');
  }

  async addUser(name: string, role: Role, password: string): Promise<User> {
    this.checkNewUser(name, password);
    return await this.meta.createUser({ name, role, passwordHash: await hashPassword(password), now: Date.now() });
  }

  /**
   * Checks a password and opens a session. Throws LOGIN_THROTTLED, RELAY_BUSY or
   * LOGIN_FAILED. `device` is the device token an earlier sign-in of this user here
   * returned: such a known device is throttled on its own, not with the account or the
   * address (so failed guesses elsewhere never lock it out). The reply's `device` is the
   * token to keep.
   */
  async login(name: string, password: string, address: string, device?: string): Promise<{ token: string; user: User; expiresAt: number; device: string; deviceHash: string }> {
    const user = await this.meta.getUserByName(name);
    const deviceHash = device ? hashToken(device) : undefined;
    const known = !!(user && deviceHash && (await this.meta.getDevice(deviceHash))?.userId === user.id);
    const account = name.toLowerCase();
    const keys: [RuleName, string][] = known
      ? [['pair', `device:${deviceHash}`]]
      : [['pair', `${account}|${address}`], ['account', account], ['address', address]];
    const ok = await this.throttle.check(keys, async () => (await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH, address)) && !!user);
    if (!ok || !user) throw new FerryError('LOGIN_FAILED');
    // Said only to whoever knows the password: a guesser cannot tell a disabled account apart.
    if (user.disabled) throw new FerryError('ACCOUNT_DISABLED');
    return this.openSession(user, known ? device : undefined);
  }

  /** A new session for `user`, and the device token to keep (`device` when it is one of theirs already). */
  private async openSession(user: User, device?: string): Promise<{ token: string; user: User; expiresAt: number; device: string; deviceHash: string }> {
    const token = randomToken();
    const now = Date.now();
    const expiresAt = now + this.sessionTtlMs;
    let deviceToken = device;
    if (!deviceToken) {
      deviceToken = randomToken();
      await this.meta.createDevice(hashToken(deviceToken), user.id, now);
    }
    const deviceHash = hashToken(deviceToken);
    await this.meta.createSession(hashToken(token), user.id, now, expiresAt, deviceHash);
    await this.meta.updateDevice(deviceHash, { lastSeenAt: now });
    return { token, user, expiresAt, device: deviceToken, deviceHash };
  }

  /**
   * A one-time sign-in code for `user` (256 random bits, only its hash kept), good for
   * SIGNIN_CODE_MS: a signed-in device shows it in a QR code and the phone that scans it
   * is signed in as `user` without typing a password.
   */
  async createSigninCode(user: User, now = Date.now()): Promise<{ code: string; expiresAt: number }> {
    const code = randomToken();
    const expiresAt = now + SIGNIN_CODE_MS;
    await this.meta.createSigninCode(hashToken(code), user.id, expiresAt, now);
    return { code, expiresAt };
  }

  /** Withdraws one of `user`'s unused codes (it was shown and is no longer wanted). */
  cancelSigninCode(user: User, code: string): Promise<boolean> {
    return this.meta.deleteSigninCode(hashToken(code), user.id);
  }

  /**
   * Opens a session with a sign-in code: once, before it expires, while its maker is
   * enabled. The code is spent by the first try, right or not. Failures count against
   * the address like wrong passwords. Throws SIGNIN_CODE_INVALID or LOGIN_THROTTLED.
   */
  async loginWithCode(code: string, address: string, device?: string): Promise<{ token: string; user: User; expiresAt: number; device: string; deviceHash: string }> {
    let user: User | undefined;
    const ok = await this.throttle.check([['address', address]], async () => {
      const userId = await this.meta.consumeSigninCode(hashToken(code), Date.now());
      user = userId === undefined ? undefined : await this.meta.getUser(userId);
      return !!user && !user.disabled;
    });
    if (!ok || !user) throw new FerryError('SIGNIN_CODE_INVALID');
    const deviceHash = device ? hashToken(device) : undefined;
    const known = !!(deviceHash && (await this.meta.getDevice(deviceHash))?.userId === user.id);
    return this.openSession(user, known ? device : undefined);
  }

  /** The user a session token belongs to. Throws SESSION_EXPIRED. */
  async authenticate(token: string): Promise<{ user: User; expiresAt: number; tokenHash: string; deviceHash?: string }> {
    const tokenHash = hashToken(token);
    return { ...(await this.checkSession(tokenHash)), tokenHash };
  }

  /**
   * The session's user as the database has them now (role, disabled), for every request:
   * a demotion, a disabled account or a sign-out elsewhere applies at once. Throws
   * SESSION_EXPIRED when the session is gone, expired or its user disabled.
   */
  async checkSession(tokenHash: string, now = Date.now()): Promise<{ user: User; expiresAt: number; deviceHash?: string }> {
    const session = await this.meta.getSession(tokenHash);
    const user = session?.user;
    if (!session || !user || user.disabled || session.expiresAt <= now) {
      if (session) await this.meta.deleteSession(tokenHash);
      throw new FerryError('SESSION_EXPIRED');
    }
    return { user, expiresAt: session.expiresAt, deviceHash: session.deviceHash };
  }

  /** Changes a user (admins only, checked by the caller). Disabling or a new password ends their sessions. */
  async update(name: string, change: { role?: Role; disabled?: boolean; password?: string }): Promise<User> {
    const user = await this.meta.getUserByName(name);
    if (!user) throw new FerryError('NOT_FOUND', `No user ${name}.`);
    if (change.password !== undefined) this.checkNewUser(user.name, change.password);
    const losesAdmin = user.role === 'admin' && !user.disabled && (change.role === 'user' || change.disabled === true);
    if (losesAdmin && (await this.meta.countAdmins()) <= 1) throw new FerryError('FORBIDDEN', 'The last admin cannot be demoted or disabled.');
    await this.meta.updateUser(user.id, {
      role: change.role,
      disabled: change.disabled,
      passwordHash: change.password !== undefined ? await hashPassword(change.password) : undefined,
    });
    if (change.disabled || change.password !== undefined) {
      await this.meta.deleteUserSessions(user.id);
      await this.meta.deleteSigninCodes(user.id);
    }
    return (await this.meta.getUser(user.id))!;
  }

  /** Changes my own password after checking the current one; ends my other sessions. */
  async changePassword(user: User, keepTokenHash: string | undefined, current: string, password: string, address = 'local'): Promise<number> {
    const fresh = (await this.meta.getUser(user.id))!;
    this.checkNewUser(fresh.name, password);
    // Guessing the current password through a stolen session is throttled like a sign-in.
    if (!(await this.throttle.check([['pair', `password:${user.id}`]], () => verifyPassword(current, fresh.passwordHash, address)))) {
      throw new FerryError('LOGIN_FAILED', 'The current password is wrong.');
    }
    await this.meta.updateUser(user.id, { passwordHash: await hashPassword(password, address) });
    await this.meta.deleteSigninCodes(user.id);
    return this.meta.deleteUserSessions(user.id, keepTokenHash);
  }

  /**
   * A device was heard from (a session resumed on it). Only a note for the devices list:
   * when it cannot be written (a full disk, a database refusing writes) the session still
   * resumes, as reads still work there.
   */
  async seen(deviceHash: string, now = Date.now()): Promise<void> {
    try {
      await this.meta.updateDevice(deviceHash, { lastSeenAt: now });
    } catch (err) {
      if (!isStorageError(err) && (err as FerryError).code !== 'STORAGE_FAILED') throw err;
    }
  }

  async logout(tokenHash: string): Promise<void> {
    await this.meta.deleteSession(tokenHash);
  }

  /** Creates a one-time setup token for the first admin (valid 24 h). */
  async createSetupToken(): Promise<string> {
    const token = randomToken();
    await this.meta.createSetupToken(hashToken(token), Date.now() + 86_400_000);
    return token;
  }

  /** Creates the first admin with a setup token. Throws SETUP_INVALID. */
  async setupAdmin(token: string, name: string, password: string): Promise<User> {
    this.checkNewUser(name, password);
    if ((await this.meta.countAdmins()) > 0 || !(await this.meta.consumeSetupToken(hashToken(token), Date.now()))) throw new FerryError('SETUP_INVALID');
    return this.addUser(name, 'admin', password);
  }
}
