import type { TestContext } from 'vitest';
import { startOfUtcDay, startOfUtcMonth } from '../../src/domain/utc-calendar.js';

/**
 * Requests through the API are answered at the server's own time: purchases count toward the UTC
 * calendar month they are made in, and daily credits are spendable until the next 00:00 UTC. A test
 * whose expected answers depend on that takes a guard when it starts and calls it before asserting:
 * if the month (or day) turned while the test ran — a few milliseconds, once a month or a day — its
 * requests were answered in two periods, and the test skips itself instead of failing.
 * Everything a test computes itself is derived from one `now` instead, so it needs no guard.
 */
export function samePeriodGuard(ctx: TestContext, period: 'day' | 'month'): () => void {
  const startOf = period === 'day' ? startOfUtcDay : startOfUtcMonth;
  const started = startOf(new Date()).getTime();
  return () => ctx.skip(startOf(new Date()).getTime() !== started, `the UTC ${period} turned while the test ran`);
}
