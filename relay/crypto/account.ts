/**
 * A person's encryption keys. One random 256-bit account key (AK) opens everything else;
 * the relay keeps it only wrapped (AES-256-GCM) twice: under a key derived from the
 * passphrase with Argon2id, and under the recovery key (256 random bits shown once, at
 * setup). Changing the passphrase re-wraps AK and nothing else. An ECDH P-256 key pair
 * (its private half wrapped under AK) is what folder keys will be wrapped to when
 * encrypted folders are shared. Losing both passphrase and recovery key loses the data:
 * nobody, the relay included, can open AK then.
 */
import { base32crockford } from '@scure/base';
import { FerryError } from '../protocol/errors.js';
import { E2E_FORMAT, KDF_DEFAULTS, LABEL, bind, fromBase64Url, toBase64Url } from './format.js';
import { aesKey, argon2, hkdf, open, randomBytes, seal, subtle, type Bytes } from './primitives.js';

/** What the relay keeps for a person (it opens none of it). */
export interface AccountKeyRecord {
  v: typeof E2E_FORMAT;
  kdf: { algorithm: 'argon2id'; memoryKiB: number; iterations: number; parallelism: number; salt: string };
  /** AK sealed under the passphrase's key, and under the recovery key. */
  byPassphrase: string;
  byRecovery: string;
  /** ECDH P-256: the public key (SPKI) as anyone may see it, the private key (PKCS #8) sealed under AK. */
  publicKey: string;
  privateKey: string;
}

/** Longest key record the relay keeps (characters of its JSON). */
export const MAX_KEY_RECORD_CHARS = 4096;

/** Checks the shape of a record (from the relay or a file) before using it. */
export function parseKeyRecord(json: string): AccountKeyRecord {
  let r: AccountKeyRecord;
  try {
    r = JSON.parse(json) as AccountKeyRecord;
  } catch {
    throw new FerryError('E2E_TAMPERED', 'The key record is not JSON.');
  }
  const ok =
    r?.v === E2E_FORMAT &&
    r.kdf?.algorithm === 'argon2id' &&
    [r.kdf.memoryKiB, r.kdf.iterations, r.kdf.parallelism].every((n) => Number.isInteger(n) && n > 0) &&
    r.kdf.memoryKiB <= 4 * 1024 * 1024 &&
    r.kdf.iterations <= 100 &&
    r.kdf.parallelism <= 16 &&
    [r.kdf.salt, r.byPassphrase, r.byRecovery, r.publicKey, r.privateKey].every((s) => typeof s === 'string' && /^[A-Za-z0-9_-]+$/.test(s));
  if (!ok) throw new FerryError('E2E_TAMPERED', 'The key record is not one this Ferry can read.');
  return r;
}

/** The recovery key as a person writes it down: Crockford base32 in groups of five, with a check. */
export async function formatRecoveryKey(key: Uint8Array): Promise<string> {
  const check = new Uint8Array(await subtle().digest('SHA-256', new Uint8Array(key))).subarray(0, 2);
  const text = base32crockford.encode(new Uint8Array([...key, ...check]));
  return text.match(/.{1,5}/g)!.join('-');
}

/** Reads a recovery key as typed: any case, spaces or dashes, O for 0 and I or L for 1. */
export async function parseRecoveryKey(text: string): Promise<Bytes> {
  const clean = text.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
  let bytes: Uint8Array;
  try {
    bytes = base32crockford.decode(clean);
  } catch {
    throw new FerryError('E2E_WRONG_PASSPHRASE', 'That is not a recovery key (it has letters a recovery key never has).');
  }
  const key = new Uint8Array(bytes.subarray(0, 32));
  if (bytes.length !== 34 || (await formatRecoveryKey(key)).replace(/-/g, '') !== clean) {
    throw new FerryError('E2E_WRONG_PASSPHRASE', 'That recovery key has a typo (its check does not match).');
  }
  return key;
}

async function passphraseKey(passphrase: string, kdf: AccountKeyRecord['kdf']): Promise<CryptoKey> {
  return aesKey(await argon2(passphrase, fromBase64Url(kdf.salt), kdf));
}

/** The key AK wraps the private key (and folder keys) with, apart from AK itself. */
export async function accountSubkey(ak: Uint8Array, label: string): Promise<CryptoKey> {
  return aesKey(await hkdf(ak, bind(label)));
}

/**
 * New keys for a person: the record for the relay, the recovery key to show them once,
 * and AK itself (unlocked).
 */
