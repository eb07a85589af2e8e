// Baseline for the link download benchmark: Node's own fs.createReadStream piped to an
// HTTP response. Usage: node file-server.mjs FILE (prints "port N").
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';

const file = process.argv[2];
const server = createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': statSync(file).size });
  createReadStream(file).pipe(res);
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
