/**
 * End-to-end encryption on the relay: it keeps what clients sealed (key records, wrapped
 * folder keys) and opens none of it. Where encrypted names and sealed versions may go is
 * enforced by the store, in the same transactions that write them.
 */
import { FerryError, checkPath } from '../protocol/index.js';
import { parseKeyRecord } from '../crypto/account.js';
import type { Handler } from './types.js';

export const e2eKeys: Handler<'e2e.keys'> = async (conn) => {
  const user = conn.requireUser();
  const record = await conn.ctx.library.meta.getKeyRecord(user.id);
  return record === undefined ? {} : { record };
};

export const e2eKeysPut: Handler<'e2e.keys.put'> = async (conn, msg) => {
  const user = conn.requireUser();
  const next = parseKeyRecord(msg.record);
  const { meta } = conn.ctx.library;
  if (msg.replace) {
    // A new passphrase (or a recovery) wraps the same keys again; it never swaps the key pair,
    // which folders are (or will be) wrapped to.
    const before = await meta.getKeyRecord(user.id);
    if (before === undefined) throw new FerryError('E2E_NO_KEYS');
    if (parseKeyRecord(before).publicKey !== next.publicKey) throw new FerryError('BAD_MESSAGE', 'A replaced key record keeps its public key.');
  }
  await meta.putKeyRecord(user.id, msg.record, Date.now(), msg.replace);
  conn.ctx.log.info({ event: 'e2e.keys', user: user.name, replaced: msg.replace }, msg.replace ? 'encryption keys re-wrapped' : 'encryption keys made');
  return {};
};

export const e2eMkdir: Handler<'e2e.mkdir'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const path = checkPath(msg.path);
  if ((await conn.ctx.library.meta.getKeyRecord(user.id)) === undefined) throw new FerryError('E2E_NO_KEYS');
  await conn.ctx.library.meta.makeEncryptedFolder(space, path, msg.folderId, user.id, msg.envelope, Date.now(), user.name);
  conn.ctx.log.info({ event: 'e2e.mkdir', user: user.name, space, path }, 'encrypted folder made');
  return { space, path };
};

export const e2eFolder: Handler<'e2e.folder'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const path = msg.path === '' ? '' : checkPath(msg.path);
  const { meta } = conn.ctx.library;
  const root = await meta.encryptionRoot(space, path);
  if (!root) return { space, keys: [] };
  const keys = await meta.folderKeys(root.id, user.id);
  const info = await meta.getSpace(space);
  if (info?.kind !== 'shared') return { space, root: root.path, folderId: root.id, keys };
  return { space, root: root.path, folderId: root.id, keys, people: await people(conn, space, root.id) };
};

/** The members of a shared folder and everyone else who holds or gave a key of an encrypted folder in it. */
async function people(conn: Parameters<Handler<'e2e.folder'>>[0], space: number, e2eId: string) {
  const { meta } = conn.ctx.library;
  const members = await meta.members(space);
  const holders = await meta.folderKeyHolders(e2eId);
  const ids = new Set([...members.map((m) => m.userId), ...holders.map((h) => h.userId)]);
  const out = [];
  for (const id of ids) {
    const u = await meta.getUser(id);
    if (!u) continue;
    const record = await meta.getKeyRecord(id);
    let publicKey: string | undefined;
    try {
      publicKey = record ? parseKeyRecord(record).publicKey : undefined;
    } catch {
      publicKey = undefined;
    }
    out.push({ user: u.name, member: members.some((m) => m.userId === id), ...(publicKey ? { publicKey } : {}), epochs: holders.filter((h) => h.userId === id).map((h) => h.epoch) });
  }
  return out;
}

/** The encrypted folder `folderId` in the space asked for, with edit access, and the users named (each a member). */
async function forSharing(conn: Parameters<Handler<'e2e.grant'>>[0], spaceArg: number | undefined, folderId: string, names: string[]) {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, spaceArg, 'edit');
  const { meta } = conn.ctx.library;
  const folder = await meta.encryptedFolderById(folderId);
  if (!folder || folder.spaceId !== space) throw new FerryError('NOT_FOUND', 'No such encrypted folder here.');
  const members = new Map((await meta.members(space)).map((m) => [m.name.toLowerCase(), m.userId]));
  const owner = (await meta.getSpace(space))?.ownerId;
  if (owner !== undefined) members.set(user.name.toLowerCase(), owner);
  const ids = names.map((n) => {
    const id = members.get(n.toLowerCase());
    if (id === undefined) throw new FerryError('FORBIDDEN', `${n} is not a member of this folder.`);
    return id;
  });
  return { user, ids };
}

export const e2eGrant: Handler<'e2e.grant'> = async (conn, msg) => {
  const { user, ids } = await forSharing(conn, msg.space, msg.folderId, msg.keys.map((k) => k.user));
  const added = await conn.ctx.library.meta.addFolderKeys(msg.folderId, user.id, msg.keys.map((k, i) => ({ userId: ids[i], epoch: k.epoch, envelope: k.envelope })), Date.now());
  conn.ctx.log.info({ event: 'e2e.grant', user: user.name, folder: msg.folderId, added }, 'folder keys shared');
  return { added };
};

export const e2eRotate: Handler<'e2e.rotate'> = async (conn, msg) => {
  const { user, ids } = await forSharing(conn, msg.space, msg.folderId, msg.keys.map((k) => k.user));
  await conn.ctx.library.meta.addFolderKeys(msg.folderId, user.id, msg.keys.map((k, i) => ({ userId: ids[i], epoch: msg.epoch, envelope: k.envelope })), Date.now(), msg.epoch);
  conn.ctx.log.info({ event: 'e2e.rotate', user: user.name, folder: msg.folderId, epoch: msg.epoch }, 'folder key replaced');
  return {};
};
