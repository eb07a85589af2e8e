// Baseline for the web upload benchmark: serves a bare page that reads a picked file
// in 4 MiB slices and sends them over one WebSocket, and a sink on the same port
// that only writes what it receives to a file. Usage: node browser-sink.mjs OUTFILE
// (prints "port N"; the page sets window.doneMs when the sink has written it all).
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const PAGE = `<!doctype html><meta charset="utf-8"><title>bare upload</title>
<input type="file" id="f">
<script>
f.onchange = async () => {
  const file = f.files[0];
  const t0 = performance.now();
  const ws = new WebSocket('ws://' + location.host + '/sink');
  await new Promise((r) => (ws.onopen = r));
  for (let off = 0; off < file.size; off += 4 << 20) {
    const buf = await file.slice(off, off + (4 << 20)).arrayBuffer();
    while (ws.bufferedAmount > 16 << 20) await new Promise((r) => setTimeout(r, 1));
    ws.send(buf);
  }
  ws.send('done');
  await new Promise((r) => (ws.onmessage = r));
  window.doneMs = performance.now() - t0;
};
</script>`;

const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end(PAGE);
});
const wss = new WebSocketServer({ server, maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
wss.on('connection', (ws) => {
  const out = createWriteStream(process.argv[2]);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      out.end(() => ws.send('ok'));
      return;
    }
    if (!out.write(data)) {
      ws.pause();
      out.once('drain', () => ws.resume());
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
