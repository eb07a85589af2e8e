/**
 * Password hashing with scrypt (node:crypto). Stored as
 * `scrypt$N$r$p$salt$hash` (base64), so parameters can be raised later without
 * breaking existing hashes.
 *
 * Every scrypt goes through one gate: at most PASSWORD_HASHES_AT_ONCE run at once, so a
 * burst of sign-ins cannot take all of libuv's threads (which chunk writes need), and a
 * bounded queue, per address and in all, past which a check is refused with RELAY_BUSY.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { FerryError } from '../protocol/index.js';
import { PASSWORD_HASHES_AT_ONCE, PASSWORD_QUEUE, PASSWORD_QUEUE_PER_ADDRESS } from '../limits.js';

/** Bounds concurrent password hashing; see the file's comment. */
export class PasswordGate {
  private running = 0;
  private readonly waiting: { address: string; start: () => void }[] = [];
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly atOnce = PASSWORD_HASHES_AT_ONCE,
    private readonly queue = PASSWORD_QUEUE,
    private readonly queuePerAddress = PASSWORD_QUEUE_PER_ADDRESS,
  ) {}

  /** Runs `work` when a slot is free; throws RELAY_BUSY when too many wait already. */
  async run<T>(address: string, work: () => Promise<T>): Promise<T> {
    const mine = this.perAddress.get(address) ?? 0;
    if (this.waiting.length >= this.queue || mine >= this.queuePerAddress) {
      throw new FerryError('RELAY_BUSY', 'Too many sign-ins are being checked right now. Try again in a moment.', { retryAfterMs: 1000 });
    }
    this.perAddress.set(address, mine + 1);
    try {
      if (this.running >= this.atOnce) await new Promise<void>((start) => this.waiting.push({ address, start }));
      else this.running++;
      try {
        return await work();
      } finally {
        const next = this.waiting.shift();
        if (next) next.start();
        else this.running--;
      }
    } finally {
      const n = (this.perAddress.get(address) ?? 1) - 1;
      if (n > 0) this.perAddress.set(address, n);
      else this.perAddress.delete(address);
    }
  }
}

/** The relay's one gate (one process, one thread pool). */
export const passwordGate = new PasswordGate();

const N = 2 ** 15;
const R = 8;
const P = 1;
const KEY_BYTES = 32;

function derive(password: string, salt: Buffer, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, { ...opts, maxmem: 256 * opts.N! * opts.r! }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string, address = 'local'): Promise<string> {
  const salt = randomBytes(16);
  const key = await passwordGate.run(address, () => derive(password, salt, { N, r: R, p: P }));
  return ['scrypt', N, R, P, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Checks a password against a stored hash; `address` is whose check it is (for the gate's per-address bound). */
export async function verifyPassword(password: string, stored: string, address = 'local'): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await passwordGate.run(address, () => derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) }));
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A hash to compare against when the user does not exist, so timing does not tell. */
export const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
