/** The library: spaces, list, history, verify, restore, delete, folders, moves, trash, search. */
import { FerryError, MAX_SEARCH_HITS, checkFolder, checkPath, parentOf } from '../protocol/index.js';
import { MAX_CHANGES_PER_REPLY } from '../limits.js';
import type { Handler } from './types.js';
import type { TrashItem } from '../store/meta-store.js';

export const spaces: Handler<'spaces'> = async (conn) => {
  const user = conn.requireUser();
  // spacesOf never holds a space of link copies (those are reached through link.space only).
  const listed = (await conn.ctx.library.meta.spacesOf(user.id)).filter((s) => s.kind !== 'links');
  return { spaces: listed.map((s) => ({ id: s.id, kind: s.kind as 'home' | 'shared', name: s.name, access: s.access })) };
};

export const list: Handler<'list'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const folder = checkFolder(msg.folder);
  const { meta } = conn.ctx.library;
  let entries = await meta.listFolder(space, folder);
  if (entries.length === 0 && folder !== '' && !(await meta.isFolder(space, folder))) {
    const file = await meta.getVersion(space, folder);
    if (!file) throw new FerryError('NOT_FOUND', `No file or folder "${folder}".`);
    entries = (await meta.listFolder(space, parentOf(file.path))).filter((e) => e.path === folder);
  }
  // Encrypted folders among the entries, and the one this folder is in (clients decrypt names there).
  const encryptedHere = await meta.encryptedFoldersIn(space, folder);
  const root = await meta.encryptionRoot(space, folder);
  return {
    space,
    folder,
    ...(root ? { encrypted: { root: root.path, id: root.id } } : {}),
    entries: entries.map((e) =>
      e.kind === 'folder'
        ? { kind: 'folder' as const, name: e.name, path: e.path, ...(encryptedHere.has(e.path) ? { encrypted: encryptedHere.get(e.path) } : {}) }
        : {
            kind: 'file' as const,
            name: e.name,
            path: e.path,
            size: e.current.size,
            mtime: e.current.mtime,
            modifiedAt: e.current.createdAt,
            uploader: e.current.uploader,
            version: e.current.version,
            versions: e.versions,
            contentHash: e.current.contentHash,
            sha256: e.current.sha256,
          },
    ),
  };
};

export const tree: Handler<'tree'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const folder = msg.folder === '' ? '' : checkPath(msg.folder);
  const limit = msg.limit ?? 5000;
  const entries = await conn.ctx.library.meta.tree(space, folder, msg.after, limit + 1);
  return { space, folder, entries: entries.slice(0, limit), more: entries.length > limit };
};

export const stat: Handler<'stat'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  return { space, entries: await conn.ctx.library.meta.entriesAt(space, [...new Set(msg.paths.map((p) => checkPath(p)))]) };
};

export const history: Handler<'history'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const path = checkPath(msg.path);
  const versions = await conn.ctx.library.meta.listVersions(space, path);
  if (versions.length === 0) throw new FerryError('NOT_FOUND', `No file "${path}".`);
  return {
    path,
    versions: versions.map((v) => ({
      version: v.version,
      size: v.size,
      mtime: v.mtime,
      createdAt: v.createdAt,
      uploader: v.uploader,
      contentHash: v.contentHash,
      ...(v.conflict !== undefined ? { conflict: v.conflict } : {}),
      ...(v.executable ? { executable: true } : {}),
      ...(v.sealed !== undefined ? { sealed: v.sealed } : {}),
      sha256: v.sha256,
      current: v.current,
    })),
  };
};

export const verify: Handler<'verify'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const result = await conn.ctx.library.verify(space, checkPath(msg.path), msg.version);
  conn.ctx.log[result.ok ? 'info' : 'error']({ event: 'verify', user: user.name, space, ...result }, result.ok ? 'verify ok' : 'verify found damage');
  return result;
};

export const restore: Handler<'restore'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const result = await conn.ctx.library.restore(user, space, checkPath(msg.path), msg.version);
  conn.ctx.log.info({ event: 'restore', user: user.name, space, ...result }, 'version restored');
  return result;
};

export const conflictResolve: Handler<'conflict.resolve'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const result = await conn.ctx.library.resolveConflict(user, space, checkPath(msg.path), msg.keep);
  conn.ctx.log.info({ event: 'conflict.resolve', user: user.name, space, keep: msg.keep, ...result }, 'conflict resolved');
  return result;
};

export const remove: Handler<'delete'> = async (conn, msg) => {
  const user = conn.requireUser();
  if (user.role !== 'admin') throw new FerryError('FORBIDDEN', 'Only admins can delete for good; move it to the trash instead.');
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const result = await conn.ctx.library.remove(user, space, checkPath(msg.path), msg.version);
  conn.ctx.log.info({ event: 'delete', user: user.name, space, version: msg.version, ...result }, 'deleted');
  return result;
};

export const mkdir: Handler<'mkdir'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const result = await conn.ctx.library.makeFolder(user, space, checkPath(msg.path));
  conn.ctx.log.info({ event: 'mkdir', user: user.name, ...result }, 'folder made');
  return result;
};

