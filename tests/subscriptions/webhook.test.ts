import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditBalance } from '../../src/domain/credits/ledger.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { startTestApp } from '../helpers/app.js';
import { signUp, type TestUser } from '../helpers/users.js';

let app: BillingApp;

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

const captured = (user: TestUser, createdOn?: Date) =>
  app.checkout.event('payment_captured', { id: `pay_${Math.random().toString(36).slice(2)}`, amount: 999, currency: 'USD', metadata: { user_id: user.id, plan: 'pro_monthly' }, source: { id: 'src_card1', type: 'card' } }, createdOn);
const declined = (user: TestUser) =>
  app.checkout.event('payment_declined', { id: `pay_${Math.random().toString(36).slice(2)}`, amount: 999, currency: 'USD', response_summary: 'Insufficient Funds', metadata: { user_id: user.id, plan: 'pro_monthly' } });

const eventCount = async () => Number((await app.t.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
/** Every credit grant and deduction: unlike the spendable balance, it does not change when daily credits expire at midnight. */
const ledgerOf = (user: TestUser) => app.t.db.selectFrom('ai_credit_ledger').select(['type', 'category', 'amount', 'operation_ref']).where('user_id', '=', user.id).orderBy('seq').execute();
const stateOf = async (user: TestUser) => ({
  subscription: (await user.api.get('/subscription')).body.data,
  ledger: await ledgerOf(user),
  events: await eventCount(),
});

describe('handleCheckoutWebhook: signature', () => {
  it.each([
    ['a missing signature', null],
    ['a malformed signature', 'not-hex'],
    ['an over-long signature', 'a'.repeat(2_000)],
    ['a signature just under the headers limit', 'f'.repeat(15_000)],
    ['a signature made with another secret', 'other-secret'],
    ['a signature of another body', 'other-body'],
  ])('answers 401 to %s and changes nothing', async (_label, kind) => {
    const ada = await signUp(app.t);
    const before = await stateOf(ada);
    const event = captured(ada);
    const signature =
      kind === null ? null : kind === 'other-secret' ? app.checkout.sign(JSON.stringify(event), 'whsec_wrong') : kind === 'other-body' ? app.checkout.sign(JSON.stringify({ ...event, id: 'evt_other' })) : kind;
    const res = await app.checkout.deliver(event, { signature });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('UNAUTHORIZED');
    expect(await stateOf(ada)).toEqual(before);
  });

  it('answers 503 and records nothing when no webhook secret is configured (Checkout.com retries later)', async () => {
    const bare = await startTestApp();
    try {
      const raw = JSON.stringify({ id: 'evt_x', type: 'payment_captured', data: {} });
      const res = await bare.api.post('/webhooks/checkout', undefined, { rawBody: raw, headers: { 'content-type': 'application/json', 'cko-signature': app.checkout.sign(raw) } });
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain('CHECKOUT_WEBHOOK_SECRET');
    } finally {
      await bare.close();
    }
  });

  it('answers 400 to a signed body that is not an event', async () => {
    const raw = JSON.stringify({ id: 'evt_no_type', data: {} });
    const res = await app.t.api.post('/webhooks/checkout', undefined, { rawBody: raw, headers: { 'content-type': 'application/json', 'cko-signature': app.checkout.sign(raw) } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { field: string }) => d.field)).toContain('body.type');
  });
});

describe('handleCheckoutWebhook: exactly once', () => {
  it('applies a replayed event once: the second delivery is a duplicate', async () => {
    const bob = await signUp(app.t);
    const event = captured(bob);
    expect((await app.checkout.deliver(event)).body).toEqual({ received: true, processed: true, reason: null });
    const after = await stateOf(bob);
    expect((await creditBalance(app.t.db, bob.id)).subscription).toBe(100);
    expect((await app.checkout.deliver(event)).body).toEqual({ received: true, processed: false, reason: 'duplicate' });
    expect(await stateOf(bob)).toEqual(after);
  });

  it('applies one event delivered twice at the same time exactly once', async () => {
    const cleo = await signUp(app.t);
    const event = captured(cleo);
    const results = await Promise.all([app.checkout.deliver(event), app.checkout.deliver(event), app.checkout.deliver(event)]);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.filter((r) => r.body.processed)).toHaveLength(1);
    expect(results.filter((r) => r.body.reason === 'duplicate')).toHaveLength(2);
    expect((await creditBalance(app.t.db, cleo.id)).subscription).toBe(100);
    const ledger = await app.t.db.selectFrom('ai_credit_ledger').select('operation_ref').where('user_id', '=', cleo.id).where('category', '=', 'subscription').execute();
    expect(ledger).toHaveLength(1);
  });

  it('counts a payment failure delivered twice at the same time once', async () => {
    const dan = await signUp(app.t);
    await app.checkout.deliver(captured(dan));
    const event = declined(dan);
    await Promise.all([app.checkout.deliver(event), app.checkout.deliver(event)]);
    const row = await app.t.db.selectFrom('subscriptions').select(['status', 'failed_payment_count']).where('user_id', '=', dan.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'past_due', failed_payment_count: 1 });
  });

  it('acknowledges an unknown event type without recording or changing anything', async () => {
    const eve = await signUp(app.t);
    const before = await stateOf(eve);
    const res = await app.checkout.deliver(app.checkout.event('card_verified', { metadata: { user_id: eve.id } }));
    expect(res.body).toEqual({ received: true, processed: false, reason: 'unknown_event_type' });
    expect(await stateOf(eve)).toEqual(before);
  });

  it('ignores an event about no user of ours, or a decline of a subscription that is not being charged', async () => {
    const fay = await signUp(app.t);
    const ghost = { ...fay, id: '0193f19f-5a2b-7c3d-8e4f-5a6b7c8d9e0f' };
    expect((await app.checkout.deliver(captured(ghost))).body).toEqual({ received: true, processed: false, reason: 'ignored' });
    expect((await app.checkout.deliver(app.checkout.event('payment_captured', { id: 'pay_x', metadata: {} }))).body.reason).toBe('ignored');
    // fay never subscribed: a declined first payment changes nothing
    const before = await stateOf(fay);
    expect((await app.checkout.deliver(declined(fay))).body).toEqual({ received: true, processed: false, reason: 'ignored' });
    expect((await stateOf(fay)).subscription).toEqual(before.subscription);
  });

  it('cancels on subscription_cancelled, keeping Pro until the period ends', async () => {
    const gus = await signUp(app.t);
    await app.checkout.deliver(captured(gus));
    const res = await app.checkout.deliver(app.checkout.event('subscription_cancelled', { metadata: { user_id: gus.id } }));
    expect(res.body.processed).toBe(true);
    expect((await gus.api.get('/subscription')).body.data).toMatchObject({ tier: 'pro', status: 'cancelled', cancel_at_period_end: true });
  });
});

