/**
 * The live log admins tail (`log.subscribe`). On one relay it is that relay's LogHub.
 * With several relays on one database every relay also writes its lines there, in
 * batches, and wakes the others (LISTEN/NOTIFY carries nothing but the wake-up); a relay
 * with an admin tailing reads the lines the others wrote and passes them on, each
 * tagged with the relay it came from. So an admin sees the whole deployment from any
 * relay. The files in each relay's `logs/` stay that relay's own (`log.read`).
 */
import type { LogHub, LogLine } from './log.js';
import type { MetaStore } from './store/meta-store.js';

/** Lines a new subscriber is shown first. */
const RECENT_LINES = 500;
/** How long lines wait to be written together. */
const FLUSH_MS = 200;
/** Lines waiting to be written at most; past it the oldest are dropped (and counted). */
const OUTBOX_LINES = 5000;

export interface LogFeed {
  /** Calls `listener` with every new line; resolves to a function that stops. */
  subscribe(listener: (line: LogLine) => void): Promise<() => void>;
  /** The last few hundred lines, oldest first. */
  recent(): Promise<LogLine[]>;
  close(): Promise<void>;
}

/** One relay's own lines. */
export function localLogFeed(hub: LogHub): LogFeed {
  return {
    subscribe: async (listener) => hub.subscribe(listener),
    recent: async () => [...hub.recent],
    close: async () => {},
  };
}

/** The lines of every relay sharing `meta`. */
export class SharedLogFeed implements LogFeed {
  private outbox: { at: number; line: string }[] = [];
  private dropped = 0;
  private timer?: ReturnType<typeof setTimeout>;
  private flushing?: Promise<void>;
  private readonly listeners = new Set<(line: LogLine) => void>();
  /** The last shared line passed on (while someone listens). */
  private position?: number;
  private pumping?: Promise<void>;
  private pumpAgain = false;
  private stopWatching?: () => Promise<void>;
  private readonly unhook: () => void;

  /** `relay` names this relay in every line it shares (set it once the port is known). */
  constructor(
    private readonly meta: MetaStore,
    private readonly hub: LogHub,
    public relay: string,
    private readonly warn: (fields: Record<string, unknown>, msg: string) => void,
  ) {
    this.unhook = hub.subscribe((line) => {
      this.outbox.push({ at: Date.now(), line: JSON.stringify(line) });
      if (this.outbox.length > OUTBOX_LINES) {
        this.dropped += this.outbox.length - OUTBOX_LINES;
        this.outbox.splice(0, this.outbox.length - OUTBOX_LINES);
      }
      this.schedule();
    });
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_MS);
    this.timer.unref?.();
  }

  async start(): Promise<void> {
    this.stopWatching = await this.meta.watchLog(() => void this.pump());
  }

  /** Writes the waiting lines. A failure drops them (counted in a line once writing works): a log must never hold up the relay. */
  flush(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.outbox.length) {
          clearTimeout(this.timer);
          this.timer = undefined;
          const batch = this.outbox.splice(0, 500);
          try {
            await this.meta.appendLogLines(this.relay, batch);
          } catch {
            this.dropped += batch.length;
            // The lines after these wait for the next try.
            this.schedule();
            break;
          }
          if (this.dropped) {
            const dropped = this.dropped;
            this.dropped = 0;
            this.warn({ event: 'log.dropped', lines: dropped }, `${dropped} log lines could not be shared with the other relays`);
          }
        }
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }

  private tag(row: { relay: string; line: string }): LogLine {
    return { ...(JSON.parse(row.line) as LogLine), relay: row.relay };
  }

  /** Passes on the lines other relays wrote since the last ones passed on. */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    // Nobody listening: nothing to read (and nothing may finish before `pumping` is set).
    if (!this.listeners.size || this.position === undefined) return Promise.resolve();
    this.pumping = (async () => {
      try {
        do {
          this.pumpAgain = false;
          if (!this.listeners.size || this.position === undefined) break;
          for (;;) {
            const rows = await this.meta.logLines(this.position, 500);
            for (const row of rows) {
              this.position = row.seq;
              if (row.relay === this.relay) continue; // passed on by the hub already
              const line = this.tag(row);
              for (const l of this.listeners) l(line);
            }
            if (rows.length < 500) break;
          }
        } while (this.pumpAgain);
      } catch {
        /* the database is away: the next wake-up tries again */
      } finally {
        this.pumping = undefined;
      }
    })();
    return this.pumping;
  }

  async subscribe(listener: (line: LogLine) => void): Promise<() => void> {
    if (!this.listeners.size) this.position = (await this.meta.logLines(undefined, 1))[0]?.seq ?? 0;
    this.listeners.add(listener);
    const own = (line: LogLine) => listener({ ...line, relay: this.relay });
    const unhook = this.hub.subscribe(own);
    return () => {
      unhook();
      this.listeners.delete(listener);
    };
  }

  async recent(): Promise<LogLine[]> {
    const shared = (await this.meta.logLines(undefined, RECENT_LINES)).map((r) => this.tag(r));
    const waiting = this.outbox.map((o) => ({ ...(JSON.parse(o.line) as LogLine), relay: this.relay }));
    return [...shared, ...waiting].slice(-RECENT_LINES);
  }

  async close(): Promise<void> {
    this.unhook();
    clearTimeout(this.timer);
    await this.flush();
    await this.stopWatching?.();
  }
}
