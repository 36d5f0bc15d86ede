import type { Database } from '../../db/index.js';
import type { Config } from '../../src/config.js';
import { grantDailyCredits } from '../../src/domain/subscriptions/grant-daily-credits.js';
import type { JobPayloads } from '../names.js';

/** `daily_credit_grant`, 00:00 UTC: for the day of `payload.now` (tests), of the cron tick (so a backfilled run settles its own day), or of now. */
export function dailyCreditGrant(deps: { db: Database; config: Config }, payload: JobPayloads['daily_credit_grant']): Promise<{ users: number; granted: number }> {
  const now = new Date(payload.now ?? payload._cron?.ts ?? Date.now());
  return grantDailyCredits(deps.db, deps.config, now);
}
