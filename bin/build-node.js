// Bundles the relay and CLI (TypeScript in relay/) into dist/node/ferry.mjs with
// esbuild, when any source is newer than the bundle. Dependencies stay external.
import { mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE = path.join(ROOT, 'dist', 'node', 'ferry.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Rebuilds the bundle if it is missing or older than a source file; returns its path. */
export async function ensureBuilt() {
  const built = statSync(BUNDLE, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  if (built > newestSource(path.join(ROOT, 'relay'))) return BUNDLE;
  const { build } = await import('esbuild');
  mkdirSync(path.dirname(BUNDLE), { recursive: true });
  // Several processes may build at once: each writes its own file and renames it into place.
  const temp = `${BUNDLE}.${process.pid}.tmp`;
  await build({
    entryPoints: [path.join(ROOT, 'relay', 'cli', 'main.ts')],
    outfile: temp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  renameSync(temp, BUNDLE);
  return BUNDLE;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await ensureBuilt();
