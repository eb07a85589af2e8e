/**
 * The loop around the sync engine that the CLI and the app share: a round at start,
 * then one whenever the local folder reports a change (gathered for a moment), the relay
 * announces a change under the pair's folder, the connection comes back, or the periodic
 * full scan is due (watching can miss events). No Node or DOM imports: how the folder is
 * watched is handed in.
 */
import { FerryError } from '../protocol/index.js';
import type { FerryClient } from '../client/connection.js';
import { SETTLE_MS, type SyncEngine } from './engine.js';

/** A round starts this long after the last local event of a burst… */
export const LOCAL_BATCH_MS = 20;
/** …and no later than this after its first, however long the burst. */
const LOCAL_MAX_WAIT_MS = 1000;
/** Rounds over everything this often when part of the folder cannot be watched. */
const DEGRADED_SCAN_MS = 60_000;

export interface SyncLoopOptions {
  engine: SyncEngine;
  client: FerryClient;
  /** The pair's space id (library events name it) and folder in it ('' = all of it). */
  spaceId: number;
  remote: string;
  /**
   * Starts watching the local folder; calls `changed` on every event, with the path it
   * names (relative, `/`-separated) or none when it cannot say. Returns a stop function,
   * or undefined when the folder cannot be watched now (tried again at the next full
   * scan).
   */
  watch(changed: (path?: string) => void, degraded: (why: string) => void): (() => void) | undefined;
  /** A full scan this often even when nothing was heard. */
  fullScanMs: number;
  /** Stop after the first complete round (nothing left unsettled). */
  once?: boolean;
  signal: AbortSignal;
  /** After every round (and every second during one, for progress). */
  onStatus?: () => void | Promise<void>;
  log?: (line: string) => void;
  /** Lets the caller start a round (the connection came back, a person asked). */
  wakeup?: (start: () => void) => void;
}

/** Runs until `signal` aborts (or after one round with `once`); throws what the caller must handle. */
export async function runSyncLoop(opts: SyncLoopOptions): Promise<void> {
  const { engine, client, remote } = opts;
  const say = (line: string) => opts.log?.(line);
  let due = true;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timerAt = 0;
  let wake: (() => void) | undefined;
  /** A round in `ms` (or sooner, when one is due sooner already). */
  const schedule = (ms: number) => {
    const at = Date.now() + ms;
    if (timer) {
      if (timerAt <= at) return;
      clearTimeout(timer);
    }
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      due = true;
      wake?.();
    }, ms);
  };
  // Local events: a round LOCAL_BATCH_MS after the last of a burst (a file being written
  // sends one event per write), but no later than LOCAL_MAX_WAIT_MS after the first.
  let burstSince: number | undefined;
  let burstTimer: ReturnType<typeof setTimeout> | undefined;
  const localEvent = () => {
    const now = Date.now();
    burstSince ??= now;
    if (burstTimer) clearTimeout(burstTimer);
    burstTimer = setTimeout(() => {
      burstTimer = undefined;
      burstSince = undefined;
      schedule(0);
    }, Math.max(0, Math.min(LOCAL_BATCH_MS, burstSince + LOCAL_MAX_WAIT_MS - now)));
  };
  opts.wakeup?.(() => schedule(0));
  const prefix = remote ? `${remote}/` : '';
  const offEvents = client.onLibraryEvent((e) => {
    if (e.space !== opts.spaceId && e.fromSpace !== opts.spaceId) return;
    if (remote === '' || e.path === remote || e.path.startsWith(prefix) || e.from?.startsWith(prefix)) schedule(0);
  });
  // A connection closed for good (signed out, the device revoked) ends the loop at the
  // next round, which fails and says why.
  const offState = client.onStateChange((state) => {
    if (state === 'closed') schedule(0);
  });
  let unwatch: (() => void) | undefined;
  let full: ReturnType<typeof setInterval> | undefined;
  const fullEvery = (ms: number) => {
    clearInterval(full);
    full = setInterval(() => {
      if (!unwatch) startWatching();
      engine.requestFull();
      schedule(0);
    }, ms);
  };
  let degraded = false;
  const startWatching = () => {
    unwatch = opts.watch(
      (path) => {
        engine.touched(path);
        localEvent();
      },
      (why) => {
        if (degraded) return;
        degraded = true;
        say(`${why}: looking at everything every ${DEGRADED_SCAN_MS / 1000} s instead`);
        if (opts.fullScanMs > DEGRADED_SCAN_MS) fullEvery(DEGRADED_SCAN_MS);
      },
    );
  };
  fullEvery(opts.fullScanMs);
  startWatching();
  const status = async () => {
    try {
      await opts.onStatus?.();
    } catch {
      // A status that cannot be written now is written after the next round.
    }
  };
  try {
    while (!opts.signal.aborted) {
      if (!due) {
        // One abort listener per wait, taken off again (a long-running pair waits thousands of times).
        let onAbort: (() => void) | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          onAbort = () => resolve();
          opts.signal.addEventListener('abort', onAbort, { once: true });
        });
        opts.signal.removeEventListener('abort', onAbort!);
        wake = undefined;
        continue;
      }
      due = false;
      const progress = setInterval(() => void status(), 1000);
      try {
        const report = await engine.runOnce();
        if (report.unsettled > 0) schedule(SETTLE_MS);
        if (opts.once && report.unsettled === 0) {
          await status();
          if (report.paused) throw new FerryError('SYNC_PAUSED', report.paused);
          return;
        }
      } catch (err) {
        const code = (err as FerryError).code;
        if (code === 'SYNC_PAUSED' || code === 'SESSION_EXPIRED' || code === 'AUTH_REQUIRED') throw err;
        // The client gave up reconnecting: the caller makes a new connection.
        if (code === 'CONNECTION_LOST' && (client.state === 'closed' || opts.once)) throw err;
        say(`round failed: ${code ?? 'ERROR'}: ${(err as Error).message}; trying again`);
        engine.status.state = code === 'CONNECTION_LOST' ? 'offline' : engine.status.state;
        if (code === 'CONNECTION_LOST') await client.ready().catch(() => {});
        schedule(code === 'CONNECTION_LOST' ? 0 : 2000);
      } finally {
        clearInterval(progress);
      }
      await status();
    }
  } finally {
    clearInterval(full);
    if (timer) clearTimeout(timer);
    if (burstTimer) clearTimeout(burstTimer);
    unwatch?.();
    offEvents();
    offState();
  }
}
