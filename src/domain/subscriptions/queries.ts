import type { Executor } from '../../../db/index.js';
import type { SubscriptionRow } from '../../../db/schema/index.js';
import { lockFor } from '../locks.js';

export const findSubscription = (db: Executor, userId: string): Promise<SubscriptionRow | undefined> =>
  db.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).executeTakeFirst();

/**
 * Serialises every change of one user's subscription (webhook events, the hourly job, cancel) until
 * the end of the transaction, then reads the row. Taken before the row exists too, so two first
 * payments cannot both insert.
 */
export async function lockSubscription(trx: Executor, userId: string): Promise<SubscriptionRow | undefined> {
  await lockFor(trx, 'subscription', userId);
  return trx.selectFrom('subscriptions').selectAll().where('user_id', '=', userId).forUpdate().executeTakeFirst();
}

export async function setUserTier(trx: Executor, userId: string, tier: 'free' | 'pro'): Promise<void> {
  await trx.updateTable('users').set({ tier, updated_at: new Date() }).where('id', '=', userId).where('tier', '<>', tier).execute();
}
