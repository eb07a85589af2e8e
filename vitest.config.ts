import { defineConfig } from 'vitest/config';

/** Files that measure main-thread long tasks: they run alone, after the rest, so other tests' load does not stretch their timings. */
const ALONE = ['tests/e2e/transfers.test.ts'];

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
