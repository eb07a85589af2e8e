import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ChunkHasher, type HeldChunk } from '../../relay/chunk-hasher.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('ChunkHasher', () => {
  const hasher = new ChunkHasher(2);
  afterAll(() => hasher.close());

  /** Holds, hashes and releases one chunk; returns its digest and the bytes it was hashed from. */
  const verify = async (key: string, index: number, data: Uint8Array | Uint8Array[], expected = sha(Buffer.concat([data].flat()))) => {
    const held = hasher.hold(data);
    try {
      const sha256 = await hasher.chunk(key, index, held, expected);
      return { sha256, bytes: Buffer.from(held.data), slot: held.slot };
    } finally {
      hasher.release(held);
    }
  };

  it('copies a chunk into a shared slot, so the frame buffer can go, and hashes it there', async () => {
    const frame = Buffer.concat([Buffer.alloc(9), randomBytes(1 << 20)]);
    const data = frame.subarray(9);
    const expected = sha(data);
    const held = hasher.hold(data);
    expect(held.slot).toBeDefined();
    expect(held.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    frame.fill(0); // the caller's buffer no longer matters
    expect(await hasher.chunk('slot', 0, held, expected)).toBe(expected);
    expect(sha(held.data)).toBe(expected);
    hasher.release(held);
  });

  it('moves the chunk to the thread and back when no slot is free or the chunk is larger than one', async () => {
    const taken: HeldChunk[] = [];
    for (let held = hasher.hold(new Uint8Array(1)); held.slot !== undefined; held = hasher.hold(new Uint8Array(1))) taken.push(held);
    expect(taken.length).toBeGreaterThan(0);
    try {
      const own = new Uint8Array(randomBytes(256 * 1024)); // owns its buffer: moved, not copied
      const pooled = Buffer.from(randomBytes(100)); // in Node's shared pool: copied
      const framed = Buffer.concat([Buffer.alloc(9), randomBytes(128 * 1024)]).subarray(9); // an offset view
      for (const data of [own, pooled, framed]) {
        const before = Buffer.from(data);
        const r = await verify('own-' + data.length, 0, data);
        expect(r.slot).toBeUndefined();
        expect(r.sha256).toBe(sha(before));
        expect(Buffer.compare(r.bytes, before)).toBe(0);
      }
    } finally {
      for (const held of taken) hasher.release(held);
    }
    const big = randomBytes(4 * 1024 * 1024 + 1);
    const r = await verify('big', 0, big);
    expect(r.slot).toBeUndefined();
    expect(r.sha256).toBe(sha(r.bytes));
  });

  it('copies a chunk that arrived in parts into one slot, or joins the parts when no slot is free', async () => {
    const whole = randomBytes(3 * 1024 * 1024 + 5);
    const parts = [whole.subarray(0, 131_000), whole.subarray(131_000, 131_000), whole.subarray(131_000, 2_000_000), whole.subarray(2_000_000)];
    const held = hasher.hold(parts);
    expect(held.slot).toBeDefined();
    expect(Buffer.compare(Buffer.from(held.data), whole)).toBe(0);
    expect(await hasher.chunk('parts', 0, held, sha(whole))).toBe(sha(whole));
    hasher.release(held);

    const taken: HeldChunk[] = [];
    for (let h = hasher.hold(new Uint8Array(1)); h.slot !== undefined; h = hasher.hold(new Uint8Array(1))) taken.push(h);
    try {
      const r = await verify('parts-joined', 0, parts);
      expect(r.slot).toBeUndefined();
      expect(r.sha256).toBe(sha(whole));
      expect(Buffer.compare(r.bytes, whole)).toBe(0);
    } finally {
      for (const h of taken) hasher.release(h);
    }
  });

  it('moves its slots to the offset the store asks for, but never while one is held', async () => {
    const shifted = new ChunkHasher(1);
    try {
      const held = shifted.hold(new Uint8Array(10));
      expect(shifted.placeSlots(512)).toBe(false);
      shifted.release(held);
      expect(shifted.placeSlots(4096)).toBe(false);
      expect(shifted.placeSlots(512)).toBe(true);
      const data = randomBytes(5000);
      const again = shifted.hold(data);
      expect((again.data.byteOffset - 512) % (4 * 1024 * 1024)).toBe(0);
      expect(await shifted.chunk('shifted', 0, again, sha(data))).toBe(sha(data));
      shifted.release(again);
    } finally {
      await shifted.close();
    }
  });

  it('gives every slot back, so later chunks use slots again', async () => {
    for (let i = 0; i < 20; i++) expect((await verify('again', i, randomBytes(1000))).slot).toBeDefined();
  });

  it('computes the whole-file SHA-256 from chunks fed in order, in slots or not', async () => {
    const parts = [randomBytes(70_000), randomBytes(5 * 1024 * 1024), randomBytes(90_000)];
    for (const [i, p] of parts.entries()) await verify('whole', i, new Uint8Array(p));
    expect(await hasher.wholeDigest('whole', 3)).toBe(sha(Buffer.concat(parts)));
  });

  it('gives no whole-file digest when a chunk was skipped, mismatched or out of order', async () => {
    const parts = [randomBytes(1000), randomBytes(1000)];
    await verify('gap', 1, parts[1]);
    expect(await hasher.wholeDigest('gap', 2)).toBeUndefined();
    await verify('bad', 0, parts[0], sha(parts[1]));
    await verify('bad', 1, parts[1]);
    expect(await hasher.wholeDigest('bad', 2)).toBeUndefined();
  });
});
