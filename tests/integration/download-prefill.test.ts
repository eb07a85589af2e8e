/**
 * A download that fills its part file from what the device holds (the file it replaces,
 * copied by the kernel; chunks found in other files) checks every kept chunk against its
 * hash on the hash pool, and fetches what does not match — a device whose records are
 * wrong still ends with the right bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, type FerryClient, uploadFile } from '../../relay/client/index.js';
import { fileSink, partPath } from '../../relay/cli/node-files.js';
import { NodeHashPool } from '../../relay/cli/hash-pool.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { ALICE, signIn, standardRelay } from '../helpers/relay.js';
import { bufferSource } from '../helpers/files.js';

let env: Awaited<ReturnType<typeof standardRelay>>;
let alice: FerryClient;
const pool = new NodeHashPool(2);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  env = await standardRelay();
  alice = await signIn(env.relay, ALICE.name, ALICE.password);
});
afterAll(async () => {
  alice?.close();
  await pool.close();
  await env?.close();
});

describe('a download filled from this device', () => {
  it('copies the file it replaces, keeps only chunks that match, fetches the rest', async () => {
    const n = 6;
    const next = randomBytes(n * CHUNK_SIZE + 1000);
    await uploadFile(alice, bufferSource(next), { path: 'prefill/file.bin' });
    const target = path.join(env.tmp, 'file.bin');
    // The old file: chunks 0–3 as the new version has them, 4 and the tail changed.
    const old = Buffer.from(next);
    old.fill(7, 4 * CHUNK_SIZE);
    writeFileSync(target, old);
    // Another file holding chunk 4 elsewhere; and a record that lies about chunk 2.
    const other = path.join(env.tmp, 'other.bin');
    writeFileSync(other, Buffer.concat([Buffer.alloc(100, 1), next.subarray(4 * CHUNK_SIZE, 5 * CHUNK_SIZE)]));
    const chunkAt = (i: number) => next.subarray(i * CHUNK_SIZE, Math.min(next.length, (i + 1) * CHUNK_SIZE));
    const lie = path.join(env.tmp, 'lie.bin');
    writeFileSync(lie, randomBytes(CHUNK_SIZE));
    const locations = new Map<string, { file: string; offset: number }>();
    for (let i = 0; i < 4; i++) locations.set(sha(chunkAt(i)), { file: target, offset: i * CHUNK_SIZE });
    locations.set(sha(chunkAt(4)), { file: other, offset: 100 });
    writeFileSync(target, Buffer.concat([old.subarray(0, 2 * CHUNK_SIZE), randomBytes(CHUNK_SIZE), old.subarray(3 * CHUNK_SIZE)]));
    const sink = fileSink(target, { pool, locate: async (h) => locations.get(h) });
    const { stats } = await downloadFile(alice, sink, { path: 'prefill/file.bin' });
    expect(sha(readFileSync(target))).toBe(sha(next));
    // Kept: 0, 1, 3 (copied with the file) and 4 (from the other file); fetched: 2 (the
    // copy there was not what the record said), 5 and the tail.
    expect(stats.keptChunks).toBe(4);
    expect(stats.fetchedChunks).toBe(3);
    expect(existsSync(partPath(target))).toBe(false);
  });

  it('resumes from an earlier attempt’s part file, checking what it holds', async () => {
    const data = randomBytes(3 * CHUNK_SIZE);
    await uploadFile(alice, bufferSource(data), { path: 'prefill/resume.bin' });
    const target = path.join(env.tmp, 'resume.bin');
    // An earlier attempt left chunk 0 right and chunk 1 damaged.
    const part = Buffer.from(data.subarray(0, 2 * CHUNK_SIZE));
    part[CHUNK_SIZE + 5] ^= 1;
    writeFileSync(partPath(target), part);
    const { stats } = await downloadFile(alice, fileSink(target, { pool, locate: async () => undefined }), { path: 'prefill/resume.bin' });
    expect(sha(readFileSync(target))).toBe(sha(data));
    expect(stats).toMatchObject({ keptChunks: 1, fetchedChunks: 2 });
  });
});
