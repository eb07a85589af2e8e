// Baseline for the web upload benchmark: serves a bare page that reads a picked file
// in 4 MiB pieces and sends them over one WebSocket, and a sink on the same port
// that only writes what it receives to a file. Usage: node browser-sink.mjs OUTFILE
// (prints "port N"; the page sets window.doneMs when the sink has written it all).
// The page at / reads each piece as a slice (Blob.slice().arrayBuffer()); at /?stream
// it reads the whole file through one stream into a reused 4 MiB buffer.
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
  // send() copies the bytes, so a buffer may be reused at once.
  const send = async (data) => {
    while (ws.bufferedAmount > 16 << 20) await new Promise((r) => setTimeout(r, 1));
    ws.send(data);
  };
  if (location.search === '?stream') {
    const reader = (window.reader = file.stream().getReader({ mode: 'byob' }));
    let buf = new ArrayBuffer(4 << 20);
    for (let done = false; !done; ) {
      let filled = 0;
      while (filled < buf.byteLength) {
        const r = await reader.read(new Uint8Array(buf, filled));
        if (r.value) buf = r.value.buffer;
        if (r.done) { done = true; break; }
        filled += r.value.byteLength;
      }
      if (filled > 0) await send(new Uint8Array(buf, 0, filled));
    }
  } else {
    for (let off = 0; off < file.size; off += 4 << 20) await send(await file.slice(off, off + (4 << 20)).arrayBuffer());
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
