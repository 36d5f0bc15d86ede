import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import { presentSubscription, tierFeatures, type CreditSettings } from './present.js';
import { findSubscription } from './queries.js';

/** `GET /subscription`: the tier, the subscription (if the user ever had one) and the tier's features. */
export async function getSubscription(db: Executor, settings: CreditSettings, userId: string): Promise<components['schemas']['SubscriptionResponse']> {
  const { tier, features } = await tierFeatures(db, settings, userId);
  return presentSubscription(tier, await findSubscription(db, userId), features);
}