describe('handleCheckoutWebhook: each payment applied once, whatever the event id (issue 15, item 2)', () => {
  const payment = (user: TestUser, id: string) => ({ id, amount: 999, currency: 'USD', metadata: { user_id: user.id, plan: 'pro_monthly' }, source: { id: 'src_card1', type: 'card' } });
  const subscriptionRow = (user: TestUser) =>
    app.t.db.selectFrom('subscriptions').select(['status', 'current_period_start', 'current_period_end', 'failed_payment_count']).where('user_id', '=', user.id).executeTakeFirstOrThrow();

  it('the same payment id under three new event ids extends the period and grants the monthly credits once', async () => {
    const hal = await signUp(app.t);
    const paymentId = `pay_${Math.random().toString(36).slice(2)}`;
    const first = app.checkout.event('payment_captured', payment(hal, paymentId));
    expect((await app.checkout.deliver(first)).body).toEqual({ received: true, processed: true, reason: null });
    const after = { row: await subscriptionRow(hal), ledger: await ledgerOf(hal), balance: await creditBalance(app.t.db, hal.id) };
    expect(after.balance.subscription).toBe(100);

    for (let i = 0; i < 2; i++) {
      const again = app.checkout.event('payment_captured', payment(hal, paymentId));
      expect(again.id).not.toBe(first.id);
      expect((await app.checkout.deliver(again)).body).toEqual({ received: true, processed: false, reason: 'duplicate' });
    }
    expect(await subscriptionRow(hal)).toEqual(after.row);
    expect(await ledgerOf(hal)).toEqual(after.ledger);
    expect((await creditBalance(app.t.db, hal.id)).subscription).toBe(100);
  });

  it('re-deliveries of one payment under new event ids at the same time apply it once', async () => {
    const ivy = await signUp(app.t);
    const paymentId = `pay_${Math.random().toString(36).slice(2)}`;
    const results = await Promise.all([0, 1, 2].map(() => app.checkout.deliver(app.checkout.event('payment_captured', payment(ivy, paymentId)))));
    expect(results.filter((r) => r.body.processed)).toHaveLength(1);
    expect(results.filter((r) => r.body.reason === 'duplicate')).toHaveLength(2);
    const row = await subscriptionRow(ivy);
    expect(row.current_period_end.getTime() - row.current_period_start.getTime()).toBeLessThanOrEqual(31 * 86_400_000);
    expect((await creditBalance(app.t.db, ivy.id)).subscription).toBe(100);
  });

  it('an old signed body replayed after its event id was purged (90 days) changes nothing', async () => {
    const jo = await signUp(app.t);
    const event = captured(jo);
    expect((await app.checkout.deliver(event)).body.processed).toBe(true);
    const before = { row: await subscriptionRow(jo), ledger: await ledgerOf(jo) };
    // what the cleanup job does to event ids older than 90 days
    await app.t.db.deleteFrom('webhook_events').where('event_id', '=', event.id).execute();
    expect((await app.checkout.deliver(event)).body).toEqual({ received: true, processed: false, reason: 'duplicate' });
    expect(await subscriptionRow(jo)).toEqual(before.row);
    expect(await ledgerOf(jo)).toEqual(before.ledger);
  });

  it('a decline re-delivered under a new event id counts as one failed payment', async () => {
    const kim = await signUp(app.t);
    await app.checkout.deliver(captured(kim));
    const decline = { id: `pay_${Math.random().toString(36).slice(2)}`, amount: 999, currency: 'USD', response_summary: 'Insufficient Funds', metadata: { user_id: kim.id, plan: 'pro_monthly' } };
    expect((await app.checkout.deliver(app.checkout.event('payment_declined', decline))).body.processed).toBe(true);
    expect((await app.checkout.deliver(app.checkout.event('payment_declined', decline))).body).toEqual({ received: true, processed: false, reason: 'duplicate' });
    expect(await subscriptionRow(kim)).toMatchObject({ status: 'past_due', failed_payment_count: 1 });
  });
});
