import type { components } from '../../../codegen/api.js';
import type { Database } from '../../../db/index.js';
import { conflict } from '../../core/errors.js';
import type { Actor } from '../actor.js';
import { iso } from '../time.js';
import { lockSubscription } from './queries.js';
import { applyCancellation } from './state-machine.js';

/**
 * `POST /subscription/cancel`: no further renewal is charged; Pro continues until `access_until`,
 * when the hourly job expires the subscription. Anything but active, past_due or grace is a 409.
 */
export async function cancelSubscription(db: Database, actor: Actor, now = new Date()): Promise<components['schemas']['SubscriptionCancellation']> {
  return db.transaction().execute(async (trx) => {
    const sub = await lockSubscription(trx, actor.userId);
    const cancelled = sub ? await applyCancellation(trx, { sub, now, actor }) : null;
    if (!cancelled) throw conflict('There is no active subscription to cancel');
    return { status: 'cancelled', access_until: iso(cancelled.access_until!) };
  });
}
