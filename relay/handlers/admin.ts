/** Administration over the WebSocket: users, shared folders, my password, storage used, logs. */
import { FerryError, checkPath } from '../protocol/index.js';
import type { Access, Space } from '../store/meta-store.js';
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
  const { meta } = conn.ctx.library;
  const users = [];
  for (const u of await meta.listUsers()) {
    const usage = await meta.spaceUsage((await meta.homeSpace(u.id)).id);
    users.push({ name: u.name, role: u.role, disabled: u.disabled, createdAt: u.createdAt, homeBytes: usage.bytes, homeFiles: usage.files });
  }
  return { users };
};

export const userRemove: Handler<'user.remove'> = async (conn, msg) => {
  const admin = requireAdmin(conn);
  const { meta } = conn.ctx.library;
  const user = await meta.getUserByName(msg.name);
  if (!user) throw new FerryError('NOT_FOUND', `No user ${msg.name}.`);
  if (user.id === admin.id) throw new FerryError('FORBIDDEN', 'You cannot remove yourself; another admin can.');
  // Signed out first: nothing of theirs runs while their rows go.
  conn.ctx.disconnectUser(user.id);
  const removed = await meta.deleteUser(user.id);
  conn.ctx.library.scheduleGc();
  conn.ctx.log.info({ event: 'user.remove', by: admin.name, user: user.name, ...removed }, 'user removed with their files');
  return { name: user.name, ...removed };
};

/** A shared folder name: one path segment a command line can write before `:`, and not `me`. */
function folderName(name: string): string {
  const n = checkPath(name.trim());
  if (n.includes('/') || n.includes(':') || n.toLowerCase() === 'me') {
    throw new FerryError('BAD_PATH', 'A shared folder name is one name without "/" or ":", and not "me".');
  }
  return n;
}

async function folderInfo(conn: Parameters<Handler<'folder.list'>>[0], space: Space) {
  const { meta } = conn.ctx.library;
  const usage = await meta.spaceUsage(space.id);
  return {
    id: space.id,
    name: space.name,
    members: (await meta.members(space.id)).map((m) => ({ user: m.name, access: m.access })),
    files: usage.files,
    bytes: usage.bytes,
    createdAt: space.createdAt,
  };
}

async function sharedFolder(conn: Parameters<Handler<'folder.list'>>[0], id: number): Promise<Space> {
  const space = await conn.ctx.library.meta.getSpace(id);
  if (!space || space.kind !== 'shared') throw new FerryError('NOT_FOUND', 'No such shared folder.');
  return space;
}

/** Applies member changes: every user must exist; all or nothing. */
async function setMembers(conn: Parameters<Handler<'folder.list'>>[0], space: Space, set: { user: string; access: Access | 'none' }[]) {
  const { meta } = conn.ctx.library;
  const users: { id: number; access: Access | undefined }[] = [];
  for (const m of set) {
    const u = await meta.getUserByName(m.user);
    if (!u) throw new FerryError('NOT_FOUND', `No user ${m.user}.`);
    users.push({ id: u.id, access: m.access === 'none' ? undefined : m.access });
  }
  for (const u of users) await meta.setMember(space.id, u.id, u.access);
  conn.ctx.spacesChanged(users.map((u) => u.id));
}

export const folderList: Handler<'folder.list'> = async (conn) => {
  requireAdmin(conn);
  const folders = [];
  for (const s of await conn.ctx.library.meta.listSharedSpaces()) folders.push(await folderInfo(conn, s));
  return { folders };
};

export const folderCreate: Handler<'folder.create'> = async (conn, msg) => {
  const admin = requireAdmin(conn);
  const { meta } = conn.ctx.library;
  const name = folderName(msg.name);
  for (const m of msg.members) if (!(await meta.getUserByName(m.user))) throw new FerryError('NOT_FOUND', `No user ${m.user}.`);
  const space = await meta.createSharedSpace(name, Date.now());
  await setMembers(conn, space, msg.members);
  conn.ctx.log.info({ event: 'folder.create', by: admin.name, folder: space.name, members: msg.members }, 'shared folder created');
  return folderInfo(conn, space);
};

export const folderMembers: Handler<'folder.members'> = async (conn, msg) => {
  const admin = requireAdmin(conn);
  const space = await sharedFolder(conn, msg.folder);
  await setMembers(conn, space, msg.set);
  conn.ctx.log.info({ event: 'folder.members', by: admin.name, folder: space.name, set: msg.set }, 'shared folder members changed');
  return folderInfo(conn, space);
};

export const folderRemove: Handler<'folder.remove'> = async (conn, msg) => {
  const admin = requireAdmin(conn);
  const space = await sharedFolder(conn, msg.folder);
  const { files } = await conn.ctx.library.meta.spaceUsage(space.id);
  const members = (await conn.ctx.library.meta.members(space.id)).map((m) => m.userId);
  await conn.ctx.library.meta.deleteSpace(space.id);
  conn.ctx.spacesChanged(members);
  conn.ctx.library.scheduleGc();
  conn.ctx.log.info({ event: 'folder.remove', by: admin.name, folder: space.name, files }, 'shared folder deleted with everything in it');
  return { name: space.name, files };
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
  await conn.ctx.refreshUser(user.id);
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
  return { logicalBytes: await conn.ctx.library.meta.logicalBytes(), storedBytes, chunks, ...(await conn.ctx.library.meta.counts()) };
};

export const sweep: Handler<'sweep'> = async (conn) => {
  const admin = requireAdmin(conn);
  const result = await conn.ctx.library.sweep();
  conn.ctx.log.info({ event: 'sweep.request', by: admin.name, ...result }, 'sweep run on request');
  return result;
};

export const logSubscribe: Handler<'log.subscribe'> = async (conn) => {
  requireAdmin(conn);
  conn.logSubscription?.();
  conn.logSubscription = await conn.ctx.logFeed.subscribe((line) => conn.sendLogLine(line));
  return { lines: await conn.ctx.logFeed.recent() };
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
