import type { Database } from '../../../db/index.js';
import { startOfUtcDay } from '../utc-calendar.js';
import { settleDailyCredits, type ProCreditSettings } from './credits.js';

const BATCH = 500;

/**
 * The 00:00 UTC `daily_credit_grant` (FR-038): for the UTC day of `now`, every Pro user's earlier
 * daily credits expire and today's (PRO_DAILY_CREDITS plus streak perks) are granted until the next
 * midnight; a user who is no longer Pro only has their leftovers expired. One transaction per user,
 * idempotent per user and day, so a re-run or a backfilled run grants nothing twice.
 */
export async function grantDailyCredits(db: Database, settings: ProCreditSettings, now: Date): Promise<{ users: number; granted: number }> {
  const day = startOfUtcDay(now);
  let users = 0;
  let granted = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    // Pro users, and anyone still holding daily credits from before today (e.g. downgraded yesterday).
    const batch = await db
      .selectFrom('users')
      .select('id')
      .where('id', '>', after)
      .where((eb) =>
        eb.or([
          eb('tier', '=', 'pro'),
          eb.exists(
            eb
              .selectFrom('credit_lots')
              .select('credit_lots.id')
              .whereRef('credit_lots.user_id', '=', 'users.id')
              .where('credit_lots.kind', '=', 'daily')
              .where('credit_lots.remaining', '>', 0)
              .where('credit_lots.created_at', '<', day),
          ),
        ]),
      )
      .orderBy('id')
      .limit(BATCH)
      .execute();
    for (const { id } of batch) {
      granted += await db.transaction().execute((trx) => settleDailyCredits(trx, { settings, userId: id, now }));
      users++;
    }
    if (batch.length < BATCH) return { users, granted };
    after = batch[batch.length - 1]!.id;
  }
}
