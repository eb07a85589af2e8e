#!/usr/bin/env node
// `npm start`: builds the web app when it is missing or older than its sources, then
// runs the relay (`ferry serve`, flags passed through) serving it.
import { pathToFileURL } from 'node:url';
import { ensureBuilt, ROOT } from './build-node.js';
import { ensureWebBuilt } from './build-web.js';

await ensureWebBuilt();
const { main } = await import(pathToFileURL(await ensureBuilt()).href);
const code = await main(['serve', ...process.argv.slice(2)], { root: ROOT });
if (code !== 0) process.exit(code);
