/** The client log: timestamped events, kept in IndexedDB as a ring buffer. */
import { LOG_LIMIT, appendLog, clearLog, readLog, type LogEntry } from '../storage/db';

class ClientLog {
  entries = $state<LogEntry[]>([]);

  async load(): Promise<void> {
    this.entries = await readLog();
  }

  add(level: LogEntry['level'], message: string, data?: Record<string, unknown>): void {
    const entry: LogEntry = { time: Date.now(), level, message, data };
    this.entries.push(entry);
    if (this.entries.length > LOG_LIMIT) this.entries.splice(0, this.entries.length - LOG_LIMIT);
    void appendLog($state.snapshot(entry) as LogEntry).catch(() => {
      /* storage full or unavailable: the entry stays visible in this session */
    });
  }

  async clear(): Promise<void> {
    await clearLog();
    this.entries = [];
  }

  /** The log as JSON lines, for download. */
  asText(): string {
    return this.entries.map((e) => JSON.stringify({ time: new Date(e.time).toISOString(), level: e.level, message: e.message, ...e.data })).join('\n') + '\n';
  }
}

export const clientLog = new ClientLog();
