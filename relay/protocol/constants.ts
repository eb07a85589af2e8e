/**
 * Protocol facts shared by the relay and every client. No Node or DOM imports here:
 * this folder is imported by the relay, the CLI and the PWA alike.
 */

/** Wire protocol version spoken on `/ws`. Bumped on any breaking wire change. */
export const PROTOCOL_VERSION = 3;

/** The WebSocket subprotocol that names the wire protocol version. */
export const SUBPROTOCOL = `ferry.v${PROTOCOL_VERSION}`;

/** Path of the WebSocket endpoint on the relay. */
export const WS_PATH = '/ws';

/** Chunk size the reference chunker uses (4 MiB: makes the content hash Dropbox's `content_hash`). */
export const CHUNK_SIZE = 4 * 1024 * 1024;

/** Largest chunk the relay accepts. The chunk list is explicit, so clients may use any size up to this. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/** Largest file the relay accepts (1 TiB). */
export const MAX_FILE_BYTES = 2 ** 40;

/** Most chunks one upload may list in all (a 1 TiB file in 4 MiB chunks). */
export const MAX_CHUNKS = Math.ceil(MAX_FILE_BYTES / CHUNK_SIZE);

/**
 * Most chunks one `upload.begin` or `upload.extend` may list (about 110 KB of JSON):
 * longer lists go in several messages, so no single message takes the relay long to
 * parse and validate while other clients wait.
 */
export const MAX_LIST_CHUNKS = 1024;
/** Paths one `stat` request may ask about. */
export const MAX_STAT_PATHS = 1000;

/** Largest JSON control message accepted from a signed-in client, in bytes. */
export const MAX_CONTROL_BYTES = 1024 * 1024;

/** Longest expiry a share link may be given (100 years, in ms). */
export const MAX_LINK_EXPIRY_MS = 100 * 365 * 86_400_000;
/** The longest message a share link may carry, in UTF-16 code units. */
export const MAX_LINK_MESSAGE = 2000;

/** Longest path component, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

/** Longest whole path, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;

/**
 * Binary frames: a 9-byte header, then the chunk's bytes.
 *   byte 0     frame kind (FRAME_UPLOAD_CHUNK or FRAME_DOWNLOAD_CHUNK)
 *   bytes 1-4  session handle (uint32, big endian), assigned by the relay
 *   bytes 5-8  chunk index in the session's chunk list (uint32, big endian)
 */
export const FRAME_HEADER_BYTES = 9;
export const FRAME_UPLOAD_CHUNK = 1;
export const FRAME_DOWNLOAD_CHUNK = 2;

/** Conflict policies an upload may ask for when its path already exists. */
export const CONFLICT_POLICIES = ['version', 'rename', 'overwrite'] as const;
export type ConflictPolicy = (typeof CONFLICT_POLICIES)[number];

/** What a member may do in a shared folder. */
export const ACCESS_LEVELS = ['view', 'edit'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

/** Largest number of search hits one `search` answers. */
export const MAX_SEARCH_HITS = 500;

/** Account roles. */
export const ROLES = ['admin', 'user'] as const;
export type Role = (typeof ROLES)[number];
