import { describe, expect } from 'vitest';
import type { Database } from '../../../db/index.js';
import type { SubscriptionRow } from '../../../db/schema/index.js';
import { creditBalance } from '../../../src/domain/credits/ledger.js';
import { applyCancellation, applyCapturedPayment, applyDeclinedPayment, expireSubscription, type CapturedPayment } from '../../../src/domain/subscriptions/state-machine.js';
import { domainTest as test, newUser } from '../../helpers/domain-tx.js';

// The subscription state machine (FR-047..FR-050) transition by transition on the domain:
//   (none), expired, cancelled ──payment──▶ active ──decline 1, 2──▶ past_due ──decline 3──▶ grace
//   past_due, grace ──payment──▶ active;   grace ──expire──▶ expired (tier free)
//   active, past_due, grace ──cancel──▶ cancelled
// tests/subscriptions/state-machine.test.ts keeps the whole walk end to end: the hourly job, the
// fake Checkout.com and its webhooks over HTTP.

const settings = { PRO_DAILY_CREDITS: 10, PRO_MONTHLY_CREDITS: 100, MAX_CREDIT_CARRYOVER: 50 };
const system = { source: 'system' as const, requestId: null };
const DAY = 86_400_000;

const pay = (db: Database, userId: string, current: SubscriptionRow | undefined, payment: Partial<CapturedPayment> = {}) =>
  db.transaction().execute((trx) => applyCapturedPayment(trx, { settings, userId, current, payment: { paymentId: `pay_${Math.random().toString(36).slice(2)}`, paidAt: new Date(), sourceId: 'src_1', customerId: 'cus_1', ...payment }, actor: system }));
const decline = (db: Database, sub: SubscriptionRow, at = new Date()) => db.transaction().execute((trx) => applyDeclinedPayment(trx, { sub, declinedAt: at, reason: 'card_declined', actor: system }));
const cancel = (db: Database, sub: SubscriptionRow, now = new Date()) => db.transaction().execute((trx) => applyCancellation(trx, { sub, now, actor: system }));
const expire = (db: Database, sub: SubscriptionRow) => db.transaction().execute((trx) => expireSubscription(trx, sub, system));
const tierOf = async (db: Database, userId: string) => (await db.selectFrom('users').select('tier').where('id', '=', userId).executeTakeFirstOrThrow()).tier;
// Sorted: in one test's transaction now() stands still, so entries tie on created_at (the order is
// asserted by the HTTP walk).
const actions = async (db: Database, userId: string) =>
  (await db.selectFrom('activity_logs').select('action').where('user_id', '=', userId).where('entity_type', '=', 'subscription').execute()).map((a) => a.action).sort();
const notifications = (db: Database, userId: string) => db.selectFrom('notifications').select('title').where('user_id', '=', userId).execute();

