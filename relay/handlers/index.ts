/** One handler per request type; the map's type makes a missing handler a compile error. */
import type { HandlerMap } from './types.js';
import { auth, login, loginCode, logout, ping, signinCode, signinCodeCancel } from './auth.js';
import { uploadBegin, uploadCancel, uploadCommit, uploadExtend } from './upload.js';
import { conflictResolve, changes, history, tree, list, mkdir, move, remove, restore, search, spaces, trash, trashList, trashPurge, trashRestore, verify, zipTicket, mediaKey } from './files.js';
import { downloadBegin, downloadEnd, downloadRead } from './download.js';
import { linkCreate, linkList, linkRevoke } from './links.js';
import { deviceList, deviceReport, deviceRevoke } from './devices.js';
import { folderCreate, folderList, folderMembers, folderRemove, logRead, logSubscribe, logUnsubscribe, passwordChange, stats, sweep, userAdd, userList, userRemove, userUpdate } from './admin.js';

export const HANDLERS: HandlerMap = {
  login,
  'login.code': loginCode,
  'signin.code': signinCode,
  'signin.code.cancel': signinCodeCancel,
  'conflict.resolve': conflictResolve,
  'device.report': deviceReport,
  'device.list': deviceList,
  'device.revoke': deviceRevoke,
  auth,
  logout,
  ping,
  spaces,
  'upload.begin': uploadBegin,
  'upload.extend': uploadExtend,
  'upload.commit': uploadCommit,
  'upload.cancel': uploadCancel,
  list,
  history,
  tree,
  'download.begin': downloadBegin,
  'download.read': downloadRead,
  'download.end': downloadEnd,
  verify,
  restore,
  delete: remove,
  mkdir,
  move,
  trash,
  'trash.list': trashList,
  'trash.restore': trashRestore,
  'trash.purge': trashPurge,
  search,
  changes,
  'zip.ticket': zipTicket,
  'media.key': mediaKey,
  'link.create': linkCreate,
  'link.list': linkList,
  'link.revoke': linkRevoke,
  'user.list': userList,
  'user.add': userAdd,
  'user.update': userUpdate,
  'user.remove': userRemove,
  'folder.list': folderList,
  'folder.create': folderCreate,
  'folder.members': folderMembers,
  'folder.remove': folderRemove,
  'password.change': passwordChange,
  stats,
  sweep,
  'log.subscribe': logSubscribe,
  'log.unsubscribe': logUnsubscribe,
  'log.read': logRead,
};
