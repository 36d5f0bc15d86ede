import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/setup/global-setup.ts'],
    pool: 'forks',
    hookTimeout: 60_000,
    testTimeout: 30_000,
    // Each test file gets its own database cloned from a migrated template, so files run in parallel.
    fileParallelism: true,
    // Files mostly wait on PostgreSQL and child processes: more of them than cores (vitest's default
    // is cores - 1, a single worker on a 2-core machine).
    maxWorkers: Number(process.env.TEST_MAX_WORKERS) || 3,
    coverage: {
      provider: 'v8',
      include: ['src/**', 'jobs/**', 'db/**'],
      exclude: ['src/main.ts', 'jobs/worker.ts'],
      reporter: ['text-summary', 'json-summary'],
    },
  },
});
