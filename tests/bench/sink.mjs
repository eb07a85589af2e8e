// Baseline for the upload benchmark: a bare WebSocket server (ws + bufferutil) that
// only writes every binary message it receives to a file, and a client that reads a
// file in 4 MiB pieces and sends them. Usage:
//   node sink.mjs serve OUTFILE        prints "port N", exits after the client closes
//   node sink.mjs send URL INFILE
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import WebSocket, { WebSocketServer } from 'ws';

const [mode, a, b] = process.argv.slice(2);
const PIECE = 4 * 1024 * 1024;

if (mode === 'serve') {
  const out = createWriteStream(a);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
  wss.on('listening', () => console.log(`port ${wss.address().port}`));
  wss.on('connection', (ws) => {
    ws.on('message', (data) => {
      if (data === 'done' || (data.length === 4 && data.toString() === 'done')) return;
      if (!out.write(data)) {
        ws.pause();
        out.once('drain', () => ws.resume());
      }
    });
    ws.on('close', () => out.end(() => process.exit(0)));
  });
} else if (mode === 'send') {
  const fh = await open(b, 'r');
  const size = (await fh.stat()).size;
  const ws = new WebSocket(a, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  for (let offset = 0; offset < size; offset += PIECE) {
    const buf = Buffer.allocUnsafe(Math.min(PIECE, size - offset));
    await fh.read(buf, 0, buf.length, offset);
    while (ws.bufferedAmount > 16 * 1024 * 1024) await new Promise((r) => setTimeout(r, 1));
    ws.send(buf);
  }
  while (ws.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 1));
  ws.close();
  await new Promise((r) => ws.once('close', r));
  await fh.close();
}
