/** Devices: what each says about itself (name, folders it syncs), the list, and revoking one. */
import { FerryError, SyncedFolderInfo, type DeviceInfo } from '../protocol/index.js';
import { DEVICE_ID_LENGTH, type DeviceRow } from '../store/meta-store.js';
import type { Handler } from './types.js';

function folders(row: DeviceRow): SyncedFolderInfo[] {
  if (!row.sync) return [];
  try {
    // Checked when it was reported; checked again so a damaged row cannot break the list.
    const parsed = SyncedFolderInfo.array().safeParse(JSON.parse(row.sync));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}

export const deviceReport: Handler<'device.report'> = async (conn, msg) => {
  const user = conn.requireUser();
  const deviceHash = conn.deviceHash;
  if (!deviceHash) throw new FerryError('BAD_MESSAGE', 'This session was opened before devices were recorded: sign in again to register this device.');
  await conn.ctx.library.meta.updateDevice(deviceHash, { name: msg.name, kind: msg.kind, sync: msg.sync ? JSON.stringify(msg.sync) : undefined, lastSeenAt: Date.now() });
  conn.ctx.log.debug({ event: 'device.report', user: user.name, device: deviceHash.slice(0, DEVICE_ID_LENGTH), folders: msg.sync?.length }, 'device reported');
  return { device: deviceHash.slice(0, DEVICE_ID_LENGTH) };
};

export const deviceList: Handler<'device.list'> = async (conn, msg) => {
  const user = conn.requireUser();
  if (msg.all && user.role !== 'admin') throw new FerryError('FORBIDDEN', 'Only admins see every user’s devices.');
  const rows = await conn.ctx.library.meta.listDevices(msg.all ? undefined : user.id);
  const devices: DeviceInfo[] = rows.map((r) => ({
    id: r.id,
    user: r.user,
    name: r.name,
    kind: r.kind === 'app' || r.kind === 'cli' ? r.kind : undefined,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    revoked: r.revokedAt !== undefined,
    current: r.tokenHash === conn.deviceHash,
    sync: folders(r),
  }));
  return { devices };
};

export const deviceRevoke: Handler<'device.revoke'> = async (conn, msg) => {
  const user = conn.requireUser();
  const done = await conn.ctx.library.meta.revokeDevice(msg.device, user.role === 'admin' ? undefined : user.id, Date.now());
  if (!done) throw new FerryError('NOT_FOUND', 'No such device.');
  // Its connections end now, on every relay; its next request would fail anyway.
  for (const s of done.sessions) conn.ctx.disconnectSession(s);
  conn.ctx.log.info({ event: 'device.revoke', by: user.name, device: msg.device, owner: done.userId, endedSessions: done.sessions.length }, 'device revoked');
  return { endedSessions: done.sessions.length };
};
