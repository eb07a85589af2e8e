/** Sign-in, token authentication and sign-out. */
import { hashToken } from '../auth/accounts.js';
import type { Handler } from './types.js';

export const login: Handler<'login'> = async (conn, msg) => {
  const { accounts, log } = conn.ctx;
  try {
    const { token, user, expiresAt, device, deviceHash } = await accounts.login(msg.user, msg.password, conn.address, msg.device);
    conn.signIn(user, hashToken(token), expiresAt, deviceHash);
    log.info({ event: 'login', user: user.name, addr: conn.address, ok: true, knownDevice: device === msg.device }, 'login ok');
    return { token, user: { name: user.name, role: user.role }, expiresAt, device };
  } catch (err) {
    conn.ctx.logRefusal({ event: 'login', user: msg.user, addr: conn.address, ok: false, code: (err as { code?: string }).code }, 'login failed');
    throw err;
  }
};

export const loginCode: Handler<'login.code'> = async (conn, msg) => {
  const { accounts, log } = conn.ctx;
  try {
    const { token, user, expiresAt, device, deviceHash } = await accounts.loginWithCode(msg.code, conn.address, msg.device);
    conn.signIn(user, hashToken(token), expiresAt, deviceHash);
    log.info({ event: 'login', method: 'code', user: user.name, addr: conn.address, ok: true, knownDevice: device === msg.device }, 'login ok with a sign-in code');
    return { token, user: { name: user.name, role: user.role }, expiresAt, device };
  } catch (err) {
    conn.ctx.logRefusal({ event: 'login', method: 'code', addr: conn.address, ok: false, code: (err as { code?: string }).code }, 'login with a sign-in code failed');
    throw err;
  }
};

export const signinCode: Handler<'signin.code'> = async (conn) => {
  const user = conn.requireUser();
  const made = await conn.ctx.accounts.createSigninCode(user);
  conn.ctx.log.info({ event: 'signin.code', user: user.name, addr: conn.address, expiresAt: made.expiresAt }, 'sign-in code made');
  return made;
};

export const signinCodeCancel: Handler<'signin.code.cancel'> = async (conn, msg) => {
  const user = conn.requireUser();
  const cancelled = await conn.ctx.accounts.cancelSigninCode(user, msg.code);
  conn.ctx.log.info({ event: 'signin.code.cancel', user: user.name, addr: conn.address, cancelled }, 'sign-in code withdrawn');
  return { cancelled };
};

export const auth: Handler<'auth'> = async (conn, msg) => {
  const { user, expiresAt, tokenHash, deviceHash } = await conn.ctx.accounts.authenticate(msg.token);
  conn.signIn(user, tokenHash, expiresAt, deviceHash);
  if (deviceHash) await conn.ctx.accounts.seen(deviceHash);
  conn.ctx.log.debug({ event: 'auth', user: user.name, addr: conn.address }, 'session resumed');
  return { user: { name: user.name, role: user.role }, expiresAt };
};

export const logout: Handler<'logout'> = async (conn) => {
  const tokenHash = conn.tokenHash;
  const name = conn.user?.name;
  let closed = 0;
  if (tokenHash) {
    await conn.ctx.accounts.logout(tokenHash);
    // Every connection signed in with this session ends with it, not just this one.
    closed = conn.ctx.disconnectSession(tokenHash, conn);
  }
  conn.signOut();
  conn.ctx.log.info({ event: 'logout', user: name, addr: conn.address, closed }, 'logout');
  return {};
};

export const ping: Handler<'ping'> = async () => ({});
