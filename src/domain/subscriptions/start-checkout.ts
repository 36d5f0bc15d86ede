import { createHash } from 'node:crypto';
import type { Database } from '../../../db/index.js';
import type { Config } from '../../config.js';
import { accountGone, conflict, serviceUnavailable } from '../../core/errors.js';
import type { CheckoutClient, HostedPaymentPage } from '../../integrations/checkout.js';
import { fromProvider } from '../provider-failures.js';
import { findUserById } from '../users/queries.js';
import { findSubscription } from './queries.js';

export type CheckoutSettings = Pick<Config, 'PRO_PRICE_MINOR' | 'PRO_PRICE_CURRENCY' | 'CHECKOUT_BILLING_COUNTRY' | 'FRONTEND_URL'>;

/** The plan marker in a subscription payment's metadata; a credit purchase carries `purchase_id` instead. */
export const PRO_PLAN = 'pro_monthly';

/**
 * Checkout.com's idempotency key for a call made on behalf of one of our requests: derived from the
 * user and the request's Idempotency-Key, so a retry after a 503 gets the same page or payment.
 */
export const providerKey = (...parts: string[]): string => createHash('sha256').update(parts.join('\n')).digest('hex');

export const frontendUrl = (settings: Pick<Config, 'FRONTEND_URL'>, path: string) => `${settings.FRONTEND_URL.replace(/\/+$/, '')}${path}`;

/**
 * Creates a Checkout.com hosted payment page for one month of Pro. Nothing changes here: the
 * subscription starts when Checkout.com confirms the payment (`payment_captured` webhook).
 */
export async function startCheckout(db: Database, { checkout, settings, userId, requestKey }: { checkout: CheckoutClient; settings: CheckoutSettings; userId: string; requestKey: string }): Promise<HostedPaymentPage> {
  const user = await findUserById(db, userId);
  if (!user) throw accountGone(); // its account was deleted meanwhile
  const subscription = await findSubscription(db, userId);
  if (subscription?.status === 'active') throw conflict('You already have an active Pro subscription');
  if (!checkout.configured) throw serviceUnavailable('PAYMENT_SERVICE_UNAVAILABLE', 'Payments are not configured: set CHECKOUT_SECRET_KEY');
  return fromProvider(() => checkout.createHostedPayment(
    {
      amountMinor: settings.PRO_PRICE_MINOR,
      currency: settings.PRO_PRICE_CURRENCY,
      reference: `pro-${userId}`,
      description: 'Perpetua Flow Pro, one month',
      // Recurring: Checkout.com stores the card, and the hourly job charges it at each renewal.
      paymentType: 'Recurring',
      customer: { email: user.email, name: user.name },
      billingCountry: settings.CHECKOUT_BILLING_COUNTRY,
      successUrl: frontendUrl(settings, '/subscription/success'),
      cancelUrl: frontendUrl(settings, '/pricing'),
      failureUrl: frontendUrl(settings, '/pricing?payment=failed'),
      metadata: { user_id: userId, plan: PRO_PLAN },
    },
    providerKey('checkout', userId, requestKey),
  ));
}
