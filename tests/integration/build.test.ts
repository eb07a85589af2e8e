/** The web app's build says nothing a person need not read (the first `npm start` shows it). */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { ROOT, tempDir } from '../helpers/relay.js';

it('builds the web app without warnings', async () => {
  const out = tempDir('ferry-build-');
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', path.join(ROOT, 'vite.config.ts'), '--outDir', out.dir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT });
    expect(`${stdout}\n${stderr}`).not.toMatch(/warn|deprecat/i);
  } finally {
    out.remove();
  }
});
