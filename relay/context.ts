/** What every handler can reach: the relay's services. */
import type { Accounts } from './auth/accounts.js';
import type { RelayConfig } from './config.js';
import type { Library } from './library.js';
import type { LogHub, Logger } from './log.js';
import type { ShareLinks } from './links/share-links.js';

export interface RelayContext {
  config: RelayConfig;
  library: Library;
  accounts: Accounts;
  log: Logger;
  logHub: LogHub;
  links: ShareLinks;
  /** Closes the live connections of a user (but `except`), e.g. when they are disabled. */
  disconnectUser(userId: number, except?: unknown): number;
}
