/**
 * The relay's limits in one place: what one client, one user or one address may hold,
 * send or make the relay buffer. `docs/limits.md` explains each; protocol limits that
 * clients must know too (frame and list sizes) are in protocol/constants.ts.
 *
 * Each can be changed at start with the environment variable FERRY_LIMITS, a JSON object
 * such as `{"STALL_MS": 5000}` (tests use it to make timeouts short).
 */

const overrides: Record<string, unknown> = (() => {
  try {
    return JSON.parse(process.env.FERRY_LIMITS ?? '{}') as Record<string, unknown>;
  } catch {
    throw new Error('FERRY_LIMITS must be a JSON object like {"STALL_MS": 5000}');
  }
})();

function limit(name: string, value: number): number {
  const v = overrides[name];
  if (v === undefined) return value;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`FERRY_LIMITS.${name} must be a non-negative number`);
  return v;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 1024 * 1024 * MiB;

// ---------------------------------------------------------------- per user

/** Unfinished upload sessions one user may have open; past it the least recently active idle one is dropped. */
export const MAX_OPEN_UPLOADS_PER_USER = limit('MAX_OPEN_UPLOADS_PER_USER', 64);
/** Declared bytes of one user's unfinished upload sessions together. */
export const MAX_OPEN_UPLOAD_BYTES_PER_USER = limit('MAX_OPEN_UPLOAD_BYTES_PER_USER', 2 * TiB);

// ---------------------------------------------------------------- before sign-in

/** Bytes a connection may send before it signs in (a login is well under 2 KB). */
export const PRE_AUTH_MAX_BYTES = limit('PRE_AUTH_MAX_BYTES', 256 * KiB);
/** An unauthenticated connection that sends nothing for this long is closed. */
export const PRE_AUTH_SILENCE_MS = limit('PRE_AUTH_SILENCE_MS', 30_000);
/** Refused messages an unauthenticated connection may send before it is closed. */
export const PRE_AUTH_MAX_REFUSALS = limit('PRE_AUTH_MAX_REFUSALS', 20);
/** Unauthenticated connections at once, from one address and in all. */
export const MAX_UNAUTH_PER_ADDRESS = limit('MAX_UNAUTH_PER_ADDRESS', 32);
export const MAX_UNAUTH_CONNECTIONS = limit('MAX_UNAUTH_CONNECTIONS', 1024);

// ---------------------------------------------------------------- relay-wide

/** Chunk bytes received and not yet stored, all connections together (see ChunkBudget). */
export const MAX_CHUNK_BYTES_IN_FLIGHT = limit('MAX_CHUNK_BYTES_IN_FLIGHT', 96 * MiB);

// ---------------------------------------------------------------- per connection

/** Requests one connection may have in progress; the relay stops reading it past this. */
export const MAX_PENDING_REQUESTS = limit('MAX_PENDING_REQUESTS', 64);
/** Chunk writes one connection may have pending; the relay stops reading it at this. */
export const MAX_PENDING_WRITES = limit('MAX_PENDING_WRITES', 6);
/** Download chunks wait while the connection's send buffer holds more than this. */
export const SEND_BUFFER_SOFT = limit('SEND_BUFFER_SOFT', 1 * MiB);
/** A connection whose send buffer grows past this (a peer that does not read) is closed. */
export const SEND_BUFFER_HARD = limit('SEND_BUFFER_HARD', 64 * MiB);
/** Live log lines to one admin are dropped (and the gap reported) while their send buffer holds more than this. */
export const LOG_SEND_BUFFER = limit('LOG_SEND_BUFFER', 1 * MiB);
/** A connection whose send buffer does not shrink for this long is closed. */
export const STALL_MS = limit('STALL_MS', 60_000);
/** The relay pings every connection this often and closes one that missed two pongs. */
export const HEARTBEAT_MS = limit('HEARTBEAT_MS', 30_000);

// ---------------------------------------------------------------- HTTP

/** An HTTP socket with no traffic either way for this long (a stalled download) is closed. */
export const HTTP_IDLE_MS = limit('HTTP_IDLE_MS', 60_000);
/** Link downloads read chunks in pieces of this size, so a stalled response holds little. */
export const LINK_READ_BYTES = limit('LINK_READ_BYTES', 256 * KiB);

/** How long the log lines relays share (for the live admin log) are kept. */
export const SHARED_LOG_MS = limit('SHARED_LOG_MS', 3_600_000);

/** The change log keeps changes this long: a client away longer lists its folders again instead of catching up. */
export const CHANGE_LOG_MS = limit('CHANGE_LOG_MS', 30 * 86_400_000);

/** At most this many changes in one answer to `changes` (a client asks again for the rest). */
export const MAX_CHANGES_PER_REPLY = limit('MAX_CHANGES_PER_REPLY', 1000);

// ---------------------------------------------------------------- sign-in

/** A one-time sign-in code (the QR code that signs a phone in) is good for this long. */
export const SIGNIN_CODE_MS = limit('SIGNIN_CODE_MS', 5 * 60_000);

// ---------------------------------------------------------------- password hashing

/** scrypt runs at once (each takes a libuv thread, which file I/O needs too). */
export const PASSWORD_HASHES_AT_ONCE = limit('PASSWORD_HASHES_AT_ONCE', 2);
/** Password checks waiting, in all and from one address; past these a check is refused with RELAY_BUSY. */
export const PASSWORD_QUEUE = limit('PASSWORD_QUEUE', 256);
export const PASSWORD_QUEUE_PER_ADDRESS = limit('PASSWORD_QUEUE_PER_ADDRESS', 32);

// ---------------------------------------------------------------- logs

/** A log file is closed and a new one begun before it would pass this size. */
export const LOG_FILE_BYTES = limit('LOG_FILE_BYTES', 20 * 1000 * 1000);
/** Log files kept (the oldest is removed): at most LOG_FILES_KEPT × LOG_FILE_BYTES on disk. */
export const LOG_FILES_KEPT = limit('LOG_FILES_KEPT', 14);
/** Refusals logged per second, relay-wide; the rest are counted and summed up in one line. */
export const REFUSALS_LOGGED_PER_SECOND = limit('REFUSALS_LOGGED_PER_SECOND', 20);