describe('subscription state machine', () => {
  test('a first payment activates a month from the payment, makes the user Pro and grants the month’s credits', async ({ db }) => {
    const u = await newUser(db);
    const paidAt = new Date(Date.now() - 60_000);
    const sub = await pay(db, u.id, undefined, { paidAt });
    expect(sub).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: paidAt, checkout_source_id: 'src_1', grace_period_end: null });
    expect(sub.current_period_end.getTime() - paidAt.getTime()).toBeGreaterThanOrEqual(28 * DAY);
    expect(await tierOf(db, u.id)).toBe('pro');
    expect(await creditBalance(db, u.id)).toMatchObject({ subscription: 100, daily: 10 });
    expect(await actions(db, u.id)).toEqual(['subscription_activated']);
  });

  test('declines 1 and 2 make it past_due; the 3rd starts 3 days of grace from the decline, with a notification; Pro stays', async ({ db }) => {
    const u = await newUser(db);
    let sub = await pay(db, u.id, undefined);
    sub = (await decline(db, sub))!;
    expect(sub).toMatchObject({ status: 'past_due', failed_payment_count: 1 });
    sub = (await decline(db, sub))!;
    expect(sub).toMatchObject({ status: 'past_due', failed_payment_count: 2 });
    const third = new Date(Date.now() + DAY);
    sub = (await decline(db, sub, third))!;
    expect(sub).toMatchObject({ status: 'grace', failed_payment_count: 3, grace_period_end: new Date(third.getTime() + 3 * DAY) });
    expect(await tierOf(db, u.id)).toBe('pro');
    expect(await notifications(db, u.id)).toEqual([{ title: 'Payment failed: your Pro grace period has started' }]);
    expect(await actions(db, u.id)).toEqual(['subscription_activated', 'subscription_grace_started', 'subscription_payment_failed', 'subscription_payment_failed']);
  });

  test('a decline changes nothing in grace, cancelled or expired', async ({ db }) => {
    const u = await newUser(db);
    const active = await pay(db, u.id, undefined);
    for (const status of ['grace', 'cancelled', 'expired'] as const) expect(await decline(db, { ...active, status })).toBeNull();
    expect(await actions(db, u.id)).toEqual(['subscription_activated']);
  });

  test('a payment while past_due or in grace renews from where the paid time ended and resets the failures', async ({ db }) => {
    const u = await newUser(db);
    const first = await pay(db, u.id, undefined);
    const pastDue = (await decline(db, first))!;
    const renewed = await pay(db, u.id, pastDue);
    expect(renewed).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: first.current_period_end });
    let sub = renewed;
    for (let i = 0; i < 3; i++) sub = (await decline(db, sub))!;
    expect(sub.status).toBe('grace');
    const back = await pay(db, u.id, sub);
    expect(back).toMatchObject({ status: 'active', failed_payment_count: 0, grace_period_end: null, current_period_start: renewed.current_period_end });
    expect((await actions(db, u.id)).filter((a) => a === 'subscription_renewed')).toHaveLength(2);
  });

  test('a wallet payment without a stored card keeps the card already on file', async ({ db }) => {
    const u = await newUser(db);
    const sub = await pay(db, u.id, undefined, { sourceId: 'src_card' });
    expect((await pay(db, u.id, sub, { sourceId: null, customerId: null })).checkout_source_id).toBe('src_card');
  });

  test('cancelling keeps Pro until the paid time ends (or the grace period); nothing to cancel once expired', async ({ db }) => {
    const u = await newUser(db);
    const sub = await pay(db, u.id, undefined);
    const now = new Date();
    expect(await cancel(db, sub, now)).toMatchObject({ status: 'cancelled', cancelled_at: now, access_until: sub.current_period_end });
    const graceEnd = new Date(Date.now() + 2 * DAY);
    expect(await cancel(db, { ...sub, status: 'grace', grace_period_end: graceEnd }, now)).toMatchObject({ status: 'cancelled', access_until: graceEnd, grace_period_end: null });
    const lapsed = { ...sub, status: 'past_due' as const, current_period_end: new Date(Date.now() - DAY) };
    expect((await cancel(db, lapsed, now))!.access_until).toEqual(now);
    expect(await cancel(db, { ...sub, status: 'expired' }, now)).toBeNull();
  });

  test('paying again while cancelled continues the paid time; after it ended, a new month starts at the payment', async ({ db }) => {
    const u = await newUser(db);
    const sub = await pay(db, u.id, undefined);
    const cancelled = (await cancel(db, sub))!;
    expect(await pay(db, u.id, cancelled)).toMatchObject({ status: 'active', current_period_start: sub.current_period_end, cancelled_at: null, access_until: null });
    const paidAt = new Date();
    const ended = { ...cancelled, current_period_end: new Date(Date.now() - DAY) };
    expect(await pay(db, u.id, ended, { paidAt })).toMatchObject({ status: 'active', current_period_start: paidAt });
  });

  test('expiry returns the user to free with a notification; unspent credits stay', async ({ db }) => {
    const u = await newUser(db);
    const sub = await pay(db, u.id, undefined);
    expect(await expire(db, sub)).toMatchObject({ status: 'expired', grace_period_end: null, access_until: null });
    expect(await tierOf(db, u.id)).toBe('free');
    expect(await notifications(db, u.id)).toEqual([{ title: 'Your Pro subscription has ended' }]);
    expect((await creditBalance(db, u.id)).subscription).toBe(100);
    expect(await actions(db, u.id)).toEqual(['subscription_activated', 'subscription_expired']);
  });
});
