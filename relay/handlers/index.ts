/** One handler per request type; the map's type makes a missing handler a compile error. */
import type { HandlerMap } from './types.js';
import { auth, login, logout, ping } from './auth.js';
import { uploadBegin, uploadCancel, uploadCommit, uploadExtend } from './upload.js';
import { history, list, remove, restore, verify } from './files.js';
import { downloadBegin, downloadEnd, downloadRead } from './download.js';
import { linkCreate, linkList, linkRevoke } from './links.js';
import { logRead, logSubscribe, logUnsubscribe, passwordChange, stats, userAdd, userList, userUpdate } from './admin.js';

export const HANDLERS: HandlerMap = {
  login,
  auth,
  logout,
  ping,
  'upload.begin': uploadBegin,
  'upload.extend': uploadExtend,
  'upload.commit': uploadCommit,
  'upload.cancel': uploadCancel,
  list,
  history,
  'download.begin': downloadBegin,
  'download.read': downloadRead,
  'download.end': downloadEnd,
  verify,
  restore,
  delete: remove,
  'link.create': linkCreate,
  'link.list': linkList,
  'link.revoke': linkRevoke,
  'user.list': userList,
  'user.add': userAdd,
  'user.update': userUpdate,
  'password.change': passwordChange,
  stats,
  'log.subscribe': logSubscribe,
  'log.unsubscribe': logUnsubscribe,
  'log.read': logRead,
};
