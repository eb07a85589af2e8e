/**
 * Share links: creation, listing, revocation, and resolving a link id to the version
 * it serves. Ids are 144 random bits (base64url); passwords are scrypt hashes.
 */
import { randomBytes } from 'node:crypto';
import { FerryError, checkPath, type ShareLinkInfo } from '../protocol/index.js';
import { hashPassword } from '../auth/passwords.js';
import { FOLDER_ID_RE } from '../crypto/format.js';
import type { Library } from '../library.js';
import { DOWNLOAD_UNITS, type ShareLink, type User } from '../store/meta-store.js';

export const LINK_ID = /^[A-Za-z0-9_-]{24}$/;

/** A link as clients see it; `publicUrl` (from `--public-url`) makes `href` the whole link. */
export function linkInfo(l: ShareLink, publicUrl?: string): ShareLinkInfo {
  return {
    id: l.id,
    url: `/s/${l.id}`,
    href: publicUrl ? new URL(`/s/${l.id}`, publicUrl).toString() : undefined,
    space: l.spaceId,
    path: l.path,
    version: l.version,
    owner: l.owner,
    createdAt: l.createdAt,
    expiresAt: l.expiresAt,
    maxDownloads: l.maxDownloads,
    downloads: l.downloads,
    protected: !!l.passwordHash,
    message: l.message,
    revoked: l.revokedAt !== undefined,
    trashed: l.trashed,
    ...(l.e2e ? { e2e: l.e2e } : {}),
  };
}

/**
 * 144 random bits in base64url, redrawn while the id starts with `-` or `_`: an id that looks like
 * a command-line option is a trap in every shell tool (`ferry unlink -x…`). Still over 143 bits.
 */
export function newLinkId(): string {
  for (;;) {
    const id = randomBytes(18).toString('base64url');
    if (/^[A-Za-z0-9]/.test(id)) return id;
  }
}

export class ShareLinks {
  constructor(private readonly library: Library) {}

  /** A link to a file of a space the user can view (sharing is part of viewing). */
  async create(user: User, req: { space?: number; path: string; version?: number; expiresInMs?: number; maxDownloads?: number; password?: string; message?: string; e2e?: { key: string } }): Promise<ShareLink> {
    const path = checkPath(req.path);
    const space = await this.library.space(user, req.space, 'view');
    const file = await this.library.version(space, path, req.version); // NOT_FOUND / IS_FOLDER now rather than on first use
    if (req.e2e) {
      // An encrypted link hands out a copy its owner sealed under the link's own key, kept in
      // their space of link copies (docs/encryption.md): never a file of a folder, whose key
      // would open everything else there.
      if (space !== (await this.library.meta.linkSpace(user.id))) throw new FerryError('E2E_NOT_ALLOWED', 'An encrypted link hands out a sealed copy in your space of link copies (link.space).');
      if (!FOLDER_ID_RE.test(path)) throw new FerryError('BAD_PATH', "A link copy's path is its random id (22 base64url characters).");
      if (file.sealed === undefined) throw new FerryError('E2E_REQUIRED', 'An encrypted link hands out a sealed copy.');
    } else if (file.sealed !== undefined || (await this.library.meta.encryptionRoot(space, path))) {
      // A link serves the stored bytes: of an encrypted file, ciphertext nobody with the link could open.
      throw new FerryError('E2E_REQUIRED', 'This file is end-to-end encrypted: share it with an encrypted link, which your device seals for the link alone.');
    }
    const now = Date.now();
    const id = newLinkId();
    await this.library.meta.createLink({
      id,
      ownerId: user.id,
      fileId: file.fileId,
      version: req.version,
      createdAt: now,
      expiresAt: req.expiresInMs ? now + req.expiresInMs : undefined,
      maxDownloads: req.maxDownloads,
      passwordHash: req.password ? await hashPassword(req.password) : undefined,
      message: req.message?.trim() || undefined,
      ...(req.e2e ? { e2e: { key: req.e2e.key } } : {}),
    });
    return (await this.library.meta.getLink(id))!;
  }

  async list(user: User, all: boolean): Promise<ShareLink[]> {
    if (all && user.role !== 'admin') throw new FerryError('FORBIDDEN', "Only admins can list everyone's links.");
    return await this.library.meta.listLinks(all ? undefined : user.id);
  }

  async revoke(user: User, id: string): Promise<void> {
    const link = await this.library.meta.getLink(id);
    if (!link) throw new FerryError('NOT_FOUND', 'No such link.');
    if (link.ownerId !== user.id && user.role !== 'admin') throw new FerryError('FORBIDDEN', "Only the link's owner or an admin can revoke it.");
    await this.library.meta.revokeLink(id, Date.now());
  }

  /** The caller's space of encrypted link copies. */
  space(user: User): Promise<number> {
    return this.library.meta.linkSpace(user.id);
  }

  /**
   * The link and the version it serves now. Throws NOT_FOUND for unknown ids, a file
   * that is gone or in the trash, or an owner who can no longer see the file's space
   * (removed from the shared folder); LINK_REVOKED, LINK_EXPIRED or LINK_EXHAUSTED otherwise.
   */
  async resolve(id: string, now = Date.now()) {
    const link = LINK_ID.test(id) ? await this.library.meta.getLink(id) : undefined;
    if (!link) throw new FerryError('NOT_FOUND', 'No such link.');
    if (link.revokedAt !== undefined) throw new FerryError('LINK_REVOKED');
    // A disabled account's links stop with it (and work again if it is enabled again).
    if ((await this.library.meta.getUser(link.ownerId))?.disabled) throw new FerryError('LINK_REVOKED', "This link's owner can no longer share files.");
    if (link.expiresAt !== undefined && link.expiresAt <= now) throw new FerryError('LINK_EXPIRED');
    const exhausted = link.maxDownloads !== undefined && link.servedUnits >= link.maxDownloads * DOWNLOAD_UNITS;
    if (link.trashed || await this.library.meta.accessOf(link.ownerId, link.spaceId) === undefined) throw new FerryError('NOT_FOUND', 'The file of this link is no longer shared.');
    const version = await this.library.meta.getFileVersion(link.fileId, link.version);
    if (!version) throw new FerryError('NOT_FOUND', `"${link.path}" has no version ${link.version}.`);
    return { link, exhausted, version };
  }
}
