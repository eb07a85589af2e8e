/** Upload sessions: begin (or resume), commit, cancel. Chunk frames are handled by the connection. */
import { FerryError, checkPath } from '../protocol/index.js';
import type { Handler } from './types.js';
import { MAX_OPEN_UPLOADS_PER_USER } from '../limits.js';

export const uploadBegin: Handler<'upload.begin'> = async (conn, msg) => {
  const user = conn.requireUser();
  const spaceId = await conn.ctx.library.space(user, msg.space, 'edit');
  const path = checkPath(msg.path);
  // Legs another connection (or a later begin) took over are void: forget them.
  for (const [h, u] of conn.uploads) if (u.superseded) conn.uploads.delete(h);
  if (conn.uploads.size >= MAX_OPEN_UPLOADS_PER_USER) throw new FerryError('TOO_MANY_UPLOADS', `At most ${MAX_OPEN_UPLOADS_PER_USER} uploads at once on one connection.`);
  const { upload, need } = await conn.ctx.library.beginUpload(user, { ...msg, spaceId, path });
  const handle = conn.handle();
  conn.uploads.set(handle, upload);
  conn.ctx.log.debug({ event: 'upload.begin', user: user.name, path, size: msg.size, need: need.length, chunks: msg.chunks.length }, 'upload begun');
  return { upload: upload.record.id, handle, need };
};

export const uploadExtend: Handler<'upload.extend'> = async (conn, msg) => {
  const user = conn.requireUser();
  const upload = conn.uploads.get(msg.handle);
  if (!upload) throw new FerryError('UNKNOWN_UPLOAD', `No upload with handle ${msg.handle} on this connection.`);
  return { need: await conn.ctx.library.extendUpload(user, upload, msg.from, msg.chunks) };
};

export const uploadCommit: Handler<'upload.commit'> = async (conn, msg) => {
  const user = conn.requireUser();
  let handle: number | undefined;
  for (const [h, u] of conn.uploads) if (u.record.id === msg.upload) handle = h;
  const active = handle === undefined ? undefined : conn.uploads.get(handle);
  const result = await conn.ctx.library.commitUpload(user, msg.upload, active, msg.contentHash, { base: msg.base, device: msg.device, executable: msg.executable, sealed: msg.sealed });
  if (handle !== undefined) conn.uploads.delete(handle);
  const seconds = active ? (Date.now() - active.startedAt) / 1000 : 0;
  const received = active?.receivedBytes ?? 0;
  conn.ctx.log.info(
    {
      event: 'transfer',
      direction: 'upload',
      user: user.name,
      space: result.space,
      path: result.path,
      version: result.version,
      size: result.size,
      received,
      durationMs: Math.round(seconds * 1000),
      mibPerSec: seconds > 0 ? Number((received / 1048576 / seconds).toFixed(1)) : null,
      contentHash: result.contentHash,
      sha256: result.sha256,
      ...(result.conflict ? { conflict: result.conflict, conflictOf: result.conflictOf, device: msg.device } : {}),
    },
    result.conflict ? 'upload committed as a conflict' : 'upload committed',
  );
  return result;
};

export const uploadCancel: Handler<'upload.cancel'> = async (conn, msg) => {
  const user = conn.requireUser();
  await conn.ctx.library.cancelUpload(user, msg.upload);
  for (const [h, u] of conn.uploads) {
    if (u.record.id !== msg.upload) continue;
    conn.ctx.library.releaseUpload(u);
    conn.uploads.delete(h);
  }
  conn.ctx.log.info({ event: 'upload.cancel', user: user.name, upload: msg.upload }, 'upload cancelled');
  return {};
};

