/**
 * Failed-login throttle: at most `limit` failures per key inside a sliding window;
 * past that the key is refused until the oldest failure leaves the window.
 * Keys are `user:<name>` and `addr:<ip>`, so neither guessing one account from many
 * addresses nor many accounts from one address gets far. Kept in memory: a restart
 * forgets it, which costs an attacker a restart they cannot trigger.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limits: { perUser: number; perAddress: number; windowMs: number } = { perUser: 5, perAddress: 20, windowMs: 15 * 60_000 },
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.limits.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Milliseconds until another attempt is allowed for these keys (0 = allowed now). */
  retryAfter(user: string, address: string, now = Date.now()): number {
    let wait = 0;
    for (const [key, limit] of [[`user:${user.toLowerCase()}`, this.limits.perUser], [`addr:${address}`, this.limits.perAddress]] as const) {
      const list = this.recent(key, now);
      if (list.length >= limit) wait = Math.max(wait, list[list.length - limit] + this.limits.windowMs - now);
    }
    return wait;
  }

  fail(user: string, address: string, now = Date.now()): void {
    for (const key of [`user:${user.toLowerCase()}`, `addr:${address}`]) {
      const list = this.recent(key, now);
      list.push(now);
      this.failures.set(key, list);
    }
  }

  /** A successful login clears the user's failures (not the address's). */
  succeed(user: string): void {
    this.failures.delete(`user:${user.toLowerCase()}`);
  }
}
