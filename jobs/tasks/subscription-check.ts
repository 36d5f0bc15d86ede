import type { Database } from '../../db/index.js';
import type { Config } from '../../src/config.js';
import { checkSubscriptions, type SubscriptionCheckResult } from '../../src/domain/subscriptions/check-subscriptions.js';
import type { Logger } from '../../src/core/logging.js';
import type { CheckoutClient } from '../../src/integrations/checkout.js';
import type { JobPayloads } from '../names.js';

/** `subscription_check`, hourly: at `payload.now` when given (tests), otherwise now. */
export function subscriptionCheck(deps: { db: Database; config: Config; checkout: CheckoutClient; log: Logger }, payload: JobPayloads['subscription_check']): Promise<SubscriptionCheckResult> {
  const now = payload.now ? new Date(payload.now) : new Date();
  return checkSubscriptions(deps.db, { checkout: deps.checkout, settings: deps.config, log: deps.log, now });
}