export async function createAccountKeys(passphrase: string, kdf = KDF_DEFAULTS): Promise<{ record: AccountKeyRecord; recoveryKey: string; accountKey: Bytes }> {
  if (passphrase.length < 8) throw new FerryError('BAD_MESSAGE', 'A passphrase has 8 characters at least (a few words are best).');
  const ak = randomBytes(32);
  const recovery = randomBytes(32);
  const salt = toBase64Url(randomBytes(16));
  const k = { algorithm: 'argon2id' as const, memoryKiB: kdf.memoryKiB, iterations: kdf.iterations, parallelism: kdf.parallelism, salt };
  const pair = (await subtle().generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])) as CryptoKeyPair;
  const spki = new Uint8Array(await subtle().exportKey('spki', pair.publicKey));
  const pkcs8 = new Uint8Array(await subtle().exportKey('pkcs8', pair.privateKey));
  const record: AccountKeyRecord = {
    v: E2E_FORMAT,
    kdf: k,
    byPassphrase: toBase64Url(await seal(await passphraseKey(passphrase, k), ak, bind(LABEL.passphrase))),
    byRecovery: toBase64Url(await seal(await aesKey(recovery), ak, bind(LABEL.recovery))),
    publicKey: toBase64Url(spki),
    privateKey: toBase64Url(await seal(await accountSubkey(ak, LABEL.privateKey), pkcs8, bind(LABEL.privateKey, spki))),
  };
  return { record, recoveryKey: await formatRecoveryKey(recovery), accountKey: ak };
}

/** AK from the passphrase; E2E_WRONG_PASSPHRASE when it does not open. */
export async function unlockWithPassphrase(record: AccountKeyRecord, passphrase: string): Promise<Bytes> {
  try {
    return await open(await passphraseKey(passphrase, record.kdf), fromBase64Url(record.byPassphrase), bind(LABEL.passphrase), 'The account key');
  } catch (err) {
    if ((err as FerryError).code === 'E2E_TAMPERED') throw new FerryError('E2E_WRONG_PASSPHRASE');
    throw err;
  }
}

/** AK from the recovery key. */
export async function unlockWithRecoveryKey(record: AccountKeyRecord, recoveryKey: string): Promise<Bytes> {
  const key = await parseRecoveryKey(recoveryKey);
  try {
    return await open(await aesKey(key), fromBase64Url(record.byRecovery), bind(LABEL.recovery), 'The account key');
  } catch (err) {
    if ((err as FerryError).code === 'E2E_TAMPERED') throw new FerryError('E2E_WRONG_PASSPHRASE', 'The recovery key does not open your keys.');
    throw err;
  }
}

/** The record with AK wrapped under a new passphrase (new salt; the recovery key stays). */
export async function changePassphrase(record: AccountKeyRecord, ak: Uint8Array, passphrase: string, kdf = KDF_DEFAULTS): Promise<AccountKeyRecord> {
  if (passphrase.length < 8) throw new FerryError('BAD_MESSAGE', 'A passphrase has 8 characters at least (a few words are best).');
  const k = { algorithm: 'argon2id' as const, memoryKiB: kdf.memoryKiB, iterations: kdf.iterations, parallelism: kdf.parallelism, salt: toBase64Url(randomBytes(16)) };
  return { ...record, kdf: k, byPassphrase: toBase64Url(await seal(await passphraseKey(passphrase, k), ak, bind(LABEL.passphrase))) };
}

/** Checks that AK opens the record's private key (so a stored unlocked key still belongs to it). */
export async function checkAccountKey(record: AccountKeyRecord, ak: Uint8Array): Promise<void> {
  await openPrivateKey(record, ak);
}

/** The record's private key (ECDH P-256), opened with AK; its sealing binds the public key, so a swapped one does not open. */
export async function openPrivateKey(record: AccountKeyRecord, ak: Uint8Array): Promise<CryptoKey> {
  const pkcs8 = await open(await accountSubkey(ak, LABEL.privateKey), fromBase64Url(record.privateKey), bind(LABEL.privateKey, fromBase64Url(record.publicKey)), 'The private key');
  return subtle().importKey('pkcs8', pkcs8, { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
}

/** A public key (SPKI, base64url) for ECDH. */
export function importPublicKey(spki: string): Promise<CryptoKey> {
  return subtle().importKey('spki', new Uint8Array(fromBase64Url(spki)), { name: 'ECDH', namedCurve: 'P-256' }, false, []);
}

/** SHA-256 of the public key, as 16 groups of four hex digits a person can compare. */
export async function keyFingerprint(record: Pick<AccountKeyRecord, 'publicKey'>): Promise<string> {
  const d = new Uint8Array(await subtle().digest('SHA-256', new Uint8Array(fromBase64Url(record.publicKey))));
  const hex = [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
  return hex.match(/.{4}/g)!.join(' ');
}
