import path from 'node:path';
import { metaStoreContract } from './meta-store.contract.js';
import { SqliteMetaStore } from '../../relay/store/sqlite-meta-store.js';
import { tempDir } from '../helpers/relay.js';

metaStoreContract('SqliteMetaStore (file)', () => {
  const tmp = tempDir();
  const store = new SqliteMetaStore(path.join(tmp.dir, 'meta.db'));
  return {
    store,
    dispose: () => {
      store.close();
      tmp.remove();
    },
  };
});

metaStoreContract('SqliteMetaStore (in memory)', () => {
  const store = new SqliteMetaStore(':memory:');
  return { store, dispose: () => store.close() };
});
