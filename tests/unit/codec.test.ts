import { describe, expect, it } from 'vitest';
import {
  FRAME_UPLOAD_CHUNK,
  decodeChunkFrame,
  decodeChunkFrameParts,
  decodeClientMessage,
  decodeRelayMessage,
  encodeChunkFrame,
} from '../../relay/protocol/index.js';

describe('chunk frames', () => {
  it('round-trips kind, handle, index and data', () => {
    const data = new Uint8Array([1, 2, 3, 250]);
    const frame = decodeChunkFrame(encodeChunkFrame(FRAME_UPLOAD_CHUNK, 0xfffffffe, 123456, data));
    expect(frame.kind).toBe(FRAME_UPLOAD_CHUNK);
    expect(frame.handle).toBe(0xfffffffe);
    expect(frame.index).toBe(123456);
    expect([...frame.data]).toEqual([1, 2, 3, 250]);
  });

  it('refuses a frame shorter than its header with BAD_MESSAGE', () => {
    expect(() => decodeChunkFrame(new Uint8Array(5))).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });

  /** Cuts `frame` at the given offsets, as a fragmented WebSocket message arrives. */
  const cut = (frame: Uint8Array, at: number[]) => [0, ...at].map((from, i) => frame.subarray(from, at[i] ?? frame.length));
  const bytes = (parts: Uint8Array[]) => parts.flatMap((p) => [...p]);

  it('reads a frame from its fragments without joining them', () => {
    const data = Uint8Array.from({ length: 300 }, (_, i) => i % 251);
    const frame = encodeChunkFrame(FRAME_UPLOAD_CHUNK, 7, 42, data);
    const parts = cut(frame, [100, 200]);
    const got = decodeChunkFrameParts(parts);
    expect(got).toMatchObject({ kind: FRAME_UPLOAD_CHUNK, handle: 7, index: 42, length: 300 });
    expect(got.data).toHaveLength(3);
    expect(got.data[1].buffer).toBe(frame.buffer); // views, not copies
    expect(bytes(got.data)).toEqual([...data]);
  });

  it('reads a header split across fragments, and skips empty ones', () => {
    const data = Uint8Array.from({ length: 50 }, (_, i) => 255 - i);
    const frame = encodeChunkFrame(FRAME_UPLOAD_CHUNK, 3, 9, data);
    for (const at of [[4], [1, 2, 3, 9], [9], [9, 9, 30], [0, 4, 4]]) {
      const got = decodeChunkFrameParts(cut(frame, at));
      expect(got).toMatchObject({ handle: 3, index: 9, length: 50 });
      expect(got.data.every((p) => p.byteLength > 0)).toBe(true);
      expect(bytes(got.data)).toEqual([...data]);
    }
    expect(decodeChunkFrameParts([frame.subarray(0, 9)])).toMatchObject({ handle: 3, index: 9, length: 0, data: [] });
  });

  it('refuses fragments that add up to less than a header with BAD_MESSAGE', () => {
    expect(() => decodeChunkFrameParts([new Uint8Array(3), new Uint8Array(5)])).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
    expect(() => decodeChunkFrameParts([])).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });
});

describe('decodeClientMessage', () => {
  it('parses a valid request and applies defaults', () => {
    const m = decodeClientMessage(JSON.stringify({ type: 'upload.begin', id: 4, path: 'a', size: 0, mtime: 0, chunks: [] }));
    expect(m).toEqual({ type: 'upload.begin', id: 4, path: 'a', size: 0, mtime: 0, chunks: [], conflict: 'version', partial: false });
  });

  it('names the request id in refusals so they can be matched', () => {
    try {
      decodeClientMessage(JSON.stringify({ type: 'nope', id: 9 }));
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'UNKNOWN_MESSAGE_TYPE', detail: { id: 9 } });
    }
  });

  it.each([
    ['not JSON', '{'],
    ['an array', '[1]'],
    ['no id', JSON.stringify({ type: 'list' })],
    ['a negative id', JSON.stringify({ type: 'list', id: -1 })],
    ['a wrong field type', JSON.stringify({ type: 'list', id: 1, folder: 3 })],
    ['a bad hash', JSON.stringify({ type: 'upload.begin', id: 1, path: 'a', size: 1, mtime: 0, chunks: [{ offset: 0, length: 1, sha256: 'XYZ' }] })],
    ['an unknown conflict policy', JSON.stringify({ type: 'upload.begin', id: 1, path: 'a', size: 0, mtime: 0, chunks: [], conflict: 'merge' })],
  ])('refuses %s with BAD_MESSAGE', (_label, text) => {
    expect(() => decodeClientMessage(text)).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });
});

describe('decodeRelayMessage', () => {
  it('accepts acks and refuses unknown shapes', () => {
    expect(decodeRelayMessage('{"type":"chunk.ack","handle":1,"index":2}')).toEqual({ type: 'chunk.ack', handle: 1, index: 2 });
    expect(() => decodeRelayMessage('{"type":"chunk.ack","handle":"x"}')).toThrow(expect.objectContaining({ code: 'BAD_MESSAGE' }));
  });
});

describe('request schemas', () => {
  it('never use the envelope names `id` or `type` for their own fields', async () => {
    const { REQUESTS } = await import('../../relay/protocol/index.js');
    for (const [type, { request }] of Object.entries(REQUESTS)) {
      const keys = Object.keys((request as unknown as { shape: Record<string, unknown> }).shape);
      expect(keys, type).not.toContain('id');
      expect(keys, type).not.toContain('type');
    }
  });
});
