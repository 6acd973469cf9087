import { defineConfig } from 'vitest/config';

// The Temporal SDK's native bridge does not survive worker threads, hence forks.
// Test files run one at a time: each starts real servers, and the machine has 2 cores.
export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: false,
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    reporters: ['default'],
  },
});
