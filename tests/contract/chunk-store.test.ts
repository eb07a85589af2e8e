import { statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { chunkStoreContract } from './chunk-store.contract.js';
import { FsChunkStore } from '../../relay/store/fs-chunk-store.js';
import { tempDir } from '../helpers/relay.js';

chunkStoreContract('FsChunkStore', async () => {
  const tmp = tempDir();
  return { store: new FsChunkStore(tmp.dir), dispose: tmp.remove };
});

chunkStoreContract('FsChunkStore, buffered writes only', async () => {
  const tmp = tempDir();
  return { store: new FsChunkStore(tmp.dir, { direct: false }), dispose: tmp.remove };
});

describe('FsChunkStore direct writes', () => {
  const EXT4 = 0xef53;
  const onExt4 = statfsSync(tmpdir()).type === EXT4;

  it.runIf(onExt4)('bypass the page cache on ext4', async () => {
    const tmp = tempDir();
    try {
      expect(await new FsChunkStore(tmp.dir).writesDirect()).toBe(true);
    } finally {
      tmp.remove();
    }
  });

  it('are off when the store is told so', async () => {
    const tmp = tempDir();
    try {
      expect(await new FsChunkStore(tmp.dir, { direct: false }).writesDirect()).toBe(false);
    } finally {
      tmp.remove();
    }
  });
});
