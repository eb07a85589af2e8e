/**
 * Throttles for password guesses (sign-ins, link passwords, password changes).
 *
 * An attempt is counted when it *starts*, before its password is checked, so a hundred
 * guesses sent at once are counted as a hundred: the sixth is refused without being
 * checked. A success takes its own attempt back. Each attempt counts against several
 * keys, each with a rule:
 *
 * - a *pair* rule (one account from one address, or one known device) allows a few
 *   failures, then backs off: each further failure doubles the wait, up to the window;
 * - a *wide* rule (one account from anywhere, one address against any account) allows
 *   many failures in a sliding window.
 *
 * Sign-ins from a device that signed in before count only against that device's pair
 * rule, so nobody elsewhere can lock a person out of the devices they use (and sessions
 * are never throttled). See docs/limits.md. Counted in an `AttemptLog`: the database
 * every relay shares (a restart forgets nothing), or memory.
 */
import { FerryError } from '../protocol/index.js';

export interface ThrottleRule {
  /** Failures allowed inside the window before attempts wait. */
  limit: number;
  windowMs: number;
  /** Pair rules: the wait after the limit, doubled by each further failure (capped at the window). */
  backoffMs?: number;
}

const MINUTE = 60_000;

/** The rules Ferry uses; tests may pass others. */
export const RULES = {
  /** One account from one address, or one known device. */
  pair: { limit: 5, windowMs: 15 * MINUTE, backoffMs: 30_000 },
  /** One account from any new device, anywhere. */
  account: { limit: 50, windowMs: 15 * MINUTE },
  /** One address against any account, from new devices. */
  address: { limit: 100, windowMs: 15 * MINUTE },
  /** One share link's password, from any address. */
  link: { limit: 100, windowMs: 15 * MINUTE },
} satisfies Record<string, ThrottleRule>;

export type RuleName = keyof typeof RULES;

/**
 * Where failed attempts are counted: in this process (`MemoryAttempts`), or in the
 * database every relay shares (the MetaStore's attempt log), so a guesser spreading
 * guesses over several relays meets one limit.
 */
export interface AttemptLog {
  /**
   * Atomically, holding these names against other relays: the failure times of each name
   * after its `since`; when `admit` accepts them, one failure at `at` is recorded on every
   * name. Returns whether it was admitted and the ids of what was recorded (per name).
   */
  begin(names: string[], since: number[], at: number, admit: (lists: number[][]) => boolean): Promise<{ admitted: boolean; ids: number[] }>;
  /** A right password: forgets every failure of `clear`, and the recorded attempts `ids`. */
  forgive(clear: string[], ids: number[]): Promise<void>;
  /** The failure times of each name after its `since`, oldest first. */
  recent(names: string[], since: number[]): Promise<number[][]>;
}

/** Attempts kept in this process's memory (a restart forgets them). */
export class MemoryAttempts implements AttemptLog {
  private readonly failures = new Map<string, { id: number; at: number }[]>();
  private nextId = 1;

  private list(name: string, since: number) {
    const list = (this.failures.get(name) ?? []).filter((f) => f.at > since);
    if (list.length) this.failures.set(name, list);
    else this.failures.delete(name);
    return list;
  }

  async begin(names: string[], since: number[], at: number, admit: (lists: number[][]) => boolean) {
    const lists = names.map((n, i) => this.list(n, since[i]).map((f) => f.at));
    if (!admit(lists)) return { admitted: false, ids: [] };
    const ids = names.map((n) => {
      const id = this.nextId++;
      this.failures.set(n, [...(this.failures.get(n) ?? []), { id, at }]);
      return id;
    });
    return { admitted: true, ids };
  }

  async forgive(clear: string[], ids: number[]) {
    for (const n of clear) this.failures.delete(n);
    const gone = new Set(ids);
    for (const [n, list] of this.failures) this.failures.set(n, list.filter((f) => !gone.has(f.id)));
  }

  async recent(names: string[], since: number[]) {
    return names.map((n, i) => this.list(n, since[i]).map((f) => f.at));
  }
}

export class Throttle {
  /** Attempts on one pair run one after another in this process (see `check`). */
  private readonly turns = new Map<string, Promise<unknown>>();

  constructor(
    private readonly rules: Record<RuleName, ThrottleRule> = RULES,
    private readonly attempts: AttemptLog = new MemoryAttempts(),
  ) {}

  private wait(list: number[], rule: ThrottleRule, now: number): number {
    if (list.length < rule.limit) return 0;
    if (rule.backoffMs !== undefined) {
      const wait = Math.min(rule.windowMs, rule.backoffMs * 2 ** (list.length - rule.limit));
      return Math.max(0, list[list.length - 1] + wait - now);
    }
    return list[list.length - rule.limit] + rule.windowMs - now;
  }

  private longestWait(keys: [RuleName, string][], lists: number[][], now: number): number {
    let wait = 0;
    for (const [i, [rule]] of keys.entries()) wait = Math.max(wait, this.wait(lists[i], this.rules[rule], now));
    return wait;
  }

  private names(keys: [RuleName, string][]): string[] {
    return keys.map(([rule, key]) => `${rule}:${key}`);
  }

  private since(keys: [RuleName, string][], now: number): number[] {
    return keys.map(([rule]) => now - this.rules[rule].windowMs);
  }

  /** Milliseconds until an attempt on all these keys would be allowed (0 = now). */
  async retryAfter(keys: [RuleName, string][], now = Date.now()): Promise<number> {
    return this.longestWait(keys, await this.attempts.recent(this.names(keys), this.since(keys, now)), now);
  }

  /**
   * Runs one password check under these keys. Each attempt is counted as a failure on
   * every key *before* `evaluate` runs (a right password takes it back), atomically with
   * the check of the limits, so guesses sent at once (to one relay or to several) are
   * judged one by one: past the limit the rest are refused with LOGIN_THROTTLED
   * (`retryAfterMs`) without being checked, while many right passwords at once all
   * succeed. Attempts on one pair also take turns in this process. Returns what
   * `evaluate` said.
   */
  async check(keys: [RuleName, string][], evaluate: () => Promise<boolean>, now: () => number = Date.now): Promise<boolean> {
    const names = this.names(keys);
    const pairs = names.filter((_, i) => keys[i][0] === 'pair');
    const previous = Promise.all(pairs.map((p) => this.turns.get(p)));
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    for (const p of pairs) this.turns.set(p, mine);
    try {
      await previous;
      const at = now();
      let wait = 0;
      const { admitted, ids } = await this.attempts.begin(names, this.since(keys, at), at, (lists) => (wait = this.longestWait(keys, lists, at)) === 0);
      if (!admitted) throw new FerryError('LOGIN_THROTTLED', `Too many wrong passwords. Try again in ${Math.ceil(wait / 1000)} s.`, { retryAfterMs: wait });
      const ok = await evaluate();
      // A right password ends a pair's back-off; on wide keys only this attempt is taken back.
      if (ok) await this.attempts.forgive(pairs, ids.filter((_, i) => keys[i][0] !== 'pair'));
      return ok;
    } finally {
      done();
      for (const p of pairs) if (this.turns.get(p) === mine) this.turns.delete(p);
    }
  }
}
