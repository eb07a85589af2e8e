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
  return { space, root: root.path, folderId: root.id, keys: await meta.folderKeys(root.id, user.id) };
};
