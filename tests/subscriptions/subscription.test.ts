import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionCheck } from '../../jobs/tasks/subscription-check.js';
import { creditBalance } from '../../src/domain/credits/ledger.js';
import { addDays, addUtcMonths, startOfUtcDay } from '../../src/domain/utc-calendar.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { startTestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let app: BillingApp;
const FREE_FEATURES = { max_tasks: 50, max_notes: 10, max_subtasks: 4, max_description_length: 1000, voice_notes: false, daily_credits: 0, monthly_credits: 0 };
const PRO_FEATURES = { max_tasks: 200, max_notes: 25, max_subtasks: 10, max_description_length: 2000, voice_notes: true, daily_credits: 10, monthly_credits: 100 };

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

/** Checks out and pays at the hosted page, as the user would; returns the capture's time. */
async function subscribe(user: TestUser, paidAt = new Date()) {
  const res = await user.api.post('/subscription/checkout');
  expect(res.status).toBe(201);
  const { delivery } = await app.checkout.payHostedPage(res.body.data.session_id, { createdOn: paidAt });
  expect(delivery.body).toEqual({ received: true, processed: true, reason: null });
  return paidAt;
}

const runCheck = (now: Date) => subscriptionCheck({ db: app.t.db, config: app.t.config, checkout: app.t.deps.checkout, log: app.t.deps.log }, { now: now.toISOString() });
// The server's own month arithmetic: the 31st becomes the last day of a shorter month.
const plusMonth = (d: Date) => addUtcMonths(d, 1);

describe('getSubscription', () => {
  it('shows a user who never subscribed: free, no status, the free features', async () => {
    const ada = await signUp(app.t);
    const res = await ada.api.get('/subscription');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ tier: 'free', status: null, current_period_end: null, cancel_at_period_end: false, grace_period_end: null, features: FREE_FEATURES });
  });

  it('needs a token', async () => {
    expect((await app.t.api.get('/subscription')).status).toBe(401);
  });
});

describe('createCheckoutSession', () => {
  it('creates a hosted payment page for one month of Pro and changes nothing until the payment is confirmed', async () => {
    const ada = await signUp(app.t, { name: 'Ada' });
    const res = await ada.api.post('/subscription/checkout', undefined, { idempotencyKey: 'checkout-1' });
    expect(res.status).toBe(201);
    expect(res.body.data.checkout_url).toBe(`https://pay.checkout.com/page/${res.body.data.session_id}`);
    const page = app.checkout.hostedPages.get(res.body.data.session_id)!;
    expect(page.request).toMatchObject({ amount: 999, currency: 'USD', payment_type: 'Recurring', metadata: { user_id: ada.id, plan: 'pro_monthly' }, customer: { email: ada.email, name: 'Ada' } });
    const call = app.checkout.requests.find((r) => r.body?.metadata?.user_id === ada.id)!;
    expect(call.headers.authorization).toBe(`Bearer ${app.checkout.secretKey}`);
    expect(call.headers['cko-idempotency-key']).toMatch(/^[0-9a-f]{64}$/);
    expect((await ada.api.get('/subscription')).body.data).toMatchObject({ tier: 'free', status: null });
  });

  it('activates Pro when Checkout.com confirms the payment: the period, the tier, the monthly and today’s daily credits', async () => {
    const bob = await signUp(app.t);
    const paidAt = await subscribe(bob);
    const processed = new Date();
    const res = await bob.api.get('/subscription');
    expect(res.body.data).toEqual({ tier: 'pro', status: 'active', current_period_end: plusMonth(paidAt).toISOString(), cancel_at_period_end: false, grace_period_end: null, features: PRO_FEATURES });
    expect((await creditBalance(app.t.db, bob.id)).subscription).toBe(100);
    // today's 10 daily credits, until the midnight after the server processed the payment (read as
    // granted rather than as spendable, which would change if that midnight passed meanwhile)
    const daily = await app.t.db.selectFrom('credit_lots').select(['amount', 'expires_at']).where('user_id', '=', bob.id).where('kind', '=', 'daily').execute();
    expect(daily).toHaveLength(1);
    expect(daily[0]!.amount).toBe(10);
    expect([addDays(startOfUtcDay(paidAt), 1), addDays(startOfUtcDay(processed), 1)]).toContainEqual(daily[0]!.expires_at);
    const activity = await bob.api.get('/activity', { query: { entity_type: 'subscription' } });
    expect(activity.body.data.map((e: { action: string }) => e.action)).toEqual(['subscription_activated']);
    expect(activity.body.data[0].source).toBe('system');
  });

  it('refuses a user whose subscription is active (409), without calling Checkout.com', async () => {
    const cleo = await signUp(app.t);
    await subscribe(cleo);
    const calls = app.checkout.requests.length;
    const res = await cleo.api.post('/subscription/checkout');
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
    expect(app.checkout.requests.length).toBe(calls);
  });

  it('answers 503 naming the variable when payments are not configured, and 503 when Checkout.com cannot be reached', async () => {
    const bare = await startTestApp();
    const unreachable = await startTestApp({ env: { CHECKOUT_SECRET_KEY: 'sk_test', CHECKOUT_API_URL: 'http://127.0.0.1:9' } });
    try {
      const a = await signUp(bare);
      const res = await a.api.post('/subscription/checkout');
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({ code: 'PAYMENT_SERVICE_UNAVAILABLE', message: expect.stringContaining('CHECKOUT_SECRET_KEY') });
      const b = await signUp(unreachable);
      const down = await b.api.post('/subscription/checkout');
      expect(down.status).toBe(503);
      expect((await b.api.get('/subscription')).body.data.status).toBeNull();
    } finally {
      await bare.close();
      await unreachable.close();
    }
  });
});

