import type { Database } from '../../db/index.js';
import { resetBrokenStreaks } from '../../src/domain/achievements/streaks.js';
import type { JobPayloads } from '../names.js';

/** `streak_calculate`, 00:00 UTC: as of `payload.now` (tests), the cron tick, or now. */
export function streakCalculate(deps: { db: Database }, payload: JobPayloads['streak_calculate']): Promise<number> {
  return resetBrokenStreaks(deps.db, new Date(payload.now ?? payload._cron?.ts ?? Date.now()));
}
