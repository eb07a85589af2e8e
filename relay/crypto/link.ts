/**
 * Encrypted share links. The sender's device seals a copy of the file under a new random
 * link key, exactly as a one-file encrypted folder of its own would be sealed (folder id:
 * the copy's random id; epoch 1: the link key), and puts the key in the link's fragment
 * (`#k=<base64url>`), which browsers never send to a server. The visitor's browser opens
 * the copy's sealed facts (name, size, SHA-256) and its chunks with that key, and checks
 * the SHA-256 before it saves anything. The relay holds the copy and the key wrapped for
 * the sender (so their devices can show the whole link again), and can open neither.
 */
import { FerryError } from '../protocol/errors.js';
import { accountSubkey } from './account.js';
import { FolderCipher, newFolderId } from './folder.js';
import { LABEL, bind, fromBase64Url, toBase64Url } from './format.js';
import { open, randomBytes, seal, type Bytes } from './primitives.js';

/** A link's key and the cipher of its copy. */
export interface LinkSeal {
  /** The copy's id: its path in the sender's space of link copies, bound into everything sealed. */
  copyId: string;
  key: Bytes;
  cipher: FolderCipher;
}

export async function newLinkSeal(): Promise<LinkSeal> {
  const copyId = newFolderId();
  const key = randomBytes(32);
  return { copyId, key, cipher: await linkCipher(copyId, key) };
}

export function linkCipher(copyId: string, key: Uint8Array): Promise<FolderCipher> {
  return FolderCipher.create(copyId, new Map([[1, key]]));
}

/** The fragment of an encrypted link: `k=` and the key in base64url (43 characters). */
export function linkFragment(key: Uint8Array): string {
  return `k=${toBase64Url(key)}`;
}

/** The key in a link's fragment (`#k=…`, other parameters ignored), or undefined. */
export function keyOfFragment(hash: string): Uint8Array | undefined {
  const m = /(?:^#?|&)k=([A-Za-z0-9_-]{43})(?:&|$)/.exec(hash);
  if (!m) return undefined;
  try {
    const key = fromBase64Url(m[1]);
    return key.length === 32 ? key : undefined;
  } catch {
    return undefined;
  }
}

/** The link key wrapped for its sender, under a key derived from their account key. */
export async function wrapLinkKey(ak: Uint8Array, key: Uint8Array, copyId: string): Promise<string> {
  return toBase64Url(await seal(await accountSubkey(ak, LABEL.folderKeyWrap), key, bind(LABEL.linkKey, copyId)));
}

export async function unwrapLinkKey(ak: Uint8Array, envelope: string, copyId: string): Promise<Bytes> {
  if (!/^[A-Za-z0-9_-]+$/.test(envelope)) throw new FerryError('E2E_TAMPERED', "A link's key is not in a form this Ferry reads.");
  return open(await accountSubkey(ak, LABEL.folderKeyWrap), fromBase64Url(envelope), bind(LABEL.linkKey, copyId), "This link's key");
}

/** An encrypted link's file name and fragment, opened on its owner's device with their account key. */
export async function openOwnLink(ak: Uint8Array, copyId: string, e2e: { key: string; sealed: string }): Promise<{ name: string; fragment: string }> {
  const key = await unwrapLinkKey(ak, e2e.key, copyId);
  const { facts } = await (await linkCipher(copyId, key)).openFacts(e2e.sealed);
  return { name: facts.name, fragment: linkFragment(key) };
}
