import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/setup/global-setup.ts'],
    pool: 'forks',
    // Test files run one after another in a worker that keeps its modules: the service's module graph
    // (openai, deepgram, chrono-node, express, the contract's validators…) costs seconds of CPU to
    // import, once per worker instead of once per file. Files therefore must not depend on a fresh
    // process (e.g. an unwired event bus: tests/platform/event-bus.test.ts builds its own).
    isolate: false,
    hookTimeout: 60_000,
    testTimeout: 30_000,
    // Each test file gets its own database cloned from a migrated template, so files run in parallel.
    fileParallelism: true,
    // Files mostly wait on PostgreSQL and child processes: more of them than cores (vitest's default
    // is cores - 1, a single worker on a 2-core machine).
    maxWorkers: Number(process.env.TEST_MAX_WORKERS) || 3,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts', 'jobs/**/*.ts', 'db/**/*.ts'],
      exclude: ['src/main.ts', 'jobs/worker.ts'],
      reporter: ['text-summary', 'json-summary'],
      // SPEC §9, enforced when coverage runs (.ci/run's first suite: npm test -- --coverage): business
      // logic ≥ 90 %, endpoints ≥ 80 %, event handlers ≥ 80 %, jobs ≥ 70 % of lines; the whole at a
      // little under what it measured (2026-12-07: lines 95.8 %, branches 85.5 %) so a drop fails.
      thresholds: {
        lines: 94,
        branches: 83,
        'src/domain/**': { lines: 90 },
        'src/handlers/**': { lines: 80 },
        'src/domain/{events/**,achievements/subscribers.ts}': { lines: 80 },
        'jobs/**': { lines: 70 },
      },
    },
  },
});
