/**
 * Accounts: users, sign-in, sessions and the one-time setup token. Session tokens
 * are 256-bit random strings handed to the client once; only their SHA-256 is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FerryError, type Role } from '../protocol/index.js';
import type { MetaStore, User } from '../store/meta-store.js';
import { DUMMY_HASH, hashPassword, verifyPassword } from './passwords.js';
import { Throttle, type RuleName } from './throttle.js';

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
    this.throttle = throttle ?? new Throttle();
  }

  private checkNewUser(name: string, password: string): void {
    if (!USER_NAME.test(name)) throw new FerryError('BAD_MESSAGE', 'User names are 1–64 letters, digits, dots, dashes or underscores.');
    if (password.length < 8) throw new FerryError('BAD_MESSAGE', 'Passwords need at least 8 characters.');
  }

  async addUser(name: string, role: Role, password: string): Promise<User> {
    this.checkNewUser(name, password);
    return this.meta.createUser({ name, role, passwordHash: await hashPassword(password), now: Date.now() });
  }

  /**
   * Checks a password and opens a session. Throws LOGIN_THROTTLED, RELAY_BUSY or
   * LOGIN_FAILED. `device` is the device token an earlier sign-in of this user here
   * returned: such a known device is throttled on its own, not with the account or the
   * address (so failed guesses elsewhere never lock it out). The reply's `device` is the
   * token to keep.
   */
  async login(name: string, password: string, address: string, device?: string): Promise<{ token: string; user: User; expiresAt: number; device: string }> {
    const user = this.meta.getUserByName(name);
    const deviceHash = device ? hashToken(device) : undefined;
    const known = !!(user && deviceHash && this.meta.getDevice(deviceHash)?.userId === user.id);
    const account = name.toLowerCase();
    const keys: [RuleName, string][] = known
      ? [['pair', `device:${deviceHash}`]]
      : [['pair', `${account}|${address}`], ['account', account], ['address', address]];
    const ok = await this.throttle.check(keys, async () => (await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH, address)) && !!user);
    if (!ok || !user) throw new FerryError('LOGIN_FAILED');
    // Said only to whoever knows the password: a guesser cannot tell a disabled account apart.
    if (user.disabled) throw new FerryError('ACCOUNT_DISABLED');
    const token = randomToken();
    const now = Date.now();
    const expiresAt = now + this.sessionTtlMs;
    this.meta.createSession(hashToken(token), user.id, now, expiresAt);
    let deviceToken = device;
    if (!known || !deviceToken) {
      deviceToken = randomToken();
      this.meta.createDevice(hashToken(deviceToken), user.id, now);
    }
    return { token, user, expiresAt, device: deviceToken };
  }

  /** The user a session token belongs to. Throws SESSION_EXPIRED. */
  authenticate(token: string): { user: User; expiresAt: number; tokenHash: string } {
    const tokenHash = hashToken(token);
    return { ...this.checkSession(tokenHash), tokenHash };
  }

  /**
   * The session's user as the database has them now (role, disabled), for every request:
   * a demotion, a disabled account or a sign-out elsewhere applies at once. Throws
   * SESSION_EXPIRED when the session is gone, expired or its user disabled.
   */
  checkSession(tokenHash: string, now = Date.now()): { user: User; expiresAt: number } {
    const session = this.meta.getSession(tokenHash);
    const user = session && this.meta.getUser(session.userId);
    if (!session || !user || user.disabled || session.expiresAt <= now) {
      if (session) this.meta.deleteSession(tokenHash);
      throw new FerryError('SESSION_EXPIRED');
    }
    return { user, expiresAt: session.expiresAt };
  }

  /** Changes a user (admins only, checked by the caller). Disabling or a new password ends their sessions. */
  async update(name: string, change: { role?: Role; disabled?: boolean; password?: string }): Promise<User> {
    const user = this.meta.getUserByName(name);
    if (!user) throw new FerryError('NOT_FOUND', `No user ${name}.`);
    if (change.password !== undefined) this.checkNewUser(user.name, change.password);
    const losesAdmin = user.role === 'admin' && !user.disabled && (change.role === 'user' || change.disabled === true);
    if (losesAdmin && this.meta.countAdmins() <= 1) throw new FerryError('FORBIDDEN', 'The last admin cannot be demoted or disabled.');
    this.meta.updateUser(user.id, {
      role: change.role,
      disabled: change.disabled,
      passwordHash: change.password !== undefined ? await hashPassword(change.password) : undefined,
    });
    if (change.disabled || change.password !== undefined) this.meta.deleteUserSessions(user.id);
    return this.meta.getUser(user.id)!;
  }

  /** Changes my own password after checking the current one; ends my other sessions. */
  async changePassword(user: User, keepTokenHash: string | undefined, current: string, password: string, address = 'local'): Promise<number> {
    const fresh = this.meta.getUser(user.id)!;
    this.checkNewUser(fresh.name, password);
    // Guessing the current password through a stolen session is throttled like a sign-in.
    if (!(await this.throttle.check([['pair', `password:${user.id}`]], () => verifyPassword(current, fresh.passwordHash, address)))) {
      throw new FerryError('LOGIN_FAILED', 'The current password is wrong.');
    }
    this.meta.updateUser(user.id, { passwordHash: await hashPassword(password, address) });
    return this.meta.deleteUserSessions(user.id, keepTokenHash);
  }

  logout(tokenHash: string): void {
    this.meta.deleteSession(tokenHash);
  }

  /** Creates a one-time setup token for the first admin (valid 24 h). */
  createSetupToken(): string {
    const token = randomToken();
    this.meta.createSetupToken(hashToken(token), Date.now() + 86_400_000);
    return token;
  }

  /** Creates the first admin with a setup token. Throws SETUP_INVALID. */
  async setupAdmin(token: string, name: string, password: string): Promise<User> {
    this.checkNewUser(name, password);
    if (this.meta.countAdmins() > 0 || !this.meta.consumeSetupToken(hashToken(token), Date.now())) throw new FerryError('SETUP_INVALID');
    return this.addUser(name, 'admin', password);
  }
}
