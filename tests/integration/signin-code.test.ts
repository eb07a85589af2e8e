/**
 * One-time sign-in codes (the QR code of Connect a device): a code signs one device in
 * as its maker, once, for a few minutes; two devices racing for one code get one
 * session between them; a disabled maker or a changed password voids the codes; a
 * flood of guesses is throttled like wrong passwords.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../relay/client/index.js';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';
import { ADMIN, ALICE, BOB, relayLog, signIn, standardRelay, waitFor } from '../helpers/relay.js';

describe('one-time sign-in codes', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  // Codes last 1.5 s here, so expiry is tried without waiting minutes.
  beforeAll(async () => (env = await standardRelay([], { FERRY_LIMITS: JSON.stringify({ SIGNIN_CODE_MS: 1500 }) })));
  afterAll(() => env?.close());

  const device = async () => {
    const c = new FerryClient({ url: env.relay.wsUrl, createSocket: nodeSocketFactory });
    await c.connect();
    return c;
  };
  const codeOf = async (c: FerryClient) => c.request('signin.code', {});
  const tryCode = async (code: string) => {
    const c = await device();
    try {
      const r = await c.loginWithCode(code);
      // The session works for later requests and after a reconnect.
      await c.request('list', {});
      return { ok: r.user.name, token: r.token };
    } catch (err) {
      return { code: (err as { code?: string }).code };
    } finally {
      c.close();
    }
  };

  it('signs a device in as the maker, once', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      const { code, expiresAt } = await codeOf(alice);
      expect(code.length).toBeGreaterThanOrEqual(40);
      expect(expiresAt).toBeGreaterThan(Date.now());
      const first = await tryCode(code);
      expect(first.ok).toBe(ALICE.name);
      // The session token it gave is a real one.
      const again = new FerryClient({ url: env.relay.wsUrl, createSocket: nodeSocketFactory, token: first.token });
      await again.connect();
      expect(again.user?.name).toBe(ALICE.name);
      again.close();
      expect(await tryCode(code)).toEqual({ code: 'SIGNIN_CODE_INVALID' });
      const line = await waitFor(() => relayLog(env.relay.dataDir).find((l) => l.event === 'login' && l.method === 'code' && l.ok === true));
      expect(line.user).toBe(ALICE.name);
      // The code itself is never logged.
      expect(JSON.stringify(relayLog(env.relay.dataDir))).not.toContain(code);
    } finally {
      alice.close();
    }
  });

  it('ten devices racing for one code: exactly one gets in', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      const { code } = await codeOf(alice);
      const results = await Promise.all(Array.from({ length: 10 }, () => tryCode(code)));
      expect(results.filter((r) => r.ok === ALICE.name)).toHaveLength(1);
      expect(results.filter((r) => r.code === 'SIGNIN_CODE_INVALID')).toHaveLength(9);
    } finally {
      alice.close();
    }
  });

  it('an expired code is refused', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      const { code, expiresAt } = await codeOf(alice);
      await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
      expect(await tryCode(code)).toEqual({ code: 'SIGNIN_CODE_INVALID' });
    } finally {
      alice.close();
    }
  });

  it('disabling the maker, or a new password, voids codes made before', async () => {
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    const { code } = await codeOf(alice);
    alice.close();
    await admin.request('user.update', { name: ALICE.name, disabled: true });
    await admin.request('user.update', { name: ALICE.name, disabled: false });
    expect(await tryCode(code)).toEqual({ code: 'SIGNIN_CODE_INVALID' });

    const alice2 = await signIn(env.relay, ALICE.name, ALICE.password);
    const second = await codeOf(alice2);
    await alice2.request('password.change', { current: ALICE.password, password: `${ALICE.password}-new` });
    expect(await tryCode(second.code)).toEqual({ code: 'SIGNIN_CODE_INVALID' });
    await alice2.request('password.change', { current: `${ALICE.password}-new`, password: ALICE.password });
    alice2.close();
    admin.close();
  });

  it('a withdrawn code is refused; only its maker can withdraw it', async () => {
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    const bob = await signIn(env.relay, BOB.name, BOB.password);
    try {
      const { code } = await codeOf(alice);
      expect(await bob.request('signin.code.cancel', { code })).toEqual({ cancelled: false });
      expect(await alice.request('signin.code.cancel', { code })).toEqual({ cancelled: true });
      expect(await tryCode(code)).toEqual({ code: 'SIGNIN_CODE_INVALID' });
    } finally {
      alice.close();
      bob.close();
    }
  });

  it('needs a signed-in maker', async () => {
    const c = await device();
    try {
      await expect(codeOf(c)).rejects.toMatchObject({ code: 'AUTH_REQUIRED' });
    } finally {
      c.close();
    }
  });

  it('guessing codes is throttled per address, like wrong passwords', async () => {
    const codes: (string | undefined)[] = [];
    // The wide address rule allows 100 failures in its window (the wrong codes of the
    // tests above count too).
    for (let i = 0; i < 101; i++) codes.push((await tryCode(`guess-${i}-${'x'.repeat(30)}`)).code);
    const first = codes.indexOf('LOGIN_THROTTLED');
    expect(first).toBeGreaterThan(80);
    expect(codes.slice(0, first).every((c) => c === 'SIGNIN_CODE_INVALID')).toBe(true);
    expect(codes.slice(first).every((c) => c === 'LOGIN_THROTTLED')).toBe(true);
  });
});
