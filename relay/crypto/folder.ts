/**
 * An encrypted folder's keys and what they seal: chunks, names and each version's facts.
 *
 * A folder has an id (16 random bytes the creating client picks) and a folder key per
 * epoch (256 random bits; epoch 1 at creation, a new epoch when a member leaves). From a
 * folder key, HKDF-SHA-256 derives a chunk key, a MAC key and a facts key; names use the
 * first epoch's name key for as long as the folder lives, so one name always encrypts
 * the same way (the relay's per-path ordering, conflicts and racing uploads then work on
 * encrypted paths as they do on plain ones).
 *
 * - Chunk: nonce = HMAC(MAC key, plaintext)[0..12), AES-256-GCM under the chunk key with
 *   associated data (folder, epoch). The same plaintext chunk seals to the same bytes in
 *   one folder and epoch, so the relay deduplicates and resumes encrypted uploads; it
 *   learns which chunks are equal, nothing else.
 * - Name: each path segment, nonce = HMAC(MAC key, name)[0..12), AES-256-GCM under the
 *   name key with associated data (folder); `e1.` + base64url.
 * - Version facts (sealed): the file's id, its name, plaintext size and SHA-256, the
 *   content hash of the sealed chunk list and the modification time, AES-256-GCM under
 *   the facts key with a random nonce and associated data (folder, epoch). Reading
 *   checks the relay's chunk list against the sealed content hash (chunks cannot be
 *   swapped, reordered or moved between files), the name against the path asked for,
 *   and the plaintext SHA-256 at the end.
 */
import { FerryError } from '../protocol/errors.js';
import { E2E_FORMAT, ENCRYPTED_NAME_RE, LABEL, MAX_PLAIN_NAME_BYTES, NAME_PREFIX, NONCE_BYTES, SEALED_PREFIX, bind, fromBase64Url, toBase64Url } from './format.js';
import { accountSubkey } from './account.js';
import { aesKey, hkdf, hmac, hmacKey, open, randomBytes, seal, subtle, type Bytes } from './primitives.js';

/** What a version's sealed facts say (all of it hidden from the relay). */
export interface SealedFacts {
  v: typeof E2E_FORMAT;
  /** The file's id (random, kept across its versions and moves). */
  fileId: string;
  /** Its name when this version was written. */
  name: string;
  size: number;
  /** Plaintext SHA-256. */
  sha256: string;
  /** The content hash of the sealed chunk list (as the relay records it). */
  contentHash: string;
  mtime: number;
}

export function newFolderId(): string {
  return toBase64Url(randomBytes(16));
}

export function newFolderKey(): Bytes {
  return randomBytes(32);
}

/** A folder key wrapped for its owner, under a key derived from the owner's AK. */
export async function wrapFolderKeyForSelf(ak: Uint8Array, fk: Uint8Array, folderId: string, epoch: number): Promise<string> {
  return toBase64Url(await seal(await accountSubkey(ak, LABEL.folderKeyWrap), fk, bind(LABEL.folderKey, folderId, epoch)));
}

export async function unwrapFolderKeyForSelf(ak: Uint8Array, envelope: string, folderId: string, epoch: number): Promise<Bytes> {
  return open(await accountSubkey(ak, LABEL.folderKeyWrap), fromBase64Url(envelope), bind(LABEL.folderKey, folderId, epoch), `The key of epoch ${epoch} of this folder`);
}

/**
 * A folder key wrapped from one person to another: ECDH P-256 between the sender's private
 * key and the recipient's public key, HKDF-SHA-256 bound to (folder, epoch, sender,
 * recipient), AES-256-GCM with the same associated data. Only the two of them can make
 * or open it, so a recipient who checked the sender's public key (pinned on first use)
 * knows the key came from that person, not from the relay.
 */
export async function wrapFolderKeyFor(mine: CryptoKey, theirs: CryptoKey, fk: Uint8Array, folderId: string, epoch: number, from: string, to: string): Promise<string> {
  const kek = await shareKey(mine, theirs, folderId, epoch, from, to);
  return toBase64Url(await seal(kek, fk, bind(LABEL.folderKey, folderId, epoch, from.toLowerCase(), to.toLowerCase())));
}

