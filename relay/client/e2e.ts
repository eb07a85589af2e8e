/**
 * End-to-end encrypted folders for every client (CLI, app, sync): finds the encrypted
 * folder a path is in, turns plain paths into the encrypted ones the relay stores (and
 * back), and wraps a file source and a file sink so what goes to the relay is sealed and
 * what comes back is checked and opened. No Node or DOM imports.
 */
import { CHUNK_SIZE, FerryError, planChunks, type ChunkRef } from '../protocol/index.js';
import { FolderCipher, newFolderId, newFolderKey, unwrapFolderKeyForSelf, wrapFolderKeyForSelf, type ChunkSealing, type SealedFacts } from '../crypto/folder.js';
import { PLAIN_CHUNK, cipherSize, plainChunks, toBase64Url } from '../crypto/format.js';
import { randomBytes } from '../crypto/primitives.js';
import type { FerryClient } from './connection.js';
import type { FileSource } from './upload.js';
import type { DownloadMeta, FileSink } from './download.js';

/** Where a plain path lands on the relay. */
export interface E2ePlace {
  /** The path as the relay stores it (encrypted below the encrypted folder). */
  relayPath: string;
  /** The encrypted folder holding it, when there is one. */
  root?: { path: string; id: string; cipher: FolderCipher };
}

/** The encrypted folders of one signed-in person, opened with their account key. */
export class E2eFolders {
  private readonly ciphers = new Map<string, Promise<FolderCipher>>();

  /** `accountKey` gives the unlocked account key, or undefined while locked. */
  constructor(
    private readonly client: FerryClient,
    private readonly accountKey: () => Promise<Uint8Array | undefined>,
  ) {}

  private async unlocked(): Promise<Uint8Array> {
    const ak = await this.accountKey();
    if (!ak) throw new FerryError('E2E_LOCKED');
    return ak;
  }

  /** The cipher of the encrypted folder `id`, from my wrapped keys of it. */
  cipher(id: string, keys: { epoch: number; envelope: string }[]): Promise<FolderCipher> {
    let c = this.ciphers.get(id);
    if (!c) {
      c = (async () => {
        const ak = await this.unlocked();
        if (keys.length === 0) throw new FerryError('E2E_LOCKED', 'You hold no key of this encrypted folder.');
        const opened = new Map<number, Uint8Array>();
        for (const k of keys) opened.set(k.epoch, await unwrapFolderKeyForSelf(ak, k.envelope, id, k.epoch));
        return FolderCipher.create(id, opened);
      })();
      c.catch(() => this.ciphers.delete(id));
      this.ciphers.set(id, c);
    }
    return c;
  }

  /** Where `plainPath` (as a person typed it) is on the relay. */
  async place(space: number | undefined, plainPath: string): Promise<E2ePlace> {
    const path = plainPath.replace(/\/+$/, '');
    const found = await this.client.request('e2e.folder', { space, path });
    if (!found.root || !found.folderId) return { relayPath: path };
    const cipher = await this.cipher(found.folderId, found.keys);
    const rest = path === found.root ? '' : path.slice(found.root.length + 1);
    return { relayPath: rest ? `${found.root}/${await cipher.sealPath(rest)}` : found.root, root: { path: found.root, id: found.folderId, cipher } };
  }

  /** A relay path below an encrypted folder, as a person reads it. */
  async plainPath(root: NonNullable<E2ePlace['root']>, relayPath: string): Promise<string> {
    if (relayPath === root.path) return relayPath;
    return `${root.path}/${await root.cipher.openPath(relayPath.slice(root.path.length + 1))}`;
  }

  /** Makes an empty encrypted folder at `path` with a new key wrapped for me. */
  async mkdir(space: number | undefined, path: string): Promise<{ space: number; path: string }> {
    const ak = await this.unlocked();
    const id = newFolderId();
    const fk = newFolderKey();
    return this.client.request('e2e.mkdir', { space, path, folderId: id, envelope: await wrapFolderKeyForSelf(ak, fk, id, 1) });
  }
}

/** A new file's id (kept in its sealed facts across versions and moves). */
export function newFileId(): string {
  return toBase64Url(randomBytes(16));
}

/**
 * A plaintext source seen as the sealed file the relay stores: chunk i of the sealed file
 * (CHUNK_SIZE bytes, the last shorter) is plaintext bytes [i·PLAIN_CHUNK, …) sealed. The
 * upload engine reads whole chunks at CHUNK_SIZE boundaries; the last few sealed chunks
 * are kept, so hashing and sending seal each chunk about once.
 */
export function sealingSource(plain: FileSource, cipher: FolderCipher): FileSource {
  const cache = new Map<number, Promise<Uint8Array>>();
  const KEEP = 8;
  const size = cipherSize(plain.size);
  return {
    size,
    mtime: plain.mtime,
    read(offset, length) {
      const i = offset / CHUNK_SIZE;
      const plainLength = Math.min(PLAIN_CHUNK, plain.size - i * PLAIN_CHUNK);
      if (!Number.isInteger(i) || plainLength <= 0 || length !== plainLength + (CHUNK_SIZE - PLAIN_CHUNK)) {
        return Promise.reject(new FerryError('BAD_CHUNK_LIST', `An encrypted file is read a chunk at a time (asked ${length} bytes at ${offset}).`));
      }
      let p = cache.get(i);
      if (!p) {
        p = plain.read(i * PLAIN_CHUNK, plainLength).then(async (bytes) => {
          const sealed = await cipher.sealChunk(bytes);
          plain.release?.(bytes);
          return sealed;
        });
        cache.set(i, p);
        p.catch(() => cache.delete(i));
        while (cache.size > KEEP) cache.delete(cache.keys().next().value!);
      }
      return p;
    },
  };
}

