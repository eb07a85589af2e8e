/**
 * Chunk bytes received and not yet stored, relay-wide. Each connection already stops
 * reading at MAX_PENDING_WRITES chunks; with many connections that still meant a chunk
 * buffered per pending write on each (50 uploads at once took the relay to ~1 GB), and
 * every request waited behind them all. Past the cap, a connection that receives a chunk
 * stops reading until the budget is half free again; then every waiting one resumes.
 */
export class ChunkBudget {
  private used = 0;
  private readonly waiting = new Set<() => void>();

  constructor(readonly cap: number) {}

  get full(): boolean {
    return this.used >= this.cap;
  }

  get bytes(): number {
    return this.used;
  }

  take(n: number): void {
    this.used += n;
  }

  give(n: number): void {
    this.used -= n;
    if (this.used <= this.cap / 2 && this.waiting.size > 0) {
      const resume = [...this.waiting];
      this.waiting.clear();
      for (const r of resume) r();
    }
  }

  /** Calls `resume` once the budget is half free (at once if it is). */
  whenRoom(resume: () => void): void {
    if (this.used <= this.cap / 2) resume();
    else this.waiting.add(resume);
  }

  forget(resume: () => void): void {
    this.waiting.delete(resume);
  }
}