export async function unwrapFolderKeyFrom(mine: CryptoKey, theirs: CryptoKey, envelope: string, folderId: string, epoch: number, from: string, to: string): Promise<Bytes> {
  const kek = await shareKey(mine, theirs, folderId, epoch, from, to);
  return open(kek, fromBase64Url(envelope), bind(LABEL.folderKey, folderId, epoch, from.toLowerCase(), to.toLowerCase()), `The key of epoch ${epoch} that ${from} shared`);
}

async function shareKey(mine: CryptoKey, theirs: CryptoKey, folderId: string, epoch: number, from: string, to: string): Promise<CryptoKey> {
  const shared = new Uint8Array(await subtle().deriveBits({ name: 'ECDH', public: theirs }, mine, 256));
  return aesKey(await hkdf(shared, bind(LABEL.folderKeyShare, folderId, epoch, from.toLowerCase(), to.toLowerCase())));
}

interface EpochKeys {
  /** The folder key itself (to share it with a member). */
  folder: Uint8Array;
  chunk: CryptoKey;
  mac: CryptoKey;
  meta: CryptoKey;
  /** The chunk and MAC keys' bytes, for sealing chunks on other threads (see `chunkSealing`). */
  raw: { chunk: Uint8Array; mac: Uint8Array };
}

/** What sealing a chunk needs, for code that does it elsewhere (a thread pool): keys and associated data. */
export interface ChunkSealing {
  epoch: number;
  chunkKey: Uint8Array;
  macKey: Uint8Array;
  aad: Uint8Array;
}

/** Seals and opens what one encrypted folder holds. */
export class FolderCipher {
  private constructor(
    readonly folderId: string,
    /** The epoch new versions are sealed in (the newest). */
    readonly epoch: number,
    private readonly epochs: Map<number, EpochKeys>,
    private readonly nameKey: CryptoKey,
    private readonly nameMac: CryptoKey,
  ) {}

  /** From the folder's keys by epoch (epoch 1 must be among them: names use it). */
  static async create(folderId: string, keys: Map<number, Uint8Array>): Promise<FolderCipher> {
    const first = keys.get(1);
    if (!first) throw new FerryError('E2E_TAMPERED', 'The folder\'s first key is missing.');
    const epochs = new Map<number, EpochKeys>();
    for (const [epoch, fk] of keys) {
      const chunk = await hkdf(fk, bind(LABEL.chunkKey, folderId, epoch));
      const mac = await hkdf(fk, bind(LABEL.macKey, folderId, epoch));
      epochs.set(epoch, {
        folder: fk,
        chunk: await aesKey(chunk),
        mac: await hmacKey(mac),
        meta: await aesKey(await hkdf(fk, bind(LABEL.metaKey, folderId, epoch))),
        raw: { chunk, mac },
      });
    }
    return new FolderCipher(
      folderId,
      Math.max(...keys.keys()),
      epochs,
      await aesKey(await hkdf(first, bind(LABEL.nameKey, folderId))),
      await hmacKey(await hkdf(first, bind(LABEL.macKey, folderId, 'names'))),
    );
  }

  private keysOf(epoch: number): EpochKeys {
    const k = this.epochs.get(epoch);
    if (!k) throw new FerryError('E2E_LOCKED', `This device has no key of epoch ${epoch} of the folder (you may have been removed from it).`);
    return k;
  }

  /** The folder key of an epoch, to wrap it for a member who lacks it. */
  folderKey(epoch: number): Uint8Array {
    return this.keysOf(epoch).folder;
  }

  /**
   * The keys and associated data of sealing chunks in the current epoch, for a thread pool
   * that seals exactly as `sealChunk` does (tests/unit/e2e-formats.test.ts checks one
   * built with Node's crypto against it).
   */
  chunkSealing(epoch = this.epoch): ChunkSealing {
    const k = this.keysOf(epoch);
    return { epoch, chunkKey: k.raw.chunk, macKey: k.raw.mac, aad: bind(LABEL.chunk, this.folderId, epoch) };
  }

  /** A plaintext chunk sealed (deterministically) in the current epoch. */
  sealChunk(plain: Uint8Array): Promise<Bytes> {
    return this.sealChunkIn(plain, this.epoch);
  }