describe('upgradeSubscription', () => {
  it('answers the unchanged subscription plus the page to pay at; the tier changes only with the payment', async () => {
    const dan = await signUp(app.t);
    const res = await dan.api.post('/subscription/upgrade', {});
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ tier: 'free', status: null, features: FREE_FEATURES, checkout_url: expect.stringMatching(/^https:\/\/pay\.checkout\.com\/page\/hpp_/) });
    expect((await dan.api.get('/subscription')).body.data.tier).toBe('free');
    await app.checkout.payHostedPage(res.body.data.session_id);
    expect((await dan.api.get('/subscription')).body.data).toMatchObject({ tier: 'pro', status: 'active' });
  });

  it('accepts no body but {}', async () => {
    const eve = await signUp(app.t);
    const res = await eve.api.post('/subscription/upgrade', { plan: 'pro' });
    expect(res.status).toBe(400);
  });

  it('refuses an active subscriber (409)', async () => {
    const fay = await signUp(app.t);
    await subscribe(fay);
    expect((await fay.api.post('/subscription/upgrade', {})).status).toBe(409);
  });
});

describe('cancelSubscription', () => {
  it('keeps Pro until the paid period ends, then the hourly job expires it and the user is free again', async () => {
    const gus = await signUp(app.t);
    const paidAt = await subscribe(gus);
    const periodEnd = plusMonth(paidAt);
    const res = await gus.api.post('/subscription/cancel', {});
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ status: 'cancelled', access_until: periodEnd.toISOString() });
    expect((await gus.api.get('/subscription')).body.data).toMatchObject({ tier: 'pro', status: 'cancelled', cancel_at_period_end: true, current_period_end: periodEnd.toISOString() });

    await runCheck(new Date(periodEnd.getTime() - 60_000));
    expect((await gus.api.get('/subscription')).body.data).toMatchObject({ tier: 'pro', status: 'cancelled' });
    // No renewal is charged for a cancelled subscription.
    expect(app.checkout.chargesTo().filter((r) => r.body.metadata.user_id === gus.id)).toHaveLength(0);

    await runCheck(new Date(periodEnd.getTime() + 60_000));
    const after = await gus.api.get('/subscription');
    expect(after.body.data).toMatchObject({ tier: 'free', status: 'expired', cancel_at_period_end: false, features: FREE_FEATURES });
    expect((await gus.api.get('/users/me')).body.data.tier).toBe('free');
    const notes = await app.t.db.selectFrom('notifications').select(['type', 'title']).where('user_id', '=', gus.id).execute();
    expect(notes).toEqual([{ type: 'subscription', title: 'Your Pro subscription has ended' }]);
    // Running the job again changes nothing.
    const again = await runCheck(new Date(periodEnd.getTime() + 120_000));
    expect((await gus.api.get('/subscription')).body.data).toEqual(after.body.data);
    expect(again.expired).toBe(0);
  });

  it('can be undone by checking out again before the period ends: the new month starts where the paid one ends', async () => {
    const hal = await signUp(app.t);
    const paidAt = await subscribe(hal);
    await hal.api.post('/subscription/cancel', {});
    await subscribe(hal, new Date(paidAt.getTime() + 86_400_000));
    const res = await hal.api.get('/subscription');
    expect(res.body.data).toMatchObject({ tier: 'pro', status: 'active', cancel_at_period_end: false, current_period_end: plusMonth(plusMonth(paidAt)).toISOString() });
  });

  it('answers 409 when there is nothing to cancel, and changes nothing', async () => {
    const ivy = await signUp(app.t);
    const before = await ivy.api.get('/subscription');
    const res = await ivy.api.post('/subscription/cancel', {});
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('CONFLICT');
    expect((await ivy.api.get('/subscription')).body).toEqual(before.body);

    const jon = await signUp(app.t);
    await subscribe(jon);
    await jon.api.post('/subscription/cancel', {});
    const cancelled = await jon.api.get('/subscription');
    expect((await jon.api.post('/subscription/cancel', {})).status).toBe(409);
    expect((await jon.api.get('/subscription')).body).toEqual(cancelled.body);
  });
});
