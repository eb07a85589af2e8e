/** What every handler can reach: the relay's services. */
import type { ChunkBudget } from './chunk-budget.js';
import type { Accounts } from './auth/accounts.js';
import type { RelayConfig } from './config.js';
import type { Library } from './library.js';
import type { Logger } from './log.js';
import type { LogFeed } from './shared-log.js';
import type { ShareLinks } from './links/share-links.js';
import type { ClientConnection } from './connection.js';
import type { ZipDownloads } from './zip/zip-download.js';
import type { MediaServer } from './media/media-http.js';

export interface RelayContext {
  config: RelayConfig;
  library: Library;
  accounts: Accounts;
  log: Logger;
  /** The live log admins tail: this relay's lines, or every relay's on a shared database. */
  logFeed: LogFeed;
  links: ShareLinks;
  zips: ZipDownloads;
  media: MediaServer;
  /** Chunk bytes received and not yet stored, relay-wide. */
  chunkBudget: ChunkBudget;
  /** Closes the live connections of a user (but `except`), e.g. when they are disabled. */
  disconnectUser(userId: number, except?: unknown): number;
  /** Closes the live connections signed in with one session (but `except`): a sign-out ends them all. */
  disconnectSession(tokenHash: string, except?: unknown): number;
  /** Re-reads a user on their open connections (a role changed): an admin's powers end with their role. */
  refreshUser(userId: number): Promise<void>;
  /** Tells these users' open connections (everyone's when undefined) that their spaces changed. */
  spacesChanged(userIds?: number[]): void;
  /** Tells the owner's open connections that one of their links changed. */
  linkChanged(linkId: string): Promise<void>;
  /** A connection signed in (it no longer counts against the unauthenticated limits). */
  signedIn(conn: ClientConnection): void;
  /**
   * Logs a refused request or frame, at most REFUSALS_LOGGED_PER_SECOND lines a second
   * relay-wide; the rest are counted and summed up in one line, so nobody can fill the
   * disk by sending junk.
   */
  logRefusal(fields: Record<string, unknown>, message: string): void;
}
