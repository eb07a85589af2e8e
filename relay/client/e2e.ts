/**
 * End-to-end encrypted folders for every client (CLI, app, sync): finds the encrypted
 * folder a path is in, turns plain paths into the encrypted ones the relay stores (and
 * back), and wraps a file source and a file sink so what goes to the relay is sealed and
 * what comes back is checked and opened. No Node or DOM imports.
 */
import { CHUNK_SIZE, FerryError, planChunks, type ChunkRef, type ReplyBody } from '../protocol/index.js';
import { FolderCipher, newFolderId, newFolderKey, unwrapFolderKeyForSelf, unwrapFolderKeyFrom, wrapFolderKeyFor, wrapFolderKeyForSelf, type ChunkSealing, type SealedFacts } from '../crypto/folder.js';
import { importPublicKey, keyFingerprint, openPrivateKey, parseKeyRecord, type AccountKeyRecord } from '../crypto/account.js';
import { PLAIN_CHUNK, cipherSize, plainChunks, toBase64Url } from '../crypto/format.js';
import { randomBytes } from '../crypto/primitives.js';
import type { FerryClient } from './connection.js';
import type { FileSource } from './upload.js';
import type { DownloadMeta, FileSink } from './download.js';
import { chunkFeed, type ChunkFeed } from './chunk-feed.js';

/** Where a plain path lands on the relay. */
export interface E2ePlace {
  /** The path as the relay stores it (encrypted below the encrypted folder). */
  relayPath: string;
  /** The encrypted folder holding it, when there is one. */
  root?: { path: string; id: string; cipher: FolderCipher };
}

/** The public keys this device has seen of each person (by user name), pinned on first use. */
export interface KeyPins {
  get(user: string): Promise<string | undefined>;
  set(user: string, fingerprint: string): Promise<void>;
}

type Found = ReplyBody<'e2e.folder'>;
type Person = NonNullable<Found['people']>[number];

/** The encrypted folders of one signed-in person, opened with their account key. */
export class E2eFolders {
  private readonly ciphers = new Map<string, Promise<FolderCipher>>();
  private record?: Promise<AccountKeyRecord>;

  /**
   * `accountKey` gives the unlocked account key, or undefined while locked; `pins` keeps
   * the public keys seen of others (a shared folder's key is only shared with, or taken
   * from, a person whose key is the one seen before).
   */
  constructor(
    private readonly client: FerryClient,
    private readonly accountKey: () => Promise<Uint8Array | undefined>,
    private readonly pins?: KeyPins,
  ) {}

  private async unlocked(): Promise<Uint8Array> {
    const ak = await this.accountKey();
    if (!ak) throw new FerryError('E2E_LOCKED');
    return ak;
  }

  private myRecord(): Promise<AccountKeyRecord> {
    this.record ??= this.client.request('e2e.keys', {}).then((r) => {
      if (r.record === undefined) throw new FerryError('E2E_NO_KEYS');
      return parseKeyRecord(r.record);
    });
    this.record.catch(() => (this.record = undefined));
    return this.record;
  }

  private me(): string {
    const name = this.client.user?.name;
    if (!name) throw new FerryError('AUTH_REQUIRED');
    return name;
  }

  /** A person's public key, checked against the one pinned for them (pinned now if none was). */
  private async trusted(person: Person | undefined, user: string): Promise<CryptoKey> {
    if (!person?.publicKey) throw new FerryError('E2E_LOCKED', `${user} has no encryption keys the relay knows of.`);
    const fingerprint = await keyFingerprint({ publicKey: person.publicKey });
    const pinned = await this.pins?.get(user);
    if (pinned === undefined) await this.pins?.set(user, fingerprint);
    else if (pinned !== fingerprint) {
      throw new FerryError('E2E_KEY_CHANGED', `The relay gives ${user} another public key than before (now ${fingerprint}, pinned ${pinned}). Nothing was shared with or taken from it. If ${user} really made new keys, compare the fingerprint with them, then trust it again.`, { user, fingerprint, pinned });
    }
    return importPublicKey(person.publicKey);
  }

  /** The cipher of the encrypted folder `id`, from my wrapped keys of it. */
  cipher(id: string, keys: Found['keys'], people?: Found['people']): Promise<FolderCipher> {
    const cacheKey = `${id} ${keys.map((k) => k.epoch).join(',')}`;
    let c = this.ciphers.get(cacheKey);
    if (!c) {
      c = (async () => {
        const ak = await this.unlocked();
        if (keys.length === 0) throw new FerryError('E2E_LOCKED', 'You hold no key of this encrypted folder yet: a member who has it shares it when their app or CLI next opens the folder.');
        const opened = new Map<number, Uint8Array>();
        for (const k of keys) {
          if (k.from === undefined) opened.set(k.epoch, await unwrapFolderKeyForSelf(ak, k.envelope, id, k.epoch));
          else {
            const mine = await openPrivateKey(await this.myRecord(), ak);
            const theirs = await this.trusted(people?.find((p) => p.user.toLowerCase() === k.from!.toLowerCase()), k.from);
            opened.set(k.epoch, await unwrapFolderKeyFrom(mine, theirs, k.envelope, id, k.epoch, k.from, this.me()));
          }
        }
        return FolderCipher.create(id, opened);
      })();
      c.catch(() => this.ciphers.delete(cacheKey));
      this.ciphers.set(cacheKey, c);
    }
    return c;
  }

