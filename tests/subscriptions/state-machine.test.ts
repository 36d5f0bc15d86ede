import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionCheck } from '../../jobs/tasks/subscription-check.js';
import { creditBalance } from '../../src/domain/credits/ledger.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';

// active → past_due (failures 1, 2) → grace (3rd failure, 3 days) → expired, driven by the hourly
// job at chosen times and by Checkout.com's webhooks dated when Checkout.com saw each payment.

let app: BillingApp;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

const runCheck = (now: Date) => subscriptionCheck({ db: app.t.db, config: app.t.config, checkout: app.t.deps.checkout, log: app.t.deps.log }, { now: now.toISOString() });
const at = (d: Date, ms: number) => new Date(d.getTime() + ms);

async function subscribe(user: TestUser, paidAt = new Date()) {
  const res = await user.api.post('/subscription/checkout');
  await app.checkout.payHostedPage(res.body.data.session_id, { createdOn: paidAt, sourceId: `src_${user.id.slice(0, 8)}` });
  const sub = await app.t.db.selectFrom('subscriptions').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
  return sub.current_period_end;
}
const chargesFor = (user: TestUser) => app.checkout.chargesTo().filter((r) => r.body.metadata.user_id === user.id);
const subscriptionOf = async (user: TestUser) => (await user.api.get('/subscription')).body.data;

