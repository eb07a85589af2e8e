#!/usr/bin/env node
// Entry point of the `ferry` command: runs the bundled relay/CLI, rebuilding it first
// when a TypeScript source changed.
import { pathToFileURL } from 'node:url';
import { ensureBuilt, ROOT } from './build-node.js';

const { main } = await import(pathToFileURL(await ensureBuilt()).href);
const code = await main(process.argv.slice(2), { root: ROOT });
if (process.argv[2] !== 'serve' || code !== 0) {
  // Writes to a pipe are asynchronous: let what was printed reach it before exiting
  // (`ferry ls --json | …` of a large folder was cut short otherwise).
  const flushed = (stream) => new Promise((resolve) => stream.write('', () => resolve()));
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}
