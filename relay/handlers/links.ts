/** Share links over the WebSocket: create, list, revoke. */
import { linkInfo } from '../links/share-links.js';
import type { Handler } from './types.js';

export const linkCreate: Handler<'link.create'> = async (conn, msg) => {
  const user = conn.requireUser();
  const link = await conn.ctx.links.create(user, msg);
  // The owner's other devices list it at once.
  await conn.ctx.linkChanged(link.id);
  conn.ctx.log.info({ event: 'link.create', user: user.name, id: link.id, path: link.path, version: link.version, expiresAt: link.expiresAt, maxDownloads: link.maxDownloads, protected: !!link.passwordHash, encrypted: !!link.e2e }, 'link created');
  return linkInfo(link, conn.ctx.config.publicUrl);
};

export const linkList: Handler<'link.list'> = async (conn, msg) => {
  const user = conn.requireUser();
  return { links: (await conn.ctx.links.list(user, msg.all)).map((l) => linkInfo(l, conn.ctx.config.publicUrl)) };
};

export const linkRevoke: Handler<'link.revoke'> = async (conn, msg) => {
  const user = conn.requireUser();
  await conn.ctx.links.revoke(user, msg.link);
  await conn.ctx.linkChanged(msg.link);
  conn.ctx.log.info({ event: 'link.revoke', user: user.name, id: msg.link }, 'link revoked');
  // The sealed copy an encrypted link handed out goes with it (and the link's row with the copy).
  await conn.ctx.library.dropLinkCopies();
  return { link: msg.link };
};

export const linkSpace: Handler<'link.space'> = async (conn) => {
  const user = conn.requireUser();
  return { space: await conn.ctx.links.space(user) };
};
