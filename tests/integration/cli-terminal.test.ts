/**
 * The CLI on a real terminal (a pseudo-terminal made by util-linux `script`): the
 * password prompt stays on screen while the password is typed without echo.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { ALICE, FERRY_BIN, standardRelay, startRelayProcess } from '../helpers/relay.js';
import { ferry } from '../helpers/cli.js';
import { randomData } from '../helpers/files.js';

/** The screen's lines as a person sees them: escape sequences removed, each carriage return starting the line again. */
function visibleLines(screen: string): string[] {
  return screen
    .replace(/\x1b\[\d*G/g, '\r')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split('\n')
    .flatMap((line) => line.split('\r'))
    .filter(Boolean);
}

/** Runs `ferry ARGS` on a pseudo-terminal; types `input` once `waitFor` appears; resolves with everything the terminal showed. */
function onTerminal(
  args: string[],
  env: Record<string, string>,
  waitFor: string,
  input: string,
  opts: { columns?: number; onScreen?: (screen: string) => void } = {},
): Promise<{ screen: string; code: number | null }> {
  return new Promise((resolve) => {
    const ferryCommand = [process.execPath, FERRY_BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const command = opts.columns ? `stty cols ${opts.columns} rows 24; ${ferryCommand}` : ferryCommand;
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let typed = false;
    child.stdout.on('data', (d) => {
      screen += d;
      opts.onScreen?.(screen);
      if (!typed && screen.includes(waitFor)) {
        typed = true;
        if (!input) return;
        // Keys one at a time, as a person types, with a slip corrected by Backspace.
        const keys = [...input.slice(0, 3), 'x', '\u007f', ...input.slice(3)];
        keys.forEach((k, i) => setTimeout(() => child.stdin.write(k), 20 * i));
      }
    });
    child.on('close', (code) => resolve({ screen, code }));
    setTimeout(() => child.kill(), 60_000);
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

  it('fits the progress bar in 60 columns, shows "reconnecting" while the relay is down, and says plainly what was sent', async () => {
    const config = { FERRY_CONFIG: path.join(env.tmp, 'tty.json') };
    const file = path.join(env.tmp, 'big.bin');
    writeFileSync(file, randomData(160 * 1024 * 1024));
    let restarted: Promise<void> | undefined;
    const { screen, code } = await onTerminal(['put', file, '--to', 'terminal/a/rather/long/folder/name/for/the/label'], config, '\u0000never', '', {
      columns: 60,
      onScreen: (s) => {
        // Once the upload is under way, the relay dies and comes back 2 s later.
        if (!restarted && /\b([2-9]\d|1\d)%/.test(s)) {
          restarted = (async () => {
            const port = env.relay.port;
            await env.relay.kill();
            await new Promise((r) => setTimeout(r, 2000));
            env.relay = await startRelayProcess({ dataDir: env.relay.dataDir, port });
          })();
        }
      },
    });
    await restarted;
    expect(code).toBe(0);
    const lines = visibleLines(screen);
    // Every state of the bar fits the width (the summary line after it may wrap, as output does).
    const bars = lines.filter((l) => l.includes('|'));
    for (const line of bars) expect([...line].length, line).toBeLessThanOrEqual(60);
    expect(bars.some((l) => /\d+% .* ETA/.test(l))).toBe(true);
    expect(bars.some((l) => l.includes('reconnecting'))).toBe(true);
    const summary = lines.find((l) => l.includes('sha256'))!;
    expect(summary).toMatch(/\(40 chunks, \d+ sent \(\d+ again after 1 reconnect\)\)|\(40 chunks, 40 sent, 1 reconnect\)/);
  });

  it('prints each of many small files on a line of its own above one bar for them all', async () => {
    const config = { FERRY_CONFIG: path.join(env.tmp, 'tty.json') };
    const folder = path.join(env.tmp, 'smalls');
    mkdirSync(folder);
    for (let i = 0; i < 300; i++) writeFileSync(path.join(folder, `s${String(i).padStart(3, '0')}.txt`), randomData(200 + i));
    const { screen, code } = await onTerminal(['put', folder, '--to', 'terminal'], config, '\u0000never', '', { columns: 100 });
    expect(code).toBe(0);
    const lines = visibleLines(screen);
    // Every file's line whole (nothing of the bar mixed into it), in order.
    const reported = lines.filter((l) => l.includes('sha256')).map((l) => /^me:terminal\/smalls\/(s\d{3}\.txt) {2}v1 {2}\d+ bytes {2}sha256 [0-9a-f]{64} {2}\(1 chunk sent\)$/.exec(l)?.[1]);
    expect(reported).toEqual(Array.from({ length: 300 }, (_, i) => `s${String(i).padStart(3, '0')}.txt`));
    expect(lines.some((l) => /^300 files +\|/.test(l))).toBe(true);
  });
});