  /** The same in a given epoch (to check a chunk kept from an earlier download of a version sealed in it). */
  async sealChunkIn(plain: Uint8Array, epoch: number): Promise<Bytes> {
    const k = this.keysOf(epoch);
    const nonce = (await hmac(k.mac, plain)).subarray(0, NONCE_BYTES);
    return seal(k.chunk, plain, bind(LABEL.chunk, this.folderId, epoch), nonce);
  }

  async openChunk(sealed: Uint8Array, epoch: number, index: number): Promise<Bytes> {
    return open(this.keysOf(epoch).chunk, sealed, bind(LABEL.chunk, this.folderId, epoch), `Chunk ${index}`);
  }

  /** One path segment, encrypted the same way every time. */
  async sealName(name: string): Promise<string> {
    const bytes = new TextEncoder().encode(name);
    if (bytes.length > MAX_PLAIN_NAME_BYTES) throw new FerryError('BAD_PATH', `"${name}" is ${bytes.length} bytes; names in an encrypted folder have ${MAX_PLAIN_NAME_BYTES} at most.`);
    const nonce = (await hmac(this.nameMac, bytes)).subarray(0, NONCE_BYTES);
    return NAME_PREFIX + toBase64Url(await seal(this.nameKey, bytes, bind(LABEL.name, this.folderId), nonce));
  }

  async openName(sealed: string): Promise<string> {
    if (!ENCRYPTED_NAME_RE.test(sealed)) throw new FerryError('E2E_TAMPERED', `"${sealed.slice(0, 40)}" is not an encrypted name.`);
    const plain = await open(this.nameKey, fromBase64Url(sealed.slice(NAME_PREFIX.length)), bind(LABEL.name, this.folderId), 'A name');
    const name = new TextDecoder('utf-8', { fatal: true }).decode(plain);
    // What was sealed is what would be sealed again (nothing but this name opens to it).
    if ((await this.sealName(name)) !== sealed) throw new FerryError('E2E_TAMPERED', 'A name was not sealed the way this folder seals names.');
    return name;
  }

  /** Every segment of a relative path, encrypted. */
  async sealPath(rel: string): Promise<string> {
    if (rel === '') return '';
    return (await Promise.all(rel.split('/').map((s) => this.sealName(s)))).join('/');
  }

  async openPath(rel: string): Promise<string> {
    if (rel === '') return '';
    return (await Promise.all(rel.split('/').map((s) => this.openName(s)))).join('/');
  }

  /**
   * A version's facts, sealed in the current epoch (or `epoch`: the one its chunks are
   * sealed in, when facts are sealed again under a new name): `m1.<epoch>.<base64url>`.
   */
  async sealFacts(facts: Omit<SealedFacts, 'v'>, epoch = this.epoch): Promise<string> {
    const body: SealedFacts = { v: E2E_FORMAT, fileId: facts.fileId, name: facts.name, size: facts.size, sha256: facts.sha256, contentHash: facts.contentHash, mtime: facts.mtime };
    const sealed = await seal(this.keysOf(epoch).meta, new TextEncoder().encode(JSON.stringify(body)), bind(LABEL.meta, this.folderId, epoch));
    return `${SEALED_PREFIX}${epoch}.${toBase64Url(sealed)}`;
  }

  /** Opens sealed facts; the epoch they name is the one the version's chunks are sealed in. */
  async openFacts(text: string): Promise<{ epoch: number; facts: SealedFacts }> {
    const m = /^m1\.(\d{1,9})\.([A-Za-z0-9_-]+)$/.exec(text);
    if (!m) throw new FerryError('E2E_TAMPERED', 'A version\'s sealed facts are not in a form this Ferry reads.');
    const epoch = Number(m[1]);
    const plain = await open(this.keysOf(epoch).meta, fromBase64Url(m[2]), bind(LABEL.meta, this.folderId, epoch), 'A version\'s facts');
    const facts = JSON.parse(new TextDecoder().decode(plain)) as SealedFacts;
    if (facts.v !== E2E_FORMAT || typeof facts.fileId !== 'string' || typeof facts.name !== 'string' || !Number.isSafeInteger(facts.size) || !/^[0-9a-f]{64}$/.test(facts.sha256) || !/^[0-9a-f]{64}$/.test(facts.contentHash)) {
      throw new FerryError('E2E_TAMPERED', 'A version\'s sealed facts are not complete.');
    }
    return { epoch, facts };
  }
}
