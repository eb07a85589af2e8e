/**
 * The CLI's encryption keys: `ferry keys init|show|passphrase|recover`, `ferry unlock`
 * and `ferry lock`. The relay keeps only the key record (the account key wrapped under
 * the passphrase and under the recovery key). Unlocking keeps the account key on this
 * machine in a file only its owner can read (0600, beside the session), until `ferry
 * lock`, `ferry logout`, or the time given with `--for` ends; nothing else of it is
 * written anywhere.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerryError } from '../protocol/index.js';
import { changePassphrase, checkAccountKey, createAccountKeys, keyFingerprint, parseKeyRecord, unlockWithPassphrase, unlockWithRecoveryKey, type AccountKeyRecord } from '../crypto/account.js';
import { fromBase64Url, toBase64Url } from '../crypto/format.js';
import type { FerryClient } from '../client/connection.js';
import { configPath, pinnedKeys, type CliSession } from './config-file.js';
import { readPassword } from './prompt.js';

function unlockedFile(session: Pick<CliSession, 'url' | 'user'>): string {
  const id = createHash('sha256').update(`${new URL(session.url).origin}|${session.user.toLowerCase()}`).digest('hex').slice(0, 16);
  return path.join(path.dirname(configPath()), `unlocked-${id}.json`);
}

/** The account key this machine holds unlocked for the session's user, if any (and not expired). */
export async function unlockedKey(session: Pick<CliSession, 'url' | 'user'>): Promise<Uint8Array | undefined> {
  let kept: { key: string; until?: number };
  try {
    kept = JSON.parse(await readFile(unlockedFile(session), 'utf8'));
  } catch {
    return undefined;
  }
  if (kept.until !== undefined && Date.now() > kept.until) {
    await lockKeys(session);
    return undefined;
  }
  return fromBase64Url(kept.key);
}

async function keepUnlocked(session: Pick<CliSession, 'url' | 'user'>, key: Uint8Array, until?: number): Promise<void> {
  const file = unlockedFile(session);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify({ key: toBase64Url(key), ...(until ? { until } : {}) }), { mode: 0o600 });
}

/** Forgets the unlocked key on this machine. */
export async function lockKeys(session: Pick<CliSession, 'url' | 'user'>): Promise<void> {
  await rm(unlockedFile(session), { force: true });
}

/** A passphrase from FERRY_PASSPHRASE, else asked (twice when it is a new one). */
async function passphrase(prompt: string, confirm = false): Promise<string> {
  if (process.env.FERRY_PASSPHRASE !== undefined) return process.env.FERRY_PASSPHRASE;
  const first = await readPassword(prompt);
  if (confirm && process.stdin.isTTY && (await readPassword('The same again: ')) !== first) throw new FerryError('BAD_MESSAGE', 'The two passphrases differ; nothing was changed.');
  return first;
}

async function myRecord(client: FerryClient): Promise<AccountKeyRecord> {
  const { record } = await client.request('e2e.keys', {});
  if (record === undefined) throw new FerryError('E2E_NO_KEYS');
  return parseKeyRecord(record);
}

/** `ferry keys init`: new keys; prints the recovery key once. */
export async function keysInit(client: FerryClient, session: CliSession, out: (line: string) => void): Promise<void> {
  if ((await client.request('e2e.keys', {})).record !== undefined) throw new FerryError('E2E_KEYS_EXIST');
  const made = await createAccountKeys(await passphrase('New passphrase for your encryption keys: ', true));
  await client.request('e2e.keys.put', { record: JSON.stringify(made.record), replace: false });
  await keepUnlocked(session, made.accountKey);
  out('Your encryption keys are made, and unlocked on this machine.');
  out('');
  out(`Recovery key: ${made.recoveryKey}`);
  out('');
  out('Write the recovery key down and keep it apart from this machine. It opens your encrypted');
  out('folders when the passphrase is lost; lose both, and nobody (the relay included) can read them.');
  out(`Public key fingerprint: ${await keyFingerprint(made.record)}`);
}

/** `ferry keys show`: whether there are keys, their fingerprint, and whether they are unlocked here. */
export async function keysShow(client: FerryClient, session: CliSession, out: (line: string) => void): Promise<void> {
  const { record } = await client.request('e2e.keys', {});
  if (record === undefined) return out('No encryption keys yet (ferry keys init makes them).');
  const r = parseKeyRecord(record);
  out(`Public key fingerprint: ${await keyFingerprint(r)}`);
  out(`Passphrase: Argon2id, ${r.kdf.memoryKiB / 1024} MiB, ${r.kdf.iterations} passes`);
  out(`On this machine: ${(await unlockedKey(session)) ? 'unlocked (ferry lock locks it)' : 'locked (ferry unlock)'}`);
  const pins = await pinnedKeys(session.url);
  if (Object.keys(pins).length) {
    out('Others, as this machine first saw their keys (compare with them):');
    for (const [user, fp] of Object.entries(pins)) out(`  ${user.padEnd(16)} ${fp}`);
  }
}

/** `ferry unlock [--for DURATION]`. */
export async function unlock(client: FerryClient, session: CliSession, forMs: number | undefined, out: (line: string) => void): Promise<void> {
  const record = await myRecord(client);
  const ak = await unlockWithPassphrase(record, await passphrase('Passphrase: '));
  await checkAccountKey(record, ak);
  await keepUnlocked(session, ak, forMs ? Date.now() + forMs : undefined);
  out(`Unlocked${forMs ? ` for ${Math.round(forMs / 60_000)} min` : ' until ferry lock or ferry logout'}.`);
}

/** `ferry keys passphrase`: a new passphrase (the keys stay the same). */
export async function keysPassphrase(client: FerryClient, session: CliSession, out: (line: string) => void): Promise<void> {
  const record = await myRecord(client);
  const ak = (await unlockedKey(session)) ?? (await unlockWithPassphrase(record, await readPassword('Current passphrase: ')));
  const next = await changePassphrase(record, ak, await passphrase('New passphrase: ', true));
  await client.request('e2e.keys.put', { record: JSON.stringify(next), replace: true });
  out('The passphrase is changed. The recovery key stays as it was.');
}

/** `ferry keys recover`: the recovery key (FERRY_RECOVERY_KEY or asked) and a new passphrase. */
export async function keysRecover(client: FerryClient, session: CliSession, out: (line: string) => void): Promise<void> {
  const record = await myRecord(client);
  const ak = await unlockWithRecoveryKey(record, process.env.FERRY_RECOVERY_KEY ?? (await readPassword('Recovery key: ')));
  await checkAccountKey(record, ak);
  const next = await changePassphrase(record, ak, await passphrase('New passphrase: ', true));
  await client.request('e2e.keys.put', { record: JSON.stringify(next), replace: true });
  await keepUnlocked(session, ak);
  out('Recovered: the new passphrase opens your keys, and they are unlocked on this machine.');
}
