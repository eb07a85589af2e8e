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
 * are never throttled). See docs/limits.md. Kept in memory: a restart forgets it.
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

export class Throttle {
  private readonly failures = new Map<string, number[]>();
  /** Attempts on one pair run one after another (see `check`). */
  private readonly turns = new Map<string, Promise<unknown>>();

  constructor(private readonly rules: Record<RuleName, ThrottleRule> = RULES) {}

  private recent(key: string, rule: ThrottleRule, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - rule.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  private wait(list: number[], rule: ThrottleRule, now: number): number {
    if (list.length < rule.limit) return 0;
    if (rule.backoffMs !== undefined) {
      const wait = Math.min(rule.windowMs, rule.backoffMs * 2 ** (list.length - rule.limit));
      return Math.max(0, list[list.length - 1] + wait - now);
    }
    return list[list.length - rule.limit] + rule.windowMs - now;
  }

  /** Milliseconds until an attempt on all these keys would be allowed (0 = now). */
  retryAfter(keys: [RuleName, string][], now = Date.now()): number {
    let wait = 0;
    for (const [rule, key] of keys) wait = Math.max(wait, this.wait(this.recent(`${rule}:${key}`, this.rules[rule], now), this.rules[rule], now));
    return wait;
  }

  /**
   * Runs one password check under these keys. Attempts on the same pair take turns, and
   * each is counted as a failure on every key *before* `evaluate` runs (a right password
   * takes it back), so guesses sent at once are judged one by one: past the limit the rest
   * are refused with LOGIN_THROTTLED (`retryAfterMs`) without being checked, while many
   * right passwords at once all succeed. Returns what `evaluate` said.
   */
  async check(keys: [RuleName, string][], evaluate: () => Promise<boolean>, now: () => number = Date.now): Promise<boolean> {
    const pairs = keys.filter(([rule]) => rule === 'pair').map(([rule, key]) => `${rule}:${key}`);
    const previous = Promise.all(pairs.map((p) => this.turns.get(p)));
    let done!: () => void;
    const mine = new Promise<void>((resolve) => (done = resolve));
    for (const p of pairs) this.turns.set(p, mine);
    try {
      await previous;
      const at = now();
      const wait = this.retryAfter(keys, at);
      if (wait > 0) throw new FerryError('LOGIN_THROTTLED', `Too many wrong passwords. Try again in ${Math.ceil(wait / 1000)} s.`, { retryAfterMs: wait });
      const names = keys.map(([rule, key]) => `${rule}:${key}`);
      for (const name of names) {
        const list = this.failures.get(name) ?? [];
        list.push(at);
        this.failures.set(name, list);
      }
      const ok = await evaluate();
      if (ok) {
        for (const [i, name] of names.entries()) {
          // A right password ends a pair's back-off; on wide keys only this attempt is taken back.
          if (keys[i][0] === 'pair') {
            this.failures.delete(name);
            continue;
          }
          const list = this.failures.get(name);
          const k = list?.lastIndexOf(at) ?? -1;
          if (list && k >= 0) list.splice(k, 1);
        }
      }
      return ok;
    } finally {
      done();
      for (const p of pairs) if (this.turns.get(p) === mine) this.turns.delete(p);
    }
  }
}
