/** The library: list, history, verify, restore, delete. */
import { FerryError, checkFolder, checkPath } from '../protocol/index.js';
import type { Handler } from './types.js';

export const list: Handler<'list'> = async (conn, msg) => {
  const folder = checkFolder(msg.folder);
  const { meta } = conn.ctx.library;
  let entries = meta.listFolder(folder);
  if (entries.length === 0 && folder !== '') {
    const file = meta.getVersion(folder);
    if (!file) throw new FerryError('NOT_FOUND', `No file or folder "${folder}".`);
    entries = meta.listFolder(file.path.includes('/') ? file.path.slice(0, file.path.lastIndexOf('/')) : '').filter((e) => e.path === folder);
  }
  return {
    folder,
    entries: entries.map((e) =>
      e.kind === 'folder'
        ? { kind: 'folder' as const, name: e.name, path: e.path }
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

export const history: Handler<'history'> = async (conn, msg) => {
  const path = checkPath(msg.path);
  const versions = conn.ctx.library.meta.listVersions(path);
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
      sha256: v.sha256,
      current: v.current,
    })),
  };
};

export const verify: Handler<'verify'> = async (conn, msg) => {
  const result = await conn.ctx.library.verify(checkPath(msg.path), msg.version);
  conn.ctx.log[result.ok ? 'info' : 'error']({ event: 'verify', user: conn.user?.name, ...result }, result.ok ? 'verify ok' : 'verify found damage');
  return result;
};

export const restore: Handler<'restore'> = async (conn, msg) => {
  const user = conn.requireUser();
  const result = conn.ctx.library.restore(user, checkPath(msg.path), msg.version);
  conn.ctx.log.info({ event: 'restore', user: user.name, ...result }, 'version restored');
  return result;
};

export const remove: Handler<'delete'> = async (conn, msg) => {
  const user = conn.requireUser();
  const result = conn.ctx.library.remove(user, checkPath(msg.path), msg.version);
  conn.ctx.log.info({ event: 'delete', user: user.name, version: msg.version, ...result }, 'deleted');
  return result;
};
