// The peer in the upload benchmarks: @tus/server with its FileStore (no checksums, no
// fsync: what a person gets from its README), plus the tus-js-client browser build and a
// page to drive it from, all on one origin so the browser needs no CORS preflight.
// Usage: node tus-server.mjs DIR (prints "port N").
import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Server } from '@tus/server';
import { FileStore } from '@tus/file-store';

const directory = process.argv[2];
const tus = new Server({ path: '/files', datastore: new FileStore({ directory }) });
const clientJs = path.join(path.dirname(createRequire(import.meta.url).resolve('tus-js-client/package.json')), 'dist', 'tus.min.js');
const page = '<!doctype html><meta charset="utf-8"><title>tus</title><script src="/tus.min.js"></script><input type="file" id="pick" multiple>';

const server = createServer((req, res) => {
  if (req.url === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(page);
  } else if (req.url === '/tus.min.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    createReadStream(clientJs).pipe(res);
  } else tus.handle(req, res);
});
server.listen(0, '127.0.0.1', () => console.log(`port ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
