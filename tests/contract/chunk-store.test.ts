import { chunkStoreContract } from './chunk-store.contract.js';
import { FsChunkStore } from '../../relay/store/fs-chunk-store.js';
import { tempDir } from '../helpers/relay.js';

chunkStoreContract('FsChunkStore', async () => {
  const tmp = tempDir();
  return { store: new FsChunkStore(tmp.dir), dispose: tmp.remove };
});
