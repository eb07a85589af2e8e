/**
 * The end-to-end formats, pinned: known answers for every deterministic output (a change
 * to a label, a derivation or an encoding breaks this test, and with it every stored
 * folder), one output rebuilt with Node's own crypto to show the construction is what
 * docs/encryption.md says, and what each opening refuses.
 */
import { createCipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeSealPool, openChunkNode } from '../../relay/cli/seal-pool.js';
import { describe, expect, it } from 'vitest';
import { FolderCipher, unwrapFolderKeyForSelf, unwrapFolderKeyFrom, wrapFolderKeyFor, wrapFolderKeyForSelf } from '../../relay/crypto/folder.js';
import { changePassphrase, createAccountKeys, formatRecoveryKey, importPublicKey, openPrivateKey, parseKeyRecord, parseRecoveryKey, unlockWithPassphrase, unlockWithRecoveryKey } from '../../relay/crypto/account.js';
import { argon2 } from '../../relay/crypto/primitives.js';
import { CHUNK_SIZE } from '../../relay/protocol/index.js';
import { ENCRYPTED_NAME_RE, LABEL, PLAIN_CHUNK, bind, cipherSize, fromBase64Url, plainSize, toBase64Url } from '../../relay/crypto/format.js';

const FOLDER = 'AAAAAAAAAAAAAAAAAAAAAA';
const FK = new Uint8Array(32).map((_, i) => i);
const cipher = () => FolderCipher.create(FOLDER, new Map([[1, FK]]));
const FAST_KDF = { algorithm: 'argon2id' as const, memoryKiB: 1024, iterations: 2, parallelism: 1 };