/**
 * Checks a downloaded version's sealed facts before a byte is written: they open with the
 * folder's key, name the chunk list the relay gave (no chunk swapped, reordered or taken
 * from another file), and name the file asked for.
 */
export async function openVersion(cipher: FolderCipher, meta: DownloadMeta, expectedName: string | undefined): Promise<{ epoch: number; facts: SealedFacts }> {
  if (!meta.sealed) throw new FerryError('E2E_TAMPERED', 'A version in an encrypted folder came without its sealed facts.');
  const opened = await cipher.openFacts(meta.sealed);
  const f = opened.facts;
  if (f.contentHash !== meta.contentHash) throw new FerryError('E2E_TAMPERED', 'The relay\'s chunk list is not the one this version was sealed with.');
  if (meta.chunks.length !== plainChunks(f.size) || meta.size !== cipherSize(f.size)) throw new FerryError('E2E_TAMPERED', 'The sealed size does not match the stored one.');
  if (expectedName !== undefined && f.name !== expectedName) throw new FerryError('E2E_TAMPERED', `This version was sealed as "${f.name}", not "${expectedName}".`);
  return opened;
}

/**
 * A sink for the plaintext around a sink for sealed chunks: each verified sealed chunk is
 * opened (AES-GCM: any change is refused) and its plaintext written where it belongs;
 * the inner sink checks the whole plaintext against the sealed SHA-256. Chunks kept from
 * an earlier attempt are sealed again (sealing is deterministic) for the engine to check
 * against the chunk list, so an encrypted download resumes like any other.
 */
export function openingSink(
  inner: FileSink & { readExisting?: FileSink['readExisting'] },
  cipher: FolderCipher,
  expectedName: string | undefined,
  onFacts?: (facts: SealedFacts) => void,
  /** Sealed chunks found elsewhere on this device (by their SHA-256), for a download that can reuse them. */
  reuse?: (sha256: string, length: number) => Promise<Uint8Array | undefined>,
  /**
   * Opens a sealed chunk some faster way than the cipher's WebCrypto (the CLI: Node's
   * crypto with the epoch's keys); it must refuse anything altered, as AES-GCM does.
   */
  opener?: (sealed: Uint8Array, keys: ChunkSealing) => Uint8Array,
): FileSink {
  let epoch = 0;
  let plainMeta: DownloadMeta | undefined;
  const wanted = new Map<number, string>();
  const plainAt = (offset: number) => (offset / CHUNK_SIZE) * PLAIN_CHUNK;
  const sha = async (b: Uint8Array) => [...new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new Uint8Array(b)))].map((x) => x.toString(16).padStart(2, '0')).join('');
  return {
    async start(meta) {
      const opened = await openVersion(cipher, meta, expectedName);
      epoch = opened.epoch;
      onFacts?.(opened.facts);
      for (const c of meta.chunks) wanted.set(c.offset, c.sha256);
      const chunks: ChunkRef[] = planChunks(opened.facts.size, PLAIN_CHUNK).map((c) => ({ ...c, sha256: '' }));
      plainMeta = { ...meta, size: opened.facts.size, sha256: opened.facts.sha256, chunks };
      await inner.start?.(plainMeta);
    },
    async readExisting(offset: number, length: number) {
      const plainLength = length - (CHUNK_SIZE - PLAIN_CHUNK);
      if (plainLength <= 0) return undefined;
      // What an earlier attempt wrote here, sealed again to be checked against the chunk list.
      const earlier = inner.readExisting ? await inner.readExisting(plainAt(offset), plainLength) : undefined;
      if (earlier && earlier.byteLength === plainLength) {
        const sealed = await cipher.sealChunkIn(earlier, epoch);
        if ((await sha(sealed)) === wanted.get(offset)) return sealed;
      }
      // The same sealed chunk elsewhere on this device: opened and written here.
      const found = reuse && wanted.has(offset) ? await reuse(wanted.get(offset)!, length) : undefined;
      if (!found || found.byteLength !== length || (await sha(found)) !== wanted.get(offset)) return undefined;
      await inner.write(plainAt(offset), await cipher.openChunk(found, epoch, offset / CHUNK_SIZE));
      return found;
    },
    async write(offset, data) {
      const plain = opener ? openWith(opener, data, cipher.chunkSealing(epoch), offset / CHUNK_SIZE) : await cipher.openChunk(data, epoch, offset / CHUNK_SIZE);
      await inner.write(plainAt(offset), plain);
    },
    async finish() {
      await inner.finish(plainMeta!);
    },
  };
}

/** An opener's refusal, as the cipher's own. */
function openWith(opener: (sealed: Uint8Array, keys: ChunkSealing) => Uint8Array, sealed: Uint8Array, keys: ChunkSealing, index: number): Uint8Array {
  try {
    return opener(sealed, keys);
  } catch {
    throw new FerryError('E2E_TAMPERED', `Chunk ${index} does not open with its key: it was altered, or is not what it claims to be.`);
  }
}
