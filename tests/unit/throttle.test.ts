import { describe, expect, it } from 'vitest';
import { Throttle, type RuleName, type ThrottleRule } from '../../relay/auth/throttle.js';

const rules = (over: Partial<Record<RuleName, ThrottleRule>> = {}) => ({
  pair: { limit: 3, windowMs: 60_000, backoffMs: 1000 },
  account: { limit: 10, windowMs: 60_000 },
  address: { limit: 20, windowMs: 60_000 },
  link: { limit: 10, windowMs: 60_000 },
  ...over,
});

const wrong = async () => false;
const right = async () => true;
const code = (p: Promise<unknown>) => p.then(() => 'ok', (e) => e.code);

describe('Throttle', () => {
  it('judges guesses sent at once one by one: past the limit they are refused unchecked', async () => {
    const t = new Throttle(rules());
    let checked = 0;
    const guess = async () => (checked++, false);
    const results = await Promise.all(Array.from({ length: 100 }, () => code(t.check([['pair', 'alice|1.2.3.4']], guess))));
    expect(results.filter((r) => r === 'ok')).toHaveLength(3);
    expect(results.filter((r) => r === 'LOGIN_THROTTLED')).toHaveLength(97);
    expect(checked).toBe(3);
    // The right password sent last is refused too: it came after the limit.
    expect(await code(t.check([['pair', 'alice|1.2.3.4']], right))).toBe('LOGIN_THROTTLED');
  });

  it('lets many right passwords at once all through', async () => {
    const t = new Throttle(rules());
    const results = await Promise.all(Array.from({ length: 20 }, () => t.check([['pair', 'alice|here'], ['account', 'alice']], right)));
    expect(results.every(Boolean)).toBe(true);
  });

  it('backs a pair off: each further failure doubles the wait, settling below the window', async () => {
    const t = new Throttle(rules());
    const keys: [RuleName, string][] = [['pair', 'p']];
    let now = 0;
    const at = () => now;
    for (let i = 0; i < 3; i++) await t.check(keys, wrong, at);
    expect(await t.retryAfter(keys, 0)).toBe(1000);
    now = 1000;
    await t.check(keys, wrong, at);
    expect(await t.retryAfter(keys, 1000)).toBe(2000);
    now = 3000;
    await t.check(keys, wrong, at);
    expect(await t.retryAfter(keys, 3000)).toBe(4000);
    for (let i = 0; i < 10; i++) {
      now += await t.retryAfter(keys, now);
      await t.check(keys, wrong, at);
    }
    const wait = await t.retryAfter(keys, now);
    expect(wait).toBeGreaterThan(4000);
    expect(wait).toBeLessThanOrEqual(60_000);
  });

  it('a success ends the pair back-off and takes back only its own attempt on wide keys', async () => {
    const t = new Throttle(rules({ account: { limit: 3, windowMs: 60_000 } }));
    const at = () => 0;
    await t.check([['pair', 'bob|a'], ['account', 'bob']], wrong, at);
    await t.check([['pair', 'bob|a'], ['account', 'bob']], wrong, at);
    await t.check([['pair', 'bob|b'], ['account', 'bob']], right, at);
    expect(await t.retryAfter([['account', 'bob']], 1)).toBe(0);
    await t.check([['pair', 'bob|c'], ['account', 'bob']], wrong, at);
    expect(await t.retryAfter([['account', 'bob']], 1)).toBeGreaterThan(0);
    expect(await t.retryAfter([['pair', 'bob|b']], 1)).toBe(0);
  });

  it('keeps pairs apart: failures from one address do not hold back another', async () => {
    const t = new Throttle(rules());
    for (let i = 0; i < 3; i++) await t.check([['pair', 'alice|evil']], wrong);
    expect(await code(t.check([['pair', 'alice|evil']], right))).toBe('LOGIN_THROTTLED');
    expect(await t.check([['pair', 'alice|home']], right)).toBe(true);
  });

  it('a sliding-window rule frees attempts as the oldest leave the window', async () => {
    const t = new Throttle(rules({ address: { limit: 2, windowMs: 1000 } }));
    await t.check([['address', 'x']], wrong, () => 0);
    await t.check([['address', 'x']], wrong, () => 500);
    expect(await t.retryAfter([['address', 'x']], 600)).toBe(400);
    expect(await t.retryAfter([['address', 'x']], 1000)).toBe(0);
  });
});
