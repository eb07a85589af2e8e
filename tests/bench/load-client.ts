/**
 * One client of the load benchmark, in a process of its own (as 50 people's devices would
 * be): signs in, uploads one file of SIZE bytes made on the fly (every chunk distinct,
 * named by CLIENT and its index), times each chunk from sending to its acknowledgement,
 * then checks the relay's SHA-256 against the bytes sent and asks the relay to verify
 * every stored chunk. Prints one JSON line.
 * Usage: node --import tsx load-client.ts WS_URL USER PASSWORD CLIENT SIZE
 */
import { createHash } from 'node:crypto';
import { uploadFile } from '../../relay/client/index.js';
import { TimedClient } from './timed-client.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';

const [url, user, password, clientArg, sizeArg] = process.argv.slice(2);
const client = Number(clientArg);
const size = Number(sizeArg);

/** 8 MiB of bytes from a counter under SHA-256 (the same in every process), sliced per chunk. */
const pool = Buffer.alloc(8 * 1024 * 1024);
for (let i = 0; i < pool.length / 32; i++) createHash('sha256').update(`pool-${i}`).digest().copy(pool, i * 32);
function chunkOf(k: number, length: number): Buffer {
  const start = ((client * 131 + k * 17) * 4096) % (pool.length - CHUNK_SIZE);
  const data = Buffer.from(pool.subarray(start, start + length));
  if (length >= 16) {
    data.writeUInt32BE(client, 0);
    data.writeUInt32BE(k, 4);
    data.writeDoubleBE(client * 1e6 + k, 8);
  }
  return data;
}

const c = new TimedClient({ url, createSocket: nodeSocketFactory, reconnectTimeoutMs: 300_000 });
await c.connect();
await c.login(user, password);
// Start together: the parent says go on stdin once every client is ready.
console.log('ready');
await new Promise((resolve) => process.stdin.once('data', resolve));
const started = performance.now();
const r = await uploadFile(c, { size, mtime: 1_700_000_000_000, read: async (o, l) => chunkOf(Math.floor(o / CHUNK_SIZE), l) }, { path: `load/client-${client}.bin` });
const seconds = (performance.now() - started) / 1000;
const h = createHash('sha256');
for (let k = 0; k * CHUNK_SIZE < size; k++) h.update(chunkOf(k, Math.min(CHUNK_SIZE, size - k * CHUNK_SIZE)));
const verified = r.sha256 === h.digest('hex') && (await c.request('verify', { path: r.path })).ok;
c.close();
console.log(JSON.stringify({ client, seconds, verified, reconnects: r.stats.reconnects, ackMs: c.ackMs }));
process.exit(0);
