/**
 * The CLI on a real terminal (a pseudo-terminal made by util-linux `script`): the
 * password prompt stays on screen while the password is typed without echo.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, FERRY_BIN, standardRelay } from '../helpers/relay.js';

/** Runs `ferry ARGS` on a pseudo-terminal; types `input` once `waitFor` appears; resolves with everything the terminal showed. */
function onTerminal(args: string[], env: Record<string, string>, waitFor: string, input: string): Promise<{ screen: string; code: number | null }> {
  return new Promise((resolve) => {
    const command = [process.execPath, FERRY_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let typed = false;
    child.stdout.on('data', (d) => {
      screen += d;
      if (!typed && screen.includes(waitFor)) {
        typed = true;
        // Keys one at a time, as a person types, with a slip corrected by Backspace.
        const keys = [...input.slice(0, 3), 'x', '\u007f', ...input.slice(3)];
        keys.forEach((k, i) => setTimeout(() => child.stdin.write(k), 20 * i));
      }
    });
    child.on('close', (code) => resolve({ screen, code }));
    setTimeout(() => child.kill(), 20_000);
  });
}

describe.runIf(process.platform === 'linux')('the CLI on a terminal', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  beforeAll(async () => {
    env = await standardRelay();
  });
  afterAll(() => env?.close());

  it('keeps the password prompt on screen, does not echo the password, and signs in', async () => {
    const config = { FERRY_CONFIG: path.join(env.tmp, 'tty.json') };
    const { screen, code } = await onTerminal(['login', env.relay.httpUrl, '--user', ALICE.name], config, 'Password for alice: ', `${ALICE.password}\r`);
    expect(code).toBe(0);
    const after = screen.slice(screen.indexOf('Password for alice: '));
    // Nothing erases the line or moves back over the prompt.
    expect(after).not.toMatch(/\x1b\[(\d*K|\d*G|\d*J)/);
    expect(screen).not.toContain(ALICE.password);
    expect(screen).toContain('Signed in to');
  });
});
