/** Sign-in, token authentication and sign-out. */
import { hashToken } from '../auth/accounts.js';
import type { Handler } from './types.js';

export const login: Handler<'login'> = async (conn, msg) => {
  const { accounts, log } = conn.ctx;
  try {
    const { token, user, expiresAt } = await accounts.login(msg.user, msg.password, conn.address);
    conn.user = user;
    conn.sessionExpiresAt = expiresAt;
    conn.tokenHash = hashToken(token);
    log.info({ event: 'login', user: user.name, addr: conn.address, ok: true }, 'login ok');
    return { token, user: { name: user.name, role: user.role }, expiresAt };
  } catch (err) {
    log.warn({ event: 'login', user: msg.user, addr: conn.address, ok: false, code: (err as { code?: string }).code }, 'login failed');
    throw err;
  }
};

export const auth: Handler<'auth'> = async (conn, msg) => {
  const { user, expiresAt, tokenHash } = conn.ctx.accounts.authenticate(msg.token);
  conn.user = user;
  conn.sessionExpiresAt = expiresAt;
  conn.tokenHash = tokenHash;
  conn.ctx.log.debug({ event: 'auth', user: user.name, addr: conn.address }, 'session resumed');
  return { user: { name: user.name, role: user.role }, expiresAt };
};

export const logout: Handler<'logout'> = async (conn) => {
  if (conn.tokenHash) conn.ctx.accounts.logout(conn.tokenHash);
  conn.ctx.log.info({ event: 'logout', user: conn.user?.name, addr: conn.address }, 'logout');
  conn.user = undefined;
  conn.tokenHash = undefined;
  return {};
};

export const ping: Handler<'ping'> = async () => ({});
