/**
 * The one table of error codes. Every refusal the relay sends and every failure a
 * client reports carries one of these codes; `docs/errors.md` documents each
 * (a test fails if one is missing there).
 */
export const ERRORS = {
  BAD_MESSAGE: 'The message is not valid for this protocol version.',
  UNKNOWN_MESSAGE_TYPE: 'The relay does not know this message type.',
  AUTH_REQUIRED: 'Sign in first.',
  LOGIN_FAILED: 'Wrong user name or password.',
  LOGIN_THROTTLED: 'Too many failed sign-ins. Wait a while and try again.',
  ACCOUNT_DISABLED: 'This account is disabled. Ask an admin to enable it again.',
  SESSION_EXPIRED: 'The session expired or was revoked. Sign in again.',
  FORBIDDEN: 'Your role does not allow this.',
  SETUP_INVALID: 'The setup link is unknown or was already used.',
  SIGNIN_CODE_INVALID: 'This sign-in code is unknown, expired or was already used. Make a new one on a signed-in device.',
  USER_EXISTS: 'A user with that name already exists.',
  SPACE_EXISTS: 'A shared folder with that name already exists.',
  READ_ONLY: 'You can view this shared folder but not change it.',
  BAD_PATH: 'The path is not allowed (.., absolute, control characters, or a name over 255 bytes).',
  BAD_CHUNK_LIST: 'The chunk list does not cover the file exactly.',
  SIZE_MISMATCH: 'The chunk list does not add up to the declared size.',
  FILE_TOO_LARGE: 'The file is larger than the relay accepts.',
  UNKNOWN_UPLOAD: 'No such upload session (it expired, was committed or cancelled).',
  UPLOAD_CHANGED: 'The upload session was taken over by another connection, or its chunk list is not the one this client listed. Begin again.',
  TOO_MANY_UPLOADS: 'Too many unfinished uploads. Let some finish or cancel them, then try again.',
  QUOTA_EXCEEDED: 'This would go over your storage quota.',
  CHUNK_OUT_OF_RANGE: 'The chunk index is not in the upload\'s chunk list.',
  CHUNK_TOO_LARGE: 'The chunk is larger than the relay accepts.',
  CHUNK_LENGTH_MISMATCH: 'The chunk length differs from the chunk list.',
  CHUNK_HASH_MISMATCH: 'The chunk\'s SHA-256 does not match; send it again.',
  CHUNKS_MISSING: 'Some chunks have not been received yet.',
  NOT_FOUND: 'No such file or version.',
  IS_FOLDER: 'That path is a folder.',
  PATH_CONFLICT: 'A file or folder already takes part of that path.',
  STORAGE_FAILED: 'The relay could not store the data. Nothing was lost; try again.',
  INTEGRITY_FAILED: 'Stored data does not match its hashes.',
  DOWNLOAD_HASH_MISMATCH: 'A downloaded chunk does not match its SHA-256.',
  CONNECTION_LOST: 'The connection to the relay was lost.',
  LOCAL_FILE_EXISTS: 'A local file of that name exists already.',
  LOCAL_CHANGED: 'The local file changed while it was being synced; it is compared again in a moment.',
  SYNC_PAUSED: 'This sync pair is paused; see why with ferry sync status.',
  LINK_EXPIRED: 'This link has expired.',
  LINK_EXHAUSTED: 'This link has been used as many times as it allows.',
  LINK_REVOKED: 'This link was revoked by its owner.',
  LINK_PASSWORD_REQUIRED: 'This link is protected by a password.',
  RANGE_NOT_SATISFIABLE: 'The requested byte range is outside the file.',
  ORIGIN_REFUSED: 'This page\'s origin may not connect to the relay.',
  RELAY_BUSY: 'The relay is busy. Try again in a moment.',
  TLS_REQUIRED: 'This relay speaks HTTPS: connect with https:// or wss://.',
  TLS_UNTRUSTED: 'The relay\'s certificate is not one this client trusts (it changed, or its authority is unknown).',
  E2E_UNAVAILABLE: 'Encrypted folders need WebCrypto: open the app over https (or on localhost).',
  E2E_NO_KEYS: 'You have no encryption keys yet: set them up with ferry keys init (or in the app) first.',
  E2E_KEYS_EXIST: 'Your encryption keys exist already; change the passphrase instead, or recover with the recovery key.',
  E2E_LOCKED: 'Your encryption keys are locked: unlock them with your passphrase first (ferry unlock).',
  E2E_WRONG_PASSPHRASE: 'The passphrase (or recovery key) does not unlock your keys.',
  E2E_KEY_CHANGED: 'The relay gives a person another public key than this device saw before: nothing was shared with or taken from it.',
  E2E_TAMPERED: 'Encrypted data does not check out: it was altered, swapped or does not belong here. Nothing was written.',
  E2E_REQUIRED: 'This folder is end-to-end encrypted: only encrypted names and contents go in it, from a client that encrypts.',
  E2E_NOT_ALLOWED: 'Encrypted names and contents belong in an encrypted folder only; this move or upload would cross its boundary.',
  INTERNAL: 'The relay hit an unexpected error. Nothing was lost; try again.',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** An error with a stable `code` from {@link ERRORS} and a readable message. */
export class FerryError extends Error {
  readonly code: ErrorCode;
  /** Extra data that helps the receiver act (e.g. the chunk index to re-send). */
  readonly detail?: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, detail?: Record<string, unknown>) {
    super(message ?? ERRORS[code]);
    this.name = 'FerryError';
    this.code = code;
    this.detail = detail;
  }
}

/** True when `code` is one of the table's codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ERRORS, code);
}
