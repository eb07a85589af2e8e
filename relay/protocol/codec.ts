/**
 * Encoding of frames on the wire: JSON text frames for control messages, binary
 * frames with a fixed 9-byte header for chunk data (see constants.ts).
 */
import { FRAME_HEADER_BYTES, MAX_CONTROL_BYTES } from './constants.js';
import { FerryError, type ErrorCode } from './errors.js';
import { REQUESTS, RelayMessage, type ClientMessage, type RequestType } from './messages.js';

export interface ChunkFrame {
  kind: number;
  handle: number;
  index: number;
  /** The chunk's bytes (a view into the frame, no copy). */
  data: Uint8Array;
}

/** Builds the 9-byte header of a chunk frame. */
export function encodeChunkHeader(kind: number, handle: number, index: number): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint8(0, kind);
  view.setUint32(1, handle);
  view.setUint32(5, index);
  return header;
}

/** Builds a whole chunk frame (header + data) in one buffer. */
export function encodeChunkFrame(kind: number, handle: number, index: number, data: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + data.byteLength);
  frame.set(encodeChunkHeader(kind, handle, index), 0);
  frame.set(data, FRAME_HEADER_BYTES);
  return frame;
}

/** Reads a chunk frame; throws BAD_MESSAGE when it is too short to hold a header. */
export function decodeChunkFrame(frame: Uint8Array): ChunkFrame {
  if (frame.byteLength < FRAME_HEADER_BYTES) throw new FerryError('BAD_MESSAGE', 'Binary frame shorter than its header.');
  const view = new DataView(frame.buffer, frame.byteOffset, FRAME_HEADER_BYTES);
  return {
    kind: view.getUint8(0),
    handle: view.getUint32(1),
    index: view.getUint32(5),
    data: frame.subarray(FRAME_HEADER_BYTES),
  };
}

/** A chunk frame that arrived as a fragmented message: its header, and its bytes as views into the fragments. */
export interface ChunkFrameParts extends Omit<ChunkFrame, 'data'> {
  data: Uint8Array[];
  /** Bytes in `data` altogether. */
  length: number;
}

/**
 * Reads a chunk frame from the fragments of one message without joining them (a
 * browser sends a 4 MiB message as ~30 fragments). Throws BAD_MESSAGE like
 * `decodeChunkFrame`.
 */
export function decodeChunkFrameParts(parts: readonly Uint8Array[]): ChunkFrameParts {
  let first = parts[0] ?? new Uint8Array(0);
  let rest = parts.slice(1);
  if (first.byteLength < FRAME_HEADER_BYTES && rest.length > 0) {
    // A header split across fragments: only a peculiar client does this, so join them all.
    first = joinParts(parts);
    rest = [];
  }
  const { data, ...header } = decodeChunkFrame(first);
  const all = [data, ...rest].filter((p) => p.byteLength > 0);
  return { ...header, data: all, length: partsLength(all) };
}

/** Bytes in `parts` altogether. */
export function partsLength(parts: readonly Uint8Array[]): number {
  return parts.reduce((n, p) => n + p.byteLength, 0);
}

/** Copies the parts one after another into `into` (at least as long as they are); returns `into`. */
export function copyParts(parts: readonly Uint8Array[], into: Uint8Array): Uint8Array {
  let at = 0;
  for (const p of parts) {
    into.set(p, at);
    at += p.byteLength;
  }
  return into;
}

/** The parts' bytes in one new buffer. */
export function joinParts(parts: readonly Uint8Array[]): Uint8Array {
  return copyParts(parts, new Uint8Array(partsLength(parts)));
}

function parseJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FerryError('BAD_MESSAGE', 'Control message is not JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FerryError('BAD_MESSAGE', 'Control message is not a JSON object.');
  }
  return value as Record<string, unknown>;
}

function describeIssues(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(message)'}: ${i.message}`)
    .join('; ');
}

/**
 * Parses and validates a request from a client. Throws a FerryError with
 * BAD_MESSAGE or UNKNOWN_MESSAGE_TYPE; `detail.id` carries the request id when it
 * could be read, so the refusal can be matched to the request.
 */
export function decodeClientMessage(text: string): ClientMessage {
  // Characters, not bytes: a cheap first bound; the relay also bounds the frame's bytes.
  if (text.length > MAX_CONTROL_BYTES) throw new FerryError('BAD_MESSAGE', `Control messages are at most ${MAX_CONTROL_BYTES} bytes.`);
  const raw = parseJson(text);
  const id = typeof raw.id === 'number' && Number.isSafeInteger(raw.id) && raw.id >= 0 ? raw.id : undefined;
  if (id === undefined) throw new FerryError('BAD_MESSAGE', 'Request without a valid numeric id.');
  const type = raw.type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(REQUESTS, type)) {
    throw new FerryError('UNKNOWN_MESSAGE_TYPE', `Unknown message type ${JSON.stringify(type)}.`, { id });
  }
  const { type: _t, id: _i, ...body } = raw;
  const parsed = REQUESTS[type as RequestType].request.safeParse(body);
  if (!parsed.success) throw new FerryError('BAD_MESSAGE', `Invalid ${type}: ${describeIssues(parsed.error)}`, { id });
  return { type, id, ...parsed.data } as ClientMessage;
}

/** Parses and validates a message from the relay. */
export function decodeRelayMessage(text: string): RelayMessage {
  const parsed = RelayMessage.safeParse(parseJson(text));
  if (!parsed.success) throw new FerryError('BAD_MESSAGE', `Invalid relay message: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Validates a reply body against the schema of the request it answers. */
export function parseReply<T extends RequestType>(op: T, body: unknown) {
  const parsed = REQUESTS[op].reply.safeParse(body);
  if (!parsed.success) throw new FerryError('BAD_MESSAGE', `Invalid ${op} reply: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The error-message shape for a code. */
export function errorMessage(code: ErrorCode, message: string, id?: number, detail?: Record<string, unknown>) {
  return { type: 'error' as const, id, code, message, ...(detail ? { detail } : {}) };
}