describe('format v1 known answers', () => {
  it('seals a chunk deterministically', async () => {
    const sealed = await (await cipher()).sealChunk(new TextEncoder().encode('ferry chunk'));
    expect(toBase64Url(sealed)).toBe('YR8dMbc-r7DW81P5QnMPzMAh5RJPE9aHuQTKtVnJIUBupRNo3yon');
  });

  it('is HKDF, HMAC and AES-256-GCM as documented (rebuilt with node:crypto)', async () => {
    const plain = Buffer.from('ferry chunk');
    const info = (label: string) => Buffer.from(bind(label, FOLDER, 1));
    const chunkKey = Buffer.from(hkdfSync('sha256', FK, Buffer.alloc(0), info(LABEL.chunkKey), 32));
    const macKey = Buffer.from(hkdfSync('sha256', FK, Buffer.alloc(0), info(LABEL.macKey), 32));
    const nonce = createHmac('sha256', macKey).update(plain).digest().subarray(0, 12);
    const c = createCipheriv('aes-256-gcm', chunkKey, nonce);
    c.setAAD(Buffer.from(bind(LABEL.chunk, FOLDER, 1)));
    const expected = Buffer.concat([nonce, c.update(plain), c.final(), c.getAuthTag()]);
    expect(Buffer.from(await (await cipher()).sealChunk(plain)).toString('hex')).toBe(expected.toString('hex'));
  });

  it('the CLI\'s seal pool seals a chunk exactly as the cipher does', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-seal-'));
    const pool = new NodeSealPool(1);
    try {
      const data = randomBytes(PLAIN_CHUNK + 10);
      writeFileSync(path.join(dir, 'f'), data);
      const c = await cipher();
      const second = await pool.seal(path.join(dir, 'f'), PLAIN_CHUNK, 10, c.chunkSealing());
      expect(Buffer.from(second.sealed).equals(Buffer.from(await c.sealChunk(data.subarray(PLAIN_CHUNK))))).toBe(true);
      expect(second.sha256).toBe(createHash('sha256').update(second.sealed).digest('hex'));
      const first = await pool.seal(path.join(dir, 'f'), 0, PLAIN_CHUNK, c.chunkSealing());
      expect(first.sealed.length).toBe(CHUNK_SIZE);
      expect(await c.openChunk(first.sealed, 1, 0)).toEqual(new Uint8Array(data.subarray(0, PLAIN_CHUNK)));
      // And the CLI's opener reads what the cipher seals, refusing a flipped bit.
      expect(Buffer.from(openChunkNode(second.sealed, c.chunkSealing())).equals(data.subarray(PLAIN_CHUNK))).toBe(true);
      const flipped = new Uint8Array(second.sealed);
      flipped[14] ^= 1;
      expect(() => openChunkNode(flipped, c.chunkSealing())).toThrow();
    } finally {
      await pool.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('seals a name deterministically, and opens only names sealed so', async () => {
    const c = await cipher();
    const sealed = await c.sealName('Report 2026.pdf');
    expect(sealed).toBe('e1.XNXzJMaIPttKTaiFSYkXM6XPxtJh1BLWpyQiz5QpJi9IFdGfmw2O_vKIzQ');
    expect(sealed).toMatch(ENCRYPTED_NAME_RE);
    expect(await c.openName(sealed)).toBe('Report 2026.pdf');
    expect(await c.openPath(await c.sealPath('a/b/c.txt'))).toBe('a/b/c.txt');
    const flipped = sealed.slice(0, -3) + (sealed.at(-3) === 'A' ? 'B' : 'A') + sealed.slice(-2);
    await expect(c.openName(flipped)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    const other = await FolderCipher.create('BBBBBBBBBBBBBBBBBBBBBB', new Map([[1, FK]]));
    await expect(other.openName(sealed)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    // The longest name fits the relay's 255 bytes; a longer one is refused before sealing.
    expect((await c.sealName('x'.repeat(160))).length).toBeLessThanOrEqual(255);
    await expect(c.sealName('x'.repeat(161))).rejects.toMatchObject({ code: 'BAD_PATH' });
  });

  it('opens sealed version facts written by an earlier build', async () => {
    const stored =
      'm1.1.EP-kqGdnIxrhsXPgkqBjHxCTWxFHWknyhzi5NHVoIlvZtR4KciGtDhQe2rxLyZmGE9n0UcF4uQHwZzXYx2INtxgewKk2zojUTf2Yqg6fnvwF90p1Ruvp8fYVmpX-HydXLa0Mept4hERKJ12uA56-EX5hzRDnu3Wzt4LXnPSnPbzCgkP9gVydVglb05UUhxww4OLiMGDRcFRzChcZKMnboW5FKUsdRYE3KCoEpUgyDA5WtCvB9DHwNRznGA5QJxua-kk8QyD2PIR8Z5ELaSOfF-tmEAljTooJozErCjwF5FSnlT4AtGC5EqXAKBj4VtVZ';
    expect(await (await cipher()).openFacts(stored)).toEqual({
      epoch: 1,
      facts: { v: 1, fileId: 'f1', name: 'a.txt', size: 3, sha256: 'a'.repeat(64), contentHash: 'b'.repeat(64), mtime: 5 },
    });
    await expect((await FolderCipher.create(FOLDER, new Map([[1, new Uint8Array(32)]]))).openFacts(stored)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
  });

  it('writes recovery keys and Argon2id keys the same way', async () => {
    expect(await formatRecoveryKey(new Uint8Array(32).map((_, i) => 255 - i))).toBe('ZZZFV-Z7VZB-WZHXZ-PYQTF-7WQHY-3QYXV-FCXFN-EKT77-WVJY9-RZ2W7-G1GS8');
    expect(toBase64Url(await argon2('correct horse battery', new Uint8Array(16).fill(1), FAST_KDF))).toBe('y84Y82qF_5Ux2EEuUw1z0026bxkHdazo_BYG4bjU-2o');
  });

  it('sizes: a sealed chunk is exactly the relay\'s chunk size', () => {
    expect(PLAIN_CHUNK + 28).toBe(CHUNK_SIZE);
    for (const n of [0, 1, PLAIN_CHUNK - 1, PLAIN_CHUNK, PLAIN_CHUNK + 1, 10 * PLAIN_CHUNK + 5]) expect(plainSize(cipherSize(n))).toBe(n);
    expect(cipherSize(PLAIN_CHUNK)).toBe(CHUNK_SIZE);
    expect(cipherSize(0)).toBe(0);
  });
});

describe('account keys', () => {
  it('open with the passphrase or the recovery key, and with a new passphrase after a change', async () => {
    const { record, recoveryKey, accountKey } = await createAccountKeys('a long passphrase', FAST_KDF);
    const stored = parseKeyRecord(JSON.stringify(record));
    expect(await unlockWithPassphrase(stored, 'a long passphrase')).toEqual(accountKey);
    await expect(unlockWithPassphrase(stored, 'a wrong passphrase')).rejects.toMatchObject({ code: 'E2E_WRONG_PASSPHRASE' });
    // As typed from paper: lower case, spaces, O for zero.
    expect(await unlockWithRecoveryKey(stored, recoveryKey.toLowerCase().replace(/-/g, ' ').replace(/0/g, 'o'))).toEqual(accountKey);
    const typo = recoveryKey.slice(0, 3) + (recoveryKey[3] === 'A' ? 'B' : 'A') + recoveryKey.slice(4);
    await expect(parseRecoveryKey(typo)).rejects.toMatchObject({ code: 'E2E_WRONG_PASSPHRASE' });
    const changed = await changePassphrase(stored, accountKey, 'another passphrase', FAST_KDF);
    expect(await unlockWithPassphrase(changed, 'another passphrase')).toEqual(accountKey);
    await expect(unlockWithPassphrase(changed, 'a long passphrase')).rejects.toMatchObject({ code: 'E2E_WRONG_PASSPHRASE' });
    expect(changed.byRecovery).toBe(stored.byRecovery);
  });

  it('wrap folder keys from one person to another (ECDH), bound to folder, epoch and both names', async () => {
    const a = await createAccountKeys('alice passphrase', FAST_KDF);
    const b = await createAccountKeys('bob passphrase!', FAST_KDF);
    const aPriv = await openPrivateKey(a.record, a.accountKey);
    const bPriv = await openPrivateKey(b.record, b.accountKey);
    const env = await wrapFolderKeyFor(aPriv, await importPublicKey(b.record.publicKey), FK, FOLDER, 3, 'alice', 'bob');
    expect(await unwrapFolderKeyFrom(bPriv, await importPublicKey(a.record.publicKey), env, FOLDER, 3, 'alice', 'bob')).toEqual(FK);
    // Claimed to be from someone else, for someone else, or another epoch: refused.
    const c = await createAccountKeys('carol passphrase', FAST_KDF);
    await expect(unwrapFolderKeyFrom(bPriv, await importPublicKey(c.record.publicKey), env, FOLDER, 3, 'alice', 'bob')).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    await expect(unwrapFolderKeyFrom(bPriv, await importPublicKey(a.record.publicKey), env, FOLDER, 3, 'carol', 'bob')).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    await expect(unwrapFolderKeyFrom(bPriv, await importPublicKey(a.record.publicKey), env, FOLDER, 4, 'alice', 'bob')).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    // A record whose public key was swapped does not open its private key.
    await expect(openPrivateKey({ ...a.record, publicKey: b.record.publicKey }, a.accountKey)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
  });

  it('wrap folder keys for their owner, bound to the folder and epoch', async () => {
    const ak = new Uint8Array(32).fill(9);
    const env = await wrapFolderKeyForSelf(ak, FK, FOLDER, 1);
    expect(await unwrapFolderKeyForSelf(ak, env, FOLDER, 1)).toEqual(FK);
    await expect(unwrapFolderKeyForSelf(ak, env, FOLDER, 2)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    await expect(unwrapFolderKeyForSelf(ak, env, 'BBBBBBBBBBBBBBBBBBBBBB', 1)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    await expect(unwrapFolderKeyForSelf(new Uint8Array(32), env, FOLDER, 1)).rejects.toMatchObject({ code: 'E2E_TAMPERED' });
    expect(fromBase64Url(env).length).toBe(12 + 32 + 16);
  });
});
