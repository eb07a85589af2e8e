/**
 * A minimal DevTools-protocol client for benchmarks: launches Debian's Chromium with
 * a debugging port and drives one page with the Page, DOM and Runtime domains only
 * (Playwright's network instrumentation would slow WebSocket sends down).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { CHROME_ARGS, CHROME_PATH } from '../helpers/browser.js';

export interface CdpPage {
  send<T = any>(method: string, params?: Record<string, unknown>): Promise<T>;
  /** Evaluates an expression in the page and returns its value (awaiting promises). */
  eval<T = any>(expression: string): Promise<T>;
  /** Polls an expression until it is truthy. */
  until(expression: string, timeoutMs?: number): Promise<void>;
  /** Sets the files of the `<input type=file>` matching `selector`. */
  pickFiles(selector: string, files: string[]): Promise<void>;
  browser: ChildProcess;
  close(): Promise<void>;
}

/** `home`: a home folder for Chromium (its NSS database decides which CAs it trusts). */
export async function openPage(url: string, opts: { home?: string } = {}): Promise<CdpPage> {
  const profile = mkdtempSync(path.join(os.tmpdir(), 'ferry-cdp-'));
  const browser = spawn(CHROME_PATH, [...CHROME_ARGS, '--headless=new', '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    // Chromium's own temporary folders go inside the profile, removed with it.
    env: { ...process.env, TMPDIR: profile, ...(opts.home ? { HOME: opts.home } : {}) },
    detached: true, // its own process group, so closing ends every Chromium process
  });
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${err}`)), 20_000);
    browser.stderr!.on('data', (d) => {
      err += d;
      const m = /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets.find((t) => t.type === 'page')!.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((r) => ws.once('open', r));
  let id = 0;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const p = msg.id !== undefined ? pending.get(msg.id) : undefined;
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${msg.error.message}`));
    else p.resolve(msg.result);
  });
  const send = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const n = ++id;
      pending.set(n, { resolve, reject });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  const page: CdpPage = {
    send,
    async eval(expression) {
      const r = await send<{ result: { value: any }; exceptionDetails?: { text: string; exception?: { description?: string } } }>('Runtime.evaluate', {
        expression,
        awaitPromise: true,
        returnByValue: true,
      });
      if (r.exceptionDetails) throw new Error(r.exceptionDetails.exception?.description ?? r.exceptionDetails.text);
      return r.result.value;
    },
    async until(expression, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await page.eval(`!!(${expression})`).catch(() => false))) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async pickFiles(selector, files) {
      const { root } = await send<{ root: { nodeId: number } }>('DOM.getDocument', { depth: 0 });
      const { nodeId } = await send<{ nodeId: number }>('DOM.querySelector', { nodeId: root.nodeId, selector });
      await send('DOM.setFileInputFiles', { nodeId, files });
    },
    browser,
    async close() {
      ws.close();
      const exited = new Promise((r) => browser.once('exit', r));
      process.kill(-browser.pid!, 'SIGTERM');
      await exited;
      for (let i = 0; ; i++) {
        try {
          rmSync(profile, { recursive: true, force: true });
          break;
        } catch (err) {
          if (i > 50) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
  await send('Page.enable');
  await send('Runtime.enable');
  await send('Page.navigate', { url });
  return page;
}

/** Resident memory of the browser's renderer processes (which hold the page and its workers), in bytes. */
export function rendererRss(browserPid: number): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('--type=renderer')) continue;
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)![1]);
      if (!isDescendant(ppid, browserPid)) continue;
      total += Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    } catch {
      /* the process went away */
    }
  }
  return total;
}

function isDescendant(pid: number, ancestor: number): boolean {
  for (let p = pid, n = 0; p > 1 && n < 10; n++) {
    if (p === ancestor) return true;
    try {
      p = Number(/PPid:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]);
    } catch {
      return false;
    }
  }
  return false;
}
