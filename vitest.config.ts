import { defineConfig } from 'vitest/config';

/**
 * Files that run alone, after the rest: one measures main-thread long tasks (other tests'
 * load would stretch its timings); one runs Ceph and Swift clusters, whose load would
 * slow the browser tests beside it past their timeouts.
 */
const ALONE = ['tests/e2e/transfers.test.ts', 'tests/contract/s3-chunk-store.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests start relay processes and move real bytes: two at a time fits two cores.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['tests/**/*.test.ts'], exclude: ALONE, fileParallelism: true, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
