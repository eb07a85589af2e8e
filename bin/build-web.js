// Builds the web app into dist/web with vite when it is missing or older than its
// sources (web/, public/, vite.config.ts and the shared relay/protocol, client, crypto, sync).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './build-node.js';

function newest(p) {
  const s = statSync(p, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  return readdirSync(p).reduce((m, name) => Math.max(m, newest(path.join(p, name))), s.mtimeMs);
}

export const WEB_DIR = path.join(ROOT, 'dist', 'web');

/** Builds the web app if needed; returns its folder. */
export async function ensureWebBuilt() {
  const built = statSync(path.join(WEB_DIR, 'index.html'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const inputs = ['web', 'public', 'vite.config.ts', 'relay/protocol', 'relay/client', 'relay/crypto', 'relay/sync'].map((p) => newest(path.join(ROOT, p)));
  if (Math.max(...inputs) > built) {
    console.log('Building the web app…');
    const { build } = await import('vite');
    // Always the production build: under the test runner NODE_ENV is "test", which made
    // Svelte compile in dev mode (slower, larger), and `npm start` then served that build.
    const was = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      await build({ configFile: path.join(ROOT, 'vite.config.ts'), root: path.join(ROOT, 'web'), mode: 'production', logLevel: 'warn' });
    } finally {
      if (was === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = was;
    }
  }
  return WEB_DIR;
}
