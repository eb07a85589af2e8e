// Bundles the relay and CLI (TypeScript in relay/) into dist/node/ with esbuild when
// any source is newer than the bundle. Dependencies stay external; the relay's own
// modules are split out so client commands do not load them.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(ROOT, 'dist', 'node');
export const BUNDLE = path.join(OUT, 'ferry.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const EXTERNAL = [
  'better-sqlite3',
  'bufferutil',
  'utf-8-validate',
  'sharp',
  'esbuild',
  'pino',
  'pg',
  'pg-native',
  '@aws-sdk/*',
  '@peculiar/*',
  'reflect-metadata',
  'highlight.js',
  'sirv',
  'yazl',
  'qrcode',
];

/** Rebuilds the bundle if it is missing or older than a source file; returns its entry. */
export async function ensureBuilt() {
  const built = statSync(BUNDLE, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  // The way it is built counts as a source too.
  if (built > Math.max(newestSource(path.join(ROOT, 'relay')), statSync(fileURLToPath(import.meta.url)).mtimeMs)) return BUNDLE;
  const { build } = await import('esbuild');
  // Several processes may build at once: each builds into its own folder and swaps it in.
  const temp = `${OUT}.${process.pid}.tmp`;
  await build({
    entryPoints: { ferry: path.join(ROOT, 'relay', 'cli', 'main.ts') },
    outdir: temp,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Small pure-JS dependencies go into the bundle: resolving and loading their many
    // files is most of a short command's start. Native addons, and what only the relay
    // loads (on demand), stay external.
    external: EXTERNAL,
    // ES module builds where a package has one (hash-wasm): they bundle, and import lazily, as written.
    mainFields: ['module', 'main'],
    banner: { js: "import { createRequire as __ferryRequire } from 'node:module'; const require = __ferryRequire(import.meta.url);" },
    sourcemap: 'linked',
    logLevel: 'error',
  });
  mkdirSync(path.dirname(OUT), { recursive: true });
  rmSync(OUT, { recursive: true, force: true });
  try {
    renameSync(temp, OUT);
  } catch (err) {
    // Another process swapped its build in first: use that one.
    rmSync(temp, { recursive: true, force: true });
    if (!existsSync(BUNDLE)) throw err;
  }
  return BUNDLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await ensureBuilt();
