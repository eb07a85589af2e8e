import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../relay/auth/throttle.js';

describe('LoginThrottle', () => {
  it('locks a user after the per-user limit until the window passes', () => {
    const t = new LoginThrottle({ perUser: 3, perAddress: 100, windowMs: 1000 });
    for (let i = 0; i < 3; i++) t.fail('Alice', `10.0.0.${i}`, 100 + i);
    expect(t.retryAfter('alice', '10.9.9.9', 200)).toBe(100 + 1000 - 200);
    expect(t.retryAfter('alice', '10.9.9.9', 1100)).toBe(0);
  });

  it('locks an address guessing many users', () => {
    const t = new LoginThrottle({ perUser: 100, perAddress: 4, windowMs: 1000 });
    for (let i = 0; i < 4; i++) t.fail(`user${i}`, '1.2.3.4', 0);
    expect(t.retryAfter('someone-else', '1.2.3.4', 10)).toBeGreaterThan(0);
    expect(t.retryAfter('someone-else', '5.6.7.8', 10)).toBe(0);
  });

  it("a success clears the user's failures but not the address's", () => {
    const t = new LoginThrottle({ perUser: 2, perAddress: 2, windowMs: 1000 });
    t.fail('bob', 'a', 0);
    t.fail('bob', 'a', 0);
    t.succeed('bob');
    expect(t.retryAfter('bob', 'b', 1)).toBe(0);
    expect(t.retryAfter('bob', 'a', 1)).toBeGreaterThan(0);
  });
});
