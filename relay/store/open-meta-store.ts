/**
 * The metadata store the settings name: SQLite in the data folder (the default, nothing
 * to install) or a PostgreSQL database (loaded only then). Used by every server-side
 * command, so `serve`, `user add` and `migrate` agree on where the library is.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { RelayConfig } from '../config.js';
import type { MetaStore } from './meta-store.js';

/** `serving`: for the relay itself (SQLite checkpoints on a thread of their own). */
export async function openMetaStore(config: Pick<RelayConfig, 'meta' | 'dataDir'>, opts: { serving?: boolean } = {}): Promise<MetaStore> {
  if (config.meta.kind === 'postgres') {
    const { PostgresMetaStore } = await import('./postgres-meta-store.js');
    try {
      return await PostgresMetaStore.open(config.meta.url);
    } catch (err) {
      // The URL may carry a password: say where without it.
      const u = new URL(config.meta.url);
      throw new Error(`Cannot open the PostgreSQL database ${u.hostname}:${u.port || 5432}${u.pathname}: ${(err as Error).message}`);
    }
  }
  const { SqliteMetaStore } = await import('./sqlite-meta-store.js');
  mkdirSync(config.dataDir, { recursive: true });
  return new SqliteMetaStore(path.join(config.dataDir, 'ferry.db'), { checkpointThread: opts.serving });
}