export const move: Handler<'move'> = async (conn, msg) => {
  const user = conn.requireUser();
  const { library } = conn.ctx;
  const from = { spaceId: await library.space(user, msg.space, 'edit'), path: checkPath(msg.path) };
  const to = { spaceId: msg.toSpace === undefined ? from.spaceId : await library.space(user, msg.toSpace, 'edit'), path: checkPath(msg.to) };
  const result = await library.move(user, from, to, msg.reseal);
  conn.ctx.log.info({ event: 'move', user: user.name, space: from.spaceId, path: from.path, toSpace: to.spaceId, to: to.path, kind: result.kind, files: result.files }, 'moved');
  return result;
};

function trashInfo(t: TrashItem) {
  return { item: t.id, path: t.path, kind: t.kind, trashedAt: t.trashedAt, trashedBy: t.trashedBy, files: t.files, bytes: t.bytes };
}

export const trash: Handler<'trash'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const item = await conn.ctx.library.trash(user, space, checkPath(msg.path));
  conn.ctx.log.info({ event: 'trash', user: user.name, space, path: item.path, item: item.id, files: item.files }, 'moved to the trash');
  return { space, trashed: trashInfo(item) };
};

export const trashList: Handler<'trash.list'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  return { space, items: (await conn.ctx.library.meta.listTrash(space)).map(trashInfo), purgeAfterDays: conn.ctx.library.opts.trashDays };
};

export const trashRestore: Handler<'trash.restore'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'edit');
  const result = await conn.ctx.library.untrash(user, space, msg.item);
  conn.ctx.log.info({ event: 'untrash', user: user.name, item: msg.item, ...result }, 'restored from the trash');
  return result;
};

export const trashPurge: Handler<'trash.purge'> = async (conn, msg) => {
  const user = conn.requireUser();
  if (user.role !== 'admin') throw new FerryError('FORBIDDEN', 'Only admins can delete from the trash for good.');
  // An admin empties any space's trash (a user's too) without seeing what was in it.
  const space = msg.space ?? (await conn.ctx.library.meta.homeSpace(user.id)).id;
  if (!(await conn.ctx.library.meta.getSpace(space))) throw new FerryError('NOT_FOUND', 'No such space.');
  const result = await conn.ctx.library.purge(user, space, msg.item);
  conn.ctx.log.info({ event: 'trash.purge', user: user.name, item: msg.item, ...result }, 'deleted from the trash for good');
  return result;
};

export const zipTicket: Handler<'zip.ticket'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const paths = msg.paths.map((p) => (p === '' ? '' : checkPath(p)));
  // A zip is made on the relay, which cannot open what an encrypted folder holds (encrypted
  // folders under a folder zipped are left out of it).
  for (const p of paths) {
    const inside = await conn.ctx.library.meta.encryptionRoot(space, p);
    if (inside) throw new FerryError('E2E_REQUIRED', `"${inside.path}" is end-to-end encrypted: the relay cannot put its contents in a zip. Download it with a client that decrypts.`);
  }
  const info = (await conn.ctx.library.meta.getSpace(space))!;
  const result = await conn.ctx.zips.issue(user, space, paths, info.kind === 'home' ? 'My files' : info.name);
  conn.ctx.log.info({ event: 'zip.ticket', user: user.name, space, paths: paths.slice(0, 10), files: result.files, bytes: result.bytes }, 'zip download issued');
  return result;
};

export const mediaKey: Handler<'media.key'> = async (conn) => {
  conn.requireUser();
  return conn.ctx.media.issue(conn.tokenHash!);
};

export const changes: Handler<'changes'> = async (conn, msg) => {
  const user = conn.requireUser();
  const { library } = conn.ctx;
  const { epoch, position } = await library.changePosition();
  if (msg.since === undefined) return { epoch, position, events: [], more: false, reset: false };
  if (msg.epoch !== undefined && msg.epoch !== epoch) return { epoch, position, events: [], more: false, reset: true };
  const limit = Math.min(msg.limit ?? MAX_CHANGES_PER_REPLY, MAX_CHANGES_PER_REPLY);
  const spaces = (await library.meta.spacesOf(user.id)).map((s) => s.id);
  const { events, reset } = await library.changesSince(msg.since, limit + 1, spaces);
  const more = events.length > limit;
  const shown = events.slice(0, limit);
  // With nothing (more) to show, the position moves to the newest change, past others' spaces.
  return { epoch, position: more ? shown[shown.length - 1].seq : Math.max(msg.since, shown.at(-1)?.seq ?? 0, position), events: shown, more, reset };
};

export const search: Handler<'search'> = async (conn, msg) => {
  const user = conn.requireUser();
  const { library } = conn.ctx;
  const spaceIds = msg.space !== undefined ? [await library.space(user, msg.space, 'view')] : (await library.meta.spacesOf(user.id)).map((s) => s.id);
  const { hits, truncated } = await library.meta.search(spaceIds, msg.text, MAX_SEARCH_HITS);
  return { hits: hits.map((h) => ({ space: h.spaceId, kind: h.kind, path: h.path, name: h.name, size: h.size, modifiedAt: h.modifiedAt })), truncated };
};
