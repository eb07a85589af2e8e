/**
 * A sync pair whose relay folder is end-to-end encrypted. The engine works with plain
 * names (ignore rules, names a system cannot hold and conflict copies read them), and
 * this layer seals them for the relay and opens them back. Files are compared by content
 * in the relay's terms: this local tree hashes a file as its sealed chunks (sealing is
 * deterministic), so its content hash is the one the relay records for the same bytes,
 * and unchanged chunks are still not sent again. No Node or DOM imports.
 */
import { CHUNK_SIZE, FerryError, type ChunkRef } from '../protocol/index.js';
import { PLAIN_CHUNK, cipherSize } from '../crypto/format.js';
import type { FolderCipher } from '../crypto/folder.js';
import { moveSealed, newFileId, openingSink, sealingSource } from '../client/e2e.js';
import type { FerryClient } from '../client/connection.js';
import type { LocalFile, LocalTree, SyncSealing } from './engine.js';

/** The plaintext SHA-256 of a file, as the local side computes it (whole, in order). */
export type PlainHash = (path: string) => Promise<string>;

export class SealedPair implements SyncSealing {
  /** Opened names, by their sealed form (a folder's name is opened once, not for each file in it). */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly cipher: FolderCipher,
    private readonly plainSha256: PlainHash,
    /** The plain name of the pair's folder itself (facts name the file, not the folder). */
  ) {}

  async sealPath(rel: string): Promise<string> {
    return this.cipher.sealPath(rel);
  }

  async openPath(stored: string): Promise<string> {
    const out: string[] = [];
    for (const seg of stored.split('/')) {
      let name = this.names.get(seg);
      if (name === undefined) {
        name = await this.cipher.openName(seg);
        if (this.names.size > 100_000) this.names.clear();
        this.names.set(seg, name);
      }
      out.push(name);
    }
    return out.join('/');
  }

  async facts(rel: string, file: LocalFile, contentHash: string, previous: string | undefined): Promise<string> {
    const fileId = previous ? (await this.cipher.openFacts(previous)).facts.fileId : newFileId();
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    return this.cipher.sealFacts({ fileId, name, size: file.size, sha256: await this.plainSha256(rel), contentHash, mtime: file.mtime });
  }

  move(client: FerryClient, space: number | undefined, from: string, to: string): Promise<unknown> {
    return moveSealed(client, this.cipher, space, from, to);
  }

  /** The local folder, with files read as their sealed chunks and downloads opened on the way in. */
  tree(inner: LocalTree): LocalTree {
    const cipher = this.cipher;
    const sealedChunk = async (path: string, index: number, size: number): Promise<Uint8Array | undefined> => {
      const length = Math.min(PLAIN_CHUNK, size - index * PLAIN_CHUNK);
      const plain = await inner.readRange(path, index * PLAIN_CHUNK, length);
      return plain && cipher.sealChunk(plain);
    };
    return {
      name: inner.name,
      hasMarker: () => inner.hasMarker(),
      writeMarker: (text) => inner.writeMarker(text),
      scan: (folder) => inner.scan(folder),
      stat: (path) => inner.stat(path),
      async hashFile(path) {
        const st = await inner.stat(path);
        if (st?.kind !== 'file') throw new FerryError('NOT_FOUND', `${path} is gone.`);
        const plain = await inner.openSource(path);
        const source = sealingSource(plain, cipher);
        const chunks: ChunkRef[] = [];
        try {
          for (let offset = 0; offset < source.size; offset += CHUNK_SIZE) {
            const length = Math.min(CHUNK_SIZE, source.size - offset);
            const bytes = await source.read(offset, length);
            const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new Uint8Array(bytes)));
            chunks.push({ offset, length, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') });
          }
        } finally {
          await plain.close();
        }
        if (source.size !== cipherSize(st.size)) throw new FerryError('LOCAL_CHANGED', `${path} changed while it was hashed.`);
        return chunks;
      },
      async openSource(path) {
        const plain = await inner.openSource(path);
        return Object.assign(sealingSource(plain, cipher), { close: () => plain.close() });
      },
      async readRange(path, offset, length) {
        // A sealed chunk of a local file (what a download may reuse): whole chunks only.
        if (offset % CHUNK_SIZE !== 0) return undefined;
        const st = await inner.stat(path);
        if (st?.kind !== 'file') return undefined;
        const sealed = await sealedChunk(path, offset / CHUNK_SIZE, st.size);
        return sealed && sealed.byteLength === length ? sealed : undefined;
      },
      sink: (path, opts) => openingSink(inner.sink(path, { beforeReplace: opts.beforeReplace }), cipher, path.slice(path.lastIndexOf('/') + 1), undefined, opts.reuse),
      remove: (path) => inner.remove(path),
      mkdir: (path) => inner.mkdir(path),
      rmdir: (path) => inner.rmdir(path),
      rename: (from, to) => inner.rename(from, to),
      ...(inner.setExecutable ? { setExecutable: (path: string, x: boolean) => inner.setExecutable!(path, x) } : {}),
      readText: (path) => inner.readText(path),
      dropParts: (keep) => inner.dropParts(keep),
      ...(inner.caseInsensitive ? { caseInsensitive: () => inner.caseInsensitive!() } : {}),
    };
  }
}
