// Baseline for the link download benchmarks: Node's own fs.createReadStream piped to an
// HTTP response, or an HTTPS one with a certificate and key given. Over HTTPS it reads
// 256 KiB at a time, as the relay's links do: each write becomes TLS records, and with
// the stream's default 64 KiB the per-write cost, not the cipher, would be measured.
// Usage: node file-server.mjs FILE [CERT.pem KEY.pem] (prints "port N").
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createSecureServer } from 'node:https';

const [file, cert, key] = process.argv.slice(2);
const serve = (req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': statSync(file).size });
  createReadStream(file, cert ? { highWaterMark: 256 * 1024 } : {}).pipe(res);
};
const server = cert ? createSecureServer({ cert: readFileSync(cert), key: readFileSync(key) }, serve) : createServer(serve);
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