  /** Where a path is (sealed names below the encrypted folder stay as they are). */
  private async found(space: number | undefined, path: string): Promise<Found> {
    let found = await this.client.request('e2e.folder', { space, path });
    // In a shared folder, a member who holds the key keeps it with every member.
    if (found.root && found.folderId && found.people && found.keys.length > 0 && (await this.accountKey())) {
      // A member whose key the relay swapped stops it all (E2E_KEY_CHANGED); a member who may
      // only view cannot share (the relay refuses), and another client may have made a new
      // key at the same moment: then this one looks again.
      const changed = await this.share(space, found).catch((err) => {
        const code = (err as FerryError).code;
        if (code === 'FORBIDDEN' || code === 'READ_ONLY') return false;
        if (code === 'PATH_CONFLICT') return true;
        throw err;
      });
      if (changed) found = await this.client.request('e2e.folder', { space, path });
    }
    return found;
  }

  /**
   * Shares the folder's keys with members who lack them, and makes a new key when someone
   * who holds the newest one is no longer a member. Only members with edit access can
   * (the relay refuses others; that is fine). True when something changed.
   */
  private async share(space: number | undefined, found: Found): Promise<boolean> {
    const id = found.folderId!;
    const people = found.people!;
    const newest = Math.max(0, ...people.flatMap((p) => p.epochs));
    const me = this.me().toLowerCase();
    const members = people.filter((p) => p.member && p.publicKey);
    const ak = await this.unlocked();
    const mine = await openPrivateKey(await this.myRecord(), ak);
    const cipher = await this.cipher(id, found.keys, people);
    if (people.some((p) => !p.member && p.epochs.includes(newest))) {
      // Someone who left holds the newest key: what is written from now on gets a new one.
      const fk = newFolderKey();
      const epoch = newest + 1;
      const keys = [];
      for (const p of members) {
        keys.push({ user: p.user, envelope: p.user.toLowerCase() === me ? await wrapFolderKeyForSelf(ak, fk, id, epoch) : await wrapFolderKeyFor(mine, await this.trusted(p, p.user), fk, id, epoch, this.me(), p.user) });
      }
      await this.client.request('e2e.rotate', { space, folderId: id, epoch, keys });
      return true;
    }
    const held = new Map(found.keys.map((k) => [k.epoch, k]));
    const grants = [];
    for (const p of members) {
      if (p.user.toLowerCase() === me) continue;
      for (const epoch of held.keys()) {
        if (p.epochs.includes(epoch)) continue;
        grants.push({ user: p.user, epoch, envelope: await wrapFolderKeyFor(mine, await this.trusted(p, p.user), cipher.folderKey(epoch), id, epoch, this.me(), p.user) });
      }
    }
    if (grants.length === 0) return false;
    await this.client.request('e2e.grant', { space, folderId: id, keys: grants });
    return true;
  }

  /** Where `plainPath` (as a person typed it) is on the relay. */
  async place(space: number | undefined, plainPath: string): Promise<E2ePlace> {
    const path = plainPath.replace(/\/+$/, '');
    const found = await this.found(space, path);
    if (!found.root || !found.folderId) return { relayPath: path };
    const cipher = await this.cipher(found.folderId, found.keys, found.people);
    const rest = path === found.root ? '' : path.slice(found.root.length + 1);
    return { relayPath: rest ? `${found.root}/${await cipher.sealPath(rest)}` : found.root, root: { path: found.root, id: found.folderId, cipher } };
  }

  /** Where an already sealed relay path is (its encrypted folder, opened). */
  async placeStored(space: number | undefined, relayPath: string): Promise<E2ePlace> {
    const found = await this.found(space, relayPath);
    if (!found.root || !found.folderId) return { relayPath };
    return { relayPath, root: { path: found.root, id: found.folderId, cipher: await this.cipher(found.folderId, found.keys, found.people) } };
  }

  /** A relay path below an encrypted folder, as a person reads it. */
  async plainPath(root: NonNullable<E2ePlace['root']>, relayPath: string): Promise<string> {
    if (relayPath === root.path) return relayPath;
    return `${root.path}/${await root.cipher.openPath(relayPath.slice(root.path.length + 1))}`;
  }

