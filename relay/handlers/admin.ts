/** Administration over the WebSocket: users, my password, storage used. */
import { FerryError } from '../protocol/index.js';
import type { ClientConnection } from '../connection.js';
import type { Handler } from './types.js';
import { readLogRange } from '../log.js';

function requireAdmin(conn: ClientConnection) {
  const user = conn.requireUser();
  if (user.role !== 'admin') throw new FerryError('FORBIDDEN', 'Only admins can do this.');
  return user;
}

export const userList: Handler<'user.list'> = async (conn) => {
  requireAdmin(conn);
  return { users: conn.ctx.library.meta.listUsers().map((u) => ({ name: u.name, role: u.role, disabled: u.disabled, createdAt: u.createdAt })) };
};

export const userAdd: Handler<'user.add'> = async (conn, msg) => {
  const admin = requireAdmin(conn);
  const user = await conn.ctx.accounts.addUser(msg.name, msg.role, msg.password);
  conn.ctx.log.info({ event: 'user.add', by: admin.name, user: user.name, role: user.role }, 'user added');
  return { name: user.name, role: user.role };
};

export const userUpdate: Handler<'user.update'> = async (conn, msg) => {
  const admin = requireAdmin(conn);
  const user = await conn.ctx.accounts.update(msg.name, { role: msg.role, disabled: msg.disabled, password: msg.password });
  // A disabled user, or one whose password was reset, is signed out everywhere at once;
  // a changed role applies to their open connections at once.
  const closed = msg.disabled || msg.password !== undefined ? conn.ctx.disconnectUser(user.id, user.id === admin.id ? conn : undefined) : 0;
  conn.ctx.refreshUser(user.id);
  conn.ctx.log.info({ event: 'user.update', by: admin.name, user: user.name, role: msg.role, disabled: msg.disabled, passwordReset: msg.password !== undefined, closed }, 'user changed');
  return { name: user.name, role: user.role, disabled: user.disabled };
};

export const passwordChange: Handler<'password.change'> = async (conn, msg) => {
  const user = conn.requireUser();
  const endedSessions = await conn.ctx.accounts.changePassword(user, conn.tokenHash, msg.current, msg.password, conn.address);
  conn.ctx.disconnectUser(user.id, conn);
  conn.ctx.log.info({ event: 'password.change', user: user.name, endedSessions }, 'password changed');
  return { endedSessions };
};

export const stats: Handler<'stats'> = async (conn) => {
  requireAdmin(conn);
  let storedBytes = 0;
  let chunks = 0;
  for await (const c of conn.ctx.library.chunks.list()) {
    storedBytes += c.size;
    chunks++;
  }
  return { logicalBytes: conn.ctx.library.meta.logicalBytes(), storedBytes, chunks, ...conn.ctx.library.meta.counts() };
};

export const logSubscribe: Handler<'log.subscribe'> = async (conn) => {
  requireAdmin(conn);
  conn.logSubscription?.();
  conn.logSubscription = conn.ctx.logHub.subscribe((line) => conn.sendLogLine(line));
  return { lines: [...conn.ctx.logHub.recent] };
};

export const logUnsubscribe: Handler<'log.unsubscribe'> = async (conn) => {
  conn.logSubscription?.();
  conn.logSubscription = undefined;
  return {};
};

export const logRead: Handler<'log.read'> = async (conn, msg) => {
  requireAdmin(conn);
  const limit = 20_000;
  const lines = await readLogRange(conn.ctx.config.dataDir, msg.from, msg.to, limit);
  return { lines, truncated: lines.length >= limit };
};
