/** The client log: timestamped events, kept in IndexedDB as a ring buffer. */
import { LOG_LIMIT, appendLog, clearLog, readLog, type LogEntry } from '../storage/db';

/** How long new log entries wait to be stored together. */
const SAVE_AFTER_MS = 250;

class ClientLog {
  entries = $state<LogEntry[]>([]);

  async load(): Promise<void> {
    this.entries = await readLog();
  }

  /** Entries not stored yet: written together a moment later (one transaction for a burst). */
  private unsaved: LogEntry[] = [];
  private saveTimer?: ReturnType<typeof setTimeout>;

  constructor() {
    if (typeof addEventListener === 'function') addEventListener('pagehide', () => this.save());
  }

  add(level: LogEntry['level'], message: string, data?: Record<string, unknown>): void {
    const entry: LogEntry = { time: Date.now(), level, message, data };
    this.entries.push(entry);
    if (this.entries.length > LOG_LIMIT) this.entries.splice(0, this.entries.length - LOG_LIMIT);
    this.unsaved.push($state.snapshot(entry) as LogEntry);
    this.saveTimer ??= setTimeout(() => this.save(), SAVE_AFTER_MS);
  }

  private save(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const batch = this.unsaved.splice(0);
    if (batch.length === 0) return;
    void appendLog(batch).catch(() => {
      /* storage full or unavailable: the entries stay visible in this session */
    });
  }

  async clear(): Promise<void> {
    this.unsaved = [];
    await clearLog();
    this.entries = [];
  }

  /** The log as JSON lines, for download. */
  asText(): string {
    return this.entries.map((e) => JSON.stringify({ time: new Date(e.time).toISOString(), level: e.level, message: e.message, ...e.data })).join('\n') + '\n';
  }
}

export const clientLog = new ClientLog();