describe('subscription_check and the payment webhooks', () => {
  it('walks active → past_due → past_due → grace → expired, charging the stored card at period end and every 24 h', async () => {
    const ada = await signUp(app.t);
    const periodEnd = await subscribe(ada);

    await runCheck(at(periodEnd, -HOUR));
    expect(chargesFor(ada)).toHaveLength(0);

    // 1st renewal attempt at the period end, declined
    const p = at(periodEnd, 5 * 60_000);
    app.checkout.nextCharges.push('decline');
    await runCheck(p);
    const [first] = chargesFor(ada);
    expect(first!.body).toMatchObject({ source: { type: 'id', id: `src_${ada.id.slice(0, 8)}` }, amount: 999, currency: 'USD', merchant_initiated: true, payment_type: 'Recurring', metadata: { user_id: ada.id, plan: 'pro_monthly' } });
    expect(first!.headers['cko-idempotency-key']).toMatch(/^[0-9a-f]{64}$/);
    // the outcome counts only when Checkout.com's webhook says so
    expect((await subscriptionOf(ada)).status).toBe('active');
    await app.checkout.flush({ createdOn: p });
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'pro', status: 'past_due', grace_period_end: null });

    // not charged again within 24 h
    await runCheck(at(p, HOUR));
    expect(chargesFor(ada)).toHaveLength(1);

    // 2nd attempt
    app.checkout.nextCharges.push('decline');
    await runCheck(at(p, DAY));
    await app.checkout.flush({ createdOn: at(p, DAY) });
    expect(chargesFor(ada)).toHaveLength(2);
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'pro', status: 'past_due' });

    // 3rd attempt: the grace period of 3 days starts when Checkout.com declined it
    const third = at(p, 2 * DAY);
    app.checkout.nextCharges.push('decline');
    await runCheck(third);
    await app.checkout.flush({ createdOn: third });
    const graceEnd = at(third, 3 * DAY);
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'pro', status: 'grace', grace_period_end: graceEnd.toISOString(), features: { voice_notes: true } });
    const notified = await app.t.db.selectFrom('notifications').select(['type', 'title']).where('user_id', '=', ada.id).execute();
    expect(notified).toEqual([{ type: 'subscription', title: 'Payment failed: your Pro grace period has started' }]);

    // no more charges in grace; still Pro a minute before it ends
    await runCheck(at(graceEnd, -60_000));
    expect(chargesFor(ada)).toHaveLength(3);
    expect((await subscriptionOf(ada)).status).toBe('grace');

    // grace over: expired, free
    const result = await runCheck(at(graceEnd, 60_000));
    expect(result.expired).toBe(1);
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'free', status: 'expired', grace_period_end: null, features: { voice_notes: false, monthly_credits: 0 } });
    const actions = (await ada.api.get('/activity', { query: { entity_type: 'subscription' } })).body.data.map((e: { action: string }) => e.action).reverse();
    expect(actions).toEqual(['subscription_activated', 'subscription_payment_failed', 'subscription_payment_failed', 'subscription_grace_started', 'subscription_expired']);
  });

  it('renews at the period end: a month from where the paid one ended, with the month’s credits', async () => {
    const bob = await signUp(app.t);
    const periodEnd = await subscribe(bob);
    await runCheck(at(periodEnd, 60_000));
    await app.checkout.flush({ createdOn: at(periodEnd, 60_000) });
    const sub = await app.t.db.selectFrom('subscriptions').selectAll().where('user_id', '=', bob.id).executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: periodEnd });
    expect(sub.current_period_end.getTime()).toBeGreaterThan(at(periodEnd, 27 * DAY).getTime());
    // 100 + 100, the first 100 unspent but capped at the carry-over of 50
    expect((await creditBalance(app.t.db, bob.id)).subscription).toBe(150);
    // running the job again at the same time charges nothing more
    await runCheck(at(periodEnd, 2 * 60_000));
    expect(chargesFor(bob)).toHaveLength(1);
  });

  it('returns a past_due subscription to active when a retry is paid, resetting the failures', async () => {
    const cleo = await signUp(app.t);
    const periodEnd = await subscribe(cleo);
    app.checkout.nextCharges.push('decline');
    await runCheck(at(periodEnd, 60_000));
    await app.checkout.flush();
    expect((await subscriptionOf(cleo)).status).toBe('past_due');
    await runCheck(at(periodEnd, DAY + 60_000));
    await app.checkout.flush();
    const sub = await app.t.db.selectFrom('subscriptions').selectAll().where('user_id', '=', cleo.id).executeTakeFirstOrThrow();
    expect(sub).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: periodEnd, grace_period_end: null });
  });

  it('pays out of grace when the user checks out again', async () => {
    const dan = await signUp(app.t);
    const periodEnd = await subscribe(dan);
    for (const n of [0, 1, 2]) {
      app.checkout.nextCharges.push('decline');
      await runCheck(at(periodEnd, n * DAY + 60_000));
      await app.checkout.flush();
    }
    expect((await subscriptionOf(dan)).status).toBe('grace');
    const res = await dan.api.post('/subscription/checkout');
    expect(res.status).toBe(201);
    await app.checkout.payHostedPage(res.body.data.session_id);
    expect(await subscriptionOf(dan)).toMatchObject({ tier: 'pro', status: 'active', grace_period_end: null });
  });

  it('tries a renewal again next hour when Checkout.com is unavailable, without counting a failure', async () => {
    const eve = await signUp(app.t);
    const periodEnd = await subscribe(eve);
    app.checkout.chargeOutcome = 'unavailable';
    try {
      const r1 = await runCheck(at(periodEnd, 60_000));
      expect(r1.deferred).toBeGreaterThanOrEqual(1);
    } finally {
      app.checkout.chargeOutcome = 'approve';
    }
    expect(await app.t.db.selectFrom('subscriptions').select(['status', 'failed_payment_count', 'last_charge_attempt_at']).where('user_id', '=', eve.id).executeTakeFirstOrThrow()).toEqual({
      status: 'active',
      failed_payment_count: 0,
      last_charge_attempt_at: null,
    });
    await runCheck(at(periodEnd, HOUR + 60_000));
    // the same attempt's idempotency key: one approved charge at Checkout.com
    const keys = app.checkout.chargesTo().filter((r) => r.body.metadata.user_id === eve.id).map((r) => r.headers['cko-idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    await app.checkout.flush();
    expect((await subscriptionOf(eve)).status).toBe('active');
    expect(await app.t.db.selectFrom('subscriptions').select('current_period_start').where('user_id', '=', eve.id).executeTakeFirstOrThrow()).toEqual({ current_period_start: periodEnd });
  });

  it('starts the grace period at once when there is no stored card to charge', async () => {
    const fay = await signUp(app.t);
    const paidAt = new Date();
    await app.checkout.deliver(app.checkout.event('payment_captured', { id: 'pay_wallet', amount: 999, metadata: { user_id: fay.id, plan: 'pro_monthly' } }, paidAt));
    const sub = await app.t.db.selectFrom('subscriptions').selectAll().where('user_id', '=', fay.id).executeTakeFirstOrThrow();
    const now = at(sub.current_period_end, 60_000);
    const result = await runCheck(now);
    expect(result.graceWithoutCard).toBe(1);
    expect(await subscriptionOf(fay)).toMatchObject({ status: 'grace', grace_period_end: at(now, 3 * DAY).toISOString() });
    expect(chargesFor(fay)).toHaveLength(0);
  });
});
