import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests start relay processes and move real bytes: two at a time fits two cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
