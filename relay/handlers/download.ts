/** Downloads over the WebSocket: the chunk list, then chunk frames on request. */
import { FRAME_DOWNLOAD_CHUNK, FerryError, checkPath } from '../protocol/index.js';
import type { Handler } from './types.js';

export const downloadBegin: Handler<'download.begin'> = async (conn, msg) => {
  const user = conn.requireUser();
  const space = await conn.ctx.library.space(user, msg.space, 'view');
  const v = await conn.ctx.library.version(space, checkPath(msg.path), msg.version);
  const handle = conn.handle();
  // A client that never sends download.end does not grow this map without end.
  if (conn.downloads.size >= 256) conn.downloads.delete(conn.downloads.keys().next().value!);
  // By file id: a rename or move while it downloads does not break it.
  conn.downloads.set(handle, { fileId: v.fileId, space, path: v.path, version: v.version });
  conn.ctx.log.info({ event: 'download.begin', user: user.name, path: v.path, version: v.version, size: v.size }, 'download begun');
  return {
    handle,
    path: v.path,
    version: v.version,
    size: v.size,
    mtime: v.mtime,
    contentHash: v.contentHash,
    sha256: v.sha256,
    chunks: v.chunks,
    ...(v.executable ? { executable: true } : {}),
    ...(v.sealed !== undefined ? { sealed: v.sealed } : {}),
  };
};

export const downloadRead: Handler<'download.read'> = async (conn, msg) => {
  const user = conn.requireUser();
  const d = conn.downloads.get(msg.handle);
  if (!d) throw new FerryError('NOT_FOUND', `No download with handle ${msg.handle} on this connection.`);
  const v = await conn.ctx.library.meta.getFileVersion(d.fileId, d.version);
  // Access taken away (or the file trashed) since the download began ends it.
  if (!v || await conn.ctx.library.meta.accessOf(user.id, v.spaceId) === undefined) throw new FerryError('NOT_FOUND', `"${d.path}" is no longer there.`);
  for (const index of msg.indices) if (!v.chunks[index]) throw new FerryError('CHUNK_OUT_OF_RANGE', `Chunk ${index} is not in the chunk list.`, { index });
  // One read at a time per connection, each waiting for room in the send buffer: a client
  // that asks for everything and reads nothing holds at most one chunk in the relay.
  await conn.queueDownload(async () => {
    for (const index of msg.indices) {
      await conn.sendRoom();
      const chunk = v.chunks[index];
      try {
        await conn.sendStoredChunk(FRAME_DOWNLOAD_CHUNK, msg.handle, index, chunk.sha256, chunk.length);
      } catch (err) {
        if ((err as FerryError).code !== 'NOT_FOUND' && (err as FerryError).code !== 'INTEGRITY_FAILED') throw err;
        conn.ctx.log.error({ event: 'integrity', code: 'INTEGRITY_FAILED', path: d.path, version: d.version, index }, 'a chunk is missing from storage');
        throw new FerryError('INTEGRITY_FAILED', `Chunk ${index} of ${d.path} is missing from storage.`, { index });
      }
    }
  });
  return {};
};

export const downloadEnd: Handler<'download.end'> = async (conn, msg) => {
  const d = conn.downloads.get(msg.handle);
  if (d) conn.ctx.log.info({ event: 'transfer', direction: 'download', user: conn.user?.name, path: d.path, version: d.version }, 'download finished');
  conn.downloads.delete(msg.handle);
  return {};
};
