/**
 * Library benchmarks (part of `npm run bench`; alone with `BENCH_ONLY=library`):
 *   - listing a folder of 10,000 files over the WebSocket, p50 and p99
 *   - searching 100,000 names, p50 and p99
 *   - the web app scrolling those 10,000 rows: the longest main-thread task (target < 100 ms)
 * The metadata is written straight into a relay's database (the chunks are not needed to
 * list or search), then a real relay process answers a real client and Chromium.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import { SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { connectNode } from '../../relay/cli/node-client.js';
import { addUsers, startRelayProcess } from '../helpers/relay.js';
import { hasChromium, openProfile, signInPage } from '../helpers/browser.js';

const FOLDER_FILES = 10_000;
const ALL_FILES = 100_000;
const WORDS = ['report', 'invoice', 'photo', 'holiday', 'draft', 'final', 'notes', 'scan', 'budget', 'minutes'];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

/** Fills My files of `user` with 100,000 files: 10,000 in `big/`, the rest in 900 folders. */
async function populate(dbFile: string, user: string): Promise<void> {
  const meta = new SqliteMetaStore(dbFile);
  // A throwaway database: no need to wait for the disk on each of 100,000 commits.
  meta.db.pragma('synchronous = OFF');
  const u = (await meta.getUserByName(user))!;
  const spaceId = (await meta.homeSpace(u.id)).id;
  const hex = (n: number) => n.toString(16).padStart(64, '0');
  for (let i = 0; i < ALL_FILES; i++) {
    const word = WORDS[i % WORDS.length];
    const p = i < FOLDER_FILES ? `big/${word}-${i}.txt` : `f${i % 900}/${word} ${i}.pdf`;
    await meta.commitVersion({
      userId: u.id, spaceId, path: p, conflict: 'version', size: 1000 + i, mtime: 1_700_000_000_000 + i,
      contentHash: hex(i), sha256: hex(i + 1), sha256Verified: true, chunks: [{ offset: 0, length: 1000 + i, sha256: hex(i) }],
      keepReplaced: true, now: 1_700_000_000_000 + i,
    });
  }
  await meta.close();
}

export async function benchLibrary(): Promise<string[]> {
  const work = path.join(process.env.BENCH_DIR ?? os.tmpdir(), `ferry-bench-library-${process.pid}`);
  mkdirSync(work, { recursive: true });
  const user = { name: 'lib', password: 'library-password', role: 'user' as const };
  const dataDir = path.join(work, 'data');
  const lines: string[] = [];
  try {
    await addUsers(dataDir, [user]);
    console.error(`writing ${ALL_FILES} files into the database`);
    let t = performance.now();
    await populate(path.join(dataDir, 'ferry.db'), user.name);
    console.error(`  ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const relay = await startRelayProcess({ dataDir, web: true });
    try {
      const client = await connectNode({ url: relay.wsUrl });
      await client.login(user.name, user.password);
      const list: number[] = [];
      for (let i = 0; i < 60; i++) {
        t = performance.now();
        const r = await client.request('list', { folder: 'big' });
        list.push(performance.now() - t);
        if (r.entries.length !== FOLDER_FILES) throw new Error(`listed ${r.entries.length}`);
      }
      const search: number[] = [];
      for (let i = 0; i < 200; i++) {
        const q = i % 2 ? WORDS[i % WORDS.length] : String(i * 487);
        t = performance.now();
        await client.request('search', { text: q });
        search.push(performance.now() - t);
      }
      client.close();
      const ms = (n: number) => `${n.toFixed(0)} ms`;
      lines.push(
        `| list a folder of ${FOLDER_FILES.toLocaleString('en')} files over the WebSocket (60 times, after 10 to warm up) | p50 ${ms(percentile(list.slice(10), 50))} | p99 ${ms(percentile(list.slice(10), 99))} | — |`,
        `| search ${ALL_FILES.toLocaleString('en')} names (200 queries, ≤ 500 hits each) | p50 ${ms(percentile(search, 50))} | p99 ${ms(percentile(search, 99))} | — |`,
      );
      if (hasChromium && process.env.BENCH_SKIP_WEB !== '1') lines.push(await scrolling(relay.httpUrl, user));
    } finally {
      await relay.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return lines;
}

/** The longest main-thread task while the app scrolls through the 10,000 rows of `big/`. */
async function scrolling(url: string, user: { name: string; password: string }): Promise<string> {
  const profile = await openProfile();
  try {
    const page = profile.context.pages()[0] ?? (await profile.context.newPage());
    await page.setViewportSize({ width: 1280, height: 900 });
    await signInPage(page, url, user.name, user.password);
    const opened = performance.now();
    await page.locator('.entry[data-path="big"] button.folder').click();
    await page.locator('.entries .entry').first().waitFor({ timeout: 120_000 });
    const shownMs = performance.now() - opened;
    // Once the folder is listed (the list draws the rows near the screen of all 10,000),
    // scroll down a screen per frame to the end.
    await page.waitForFunction((n) => document.querySelector('.entries .entry')?.getAttribute('aria-setsize') === String(n), FOLDER_FILES, { timeout: 120_000 });
    const allMs = performance.now() - opened;
    const longest = await page.evaluate(async (total) => {
      const tasks: number[] = [];
      let drawn = 0;
      const observer = new PerformanceObserver((l) => l.getEntries().forEach((e) => tasks.push(e.duration)));
      observer.observe({ type: 'longtask', buffered: false });
      const started = performance.now();
      const height = document.documentElement.scrollHeight;
      for (let y = 0; y < height; y += 600) {
        window.scrollTo(0, y);
        await new Promise((r) => requestAnimationFrame(() => r(null)));
        drawn = Math.max(drawn, document.querySelectorAll('.entries .entry').length);
        if (performance.now() - started > 300_000) break;
      }
      await new Promise((r) => setTimeout(r, 500));
      observer.disconnect();
      // The end was reached: the last row is drawn.
      const last = document.querySelector(`.entries .entry[aria-posinset="${total}"]`) ? total : 0;
      return { max: Math.max(0, ...tasks), count: tasks.length, rows: last, drawn, seconds: (performance.now() - started) / 1000, total };
    }, FOLDER_FILES);
    return `| scroll the app through ${longest.rows.toLocaleString('en')} rows (Chromium, 1280 px; first rows in ${(shownMs / 1000).toFixed(1)} s, listed in ${(allMs / 1000).toFixed(1)} s, at most ${longest.drawn} rows drawn at once, scrolled to the end in ${longest.seconds.toFixed(0)} s) | longest main-thread task ${longest.max.toFixed(0)} ms (${longest.count} over 50 ms) | — | < 100 ms |`;
  } finally {
    await profile.close();
  }
}