  /**
   * Renames or moves `from` to `to` (both as the relay stores them, sealed below an
   * encrypted folder). A file of an encrypted folder given a new name has each version's
   * facts sealed again under it (same file id, content and epoch), sent with the move so
   * the relay applies both in one step: a version's facts name its file, and a download
   * checks that name.
   */
  async move(space: number | undefined, from: string, to: string, toSpace?: number): Promise<ReplyBody<'move'>> {
    const renamed = from.slice(from.lastIndexOf('/') + 1) !== to.slice(to.lastIndexOf('/') + 1) && (toSpace === undefined || toSpace === space);
    const place = renamed ? await this.placeStored(space, from) : undefined;
    // The encrypted folder itself (its name is plain) and plain items move as they are.
    if (!place?.root || place.root.path === from) return this.client.request('move', { space, path: from, toSpace, to });
    return moveSealed(this.client, place.root.cipher, space, from, to);
  }

  /** Makes an empty encrypted folder at `path` with a new key wrapped for me. */
  async mkdir(space: number | undefined, path: string): Promise<{ space: number; path: string }> {
    const ak = await this.unlocked();
    const id = newFolderId();
    const fk = newFolderKey();
    return this.client.request('e2e.mkdir', { space, path, folderId: id, envelope: await wrapFolderKeyForSelf(ak, fk, id, 1) });
  }
}

/**
 * Renames or moves an item within an encrypted folder (`from` and `to` as the relay stores
 * them). A file given a new name has each version's facts sealed again under it (same
 * file id, content and epoch), sent with the move so the relay applies both in one step: a
 * version's facts name its file, and a download checks that name. A folder (no history)
 * moves as it is: its files keep their names.
 */
export async function moveSealed(client: FerryClient, cipher: FolderCipher, space: number | undefined, from: string, to: string): Promise<ReplyBody<'move'>> {
  const newName = to.slice(to.lastIndexOf('/') + 1);
  if (from.slice(from.lastIndexOf('/') + 1) === newName) return client.request('move', { space, path: from, to });
  for (let attempt = 1; ; attempt++) {
    const history = await client.request('history', { space, path: from }).catch((err) => {
      if ((err as FerryError).code === 'NOT_FOUND') return undefined;
      throw err;
    });
    if (!history) return client.request('move', { space, path: from, to });
    const plainName = await cipher.openName(newName);
    const reseal = await Promise.all(
      history.versions.map(async (v) => {
        if (!v.sealed) throw new FerryError('E2E_TAMPERED', `Version ${v.version} came without its sealed facts.`);
        const { epoch, facts } = await cipher.openFacts(v.sealed);
        return { version: v.version, sealed: await cipher.sealFacts({ ...facts, name: plainName }, epoch) };
      }),
    );
    try {
      return await client.request('move', { space, path: from, to, reseal });
    } catch (err) {
      // A version written meanwhile: sealed again with the rest.
      if ((err as FerryError).code !== 'E2E_REQUIRED' || attempt >= 3) throw err;
    }
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
 * The feed and source of one upload into an encrypted folder, each chunk sealed once:
 * `sealOne` seals the chunk at a sealed offset and answers its SHA-256 (the feed's hash)
 * with the sealed bytes, which are held for the source until sent — at most `ahead`
 * sealed ahead of sending (a chunk asked for again, after a reconnect, is sealed anew).
 */
export function sealedFeed(
  total: number,
  mtime: number,
  sealOne: (offset: number, length: number) => Promise<{ sha256: string; sealed: Uint8Array }>,
  opts: { ahead?: number; concurrency?: number; onHashed?: (bytes: number) => void } = {},
): { feed: ChunkFeed; source: FileSource } {
  const ahead = opts.ahead ?? 12;
  /** Sealed bytes waiting to be sent, by offset in the sealed file. */
  const held = new Map<number, Uint8Array>();
  /** Sealings waiting for a held chunk to be taken (room to seal ahead again). */
  let room: (() => void)[] = [];
  const feed = chunkFeed(
    total,
    async (offset, length) => {
      while (held.size >= ahead) await new Promise<void>((r) => room.push(r));
      const { sha256, sealed } = await sealOne(offset, length);
      held.set(offset, sealed);
      return sha256;
    },
    { concurrency: opts.concurrency, onHashed: opts.onHashed },
  );
  const take = (offset: number) => {
    const b = held.get(offset);
    held.delete(offset);
    const waiting = room;
    room = [];
    for (const r of waiting) r();
    return b;
  };
  const source: FileSource = {
    size: total,
    mtime,
    async read(offset, length) {
      if (offset % CHUNK_SIZE !== 0 || length > CHUNK_SIZE || offset + length > total) throw new FerryError('BAD_CHUNK_LIST', `An encrypted file is read a chunk at a time (asked ${length} bytes at ${offset}).`);
      return take(offset) ?? (await sealOne(offset, length)).sealed;
    },
    notNeeded(offset) {
      take(offset);
    },
  };
  return { feed, source };
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
