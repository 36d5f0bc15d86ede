import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditBalance } from '../../src/domain/credits/ledger.js';
import type { WebhookEvent } from '../fakes/checkout.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';
import { samePeriodGuard } from './calendar.js';

let app: BillingApp;

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

/** A Pro subscriber whose card Checkout.com stored with the first payment. */
async function subscriber(): Promise<TestUser> {
  const user = await signUp(app.t);
  const res = await user.api.post('/subscription/checkout');
  await app.checkout.payHostedPage(res.body.data.session_id, { sourceId: `src_${user.id.slice(0, 8)}` });
  return user;
}
const purchased = async (user: TestUser) => (await creditBalance(app.t.db, user.id)).purchased;
const purchasesOf = (user: TestUser) => app.t.db.selectFrom('credit_purchases').select(['amount', 'status']).where('user_id', '=', user.id).orderBy('created_at').execute();
/** Every grant and deduction of the user: unlike the spendable balance, it does not change at midnight. */
const ledgerOf = (user: TestUser) => app.t.db.selectFrom('ai_credit_ledger').select(['type', 'category', 'amount', 'operation_ref']).where('user_id', '=', user.id).orderBy('seq').execute();
const pageOf = (res: { body: any }) => res.body.data.checkout_url.split('/').pop() as string;
/** The user's webhooks Checkout.com has queued, taken out of the queue (delivered only when a test says so). */
const intercept = (user: TestUser): WebhookEvent[] => app.checkout.discard((e) => e.data.metadata?.user_id === user.id);

describe('purchaseCredits without a stored card', () => {
  it('answers a pending purchase with a hosted page, and grants nothing until Checkout.com confirms the payment', async () => {
    const ada = await signUp(app.t);
    const before = await creditBalance(app.t.db, ada.id);
    const res = await ada.api.post('/subscription/purchase-credits', { amount: 50 });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ success: false, credits_purchased: 0, new_balance: before.total, status: 'pending', checkout_url: expect.stringMatching(/^https:\/\/pay\.checkout\.com\/page\/hpp_/) });
    const pageId = res.body.data.checkout_url.split('/').pop();
    expect(app.checkout.hostedPages.get(pageId)!.request).toMatchObject({ amount: 500, currency: 'USD', payment_type: 'Regular', metadata: { user_id: ada.id, purchase_id: res.body.data.purchase_id } });
    expect(await purchased(ada)).toBe(0);

    const { delivery, event } = await app.checkout.payHostedPage(pageId);
    expect(delivery.body.processed).toBe(true);
    expect(await purchased(ada)).toBe(50);
    expect(await purchasesOf(ada)).toEqual([{ amount: 50, status: 'completed' }]);
    // another confirmation of the same payment grants nothing more: it was applied (issue 15)
    const again = await app.checkout.deliver({ ...event, id: `${event.id}_2` });
    expect(again.body).toEqual({ received: true, processed: false, reason: 'duplicate' });
    expect(await purchased(ada)).toBe(50);
    const activity = await ada.api.get('/activity', { query: { entity_type: 'credit', action: 'credits_purchased' } });
    expect(activity.body.data).toHaveLength(1);
  });

  it('fails a purchase whose payment is declined: nothing granted, and it no longer counts toward the month', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const bob = await signUp(app.t);
    const res = await bob.api.post('/subscription/purchase-credits', { amount: 500 });
    const over = await bob.api.post('/subscription/purchase-credits', { amount: 1 });
    sameMonth();
    expect(over.status).toBe(409);
    await app.checkout.payHostedPage(res.body.data.checkout_url.split('/').pop(), { outcome: 'declined' });
    expect(await purchasesOf(bob)).toEqual([{ amount: 500, status: 'failed' }]);
    expect(await purchased(bob)).toBe(0);
    expect((await bob.api.post('/subscription/purchase-credits', { amount: 500 })).status).toBe(200);
  });
});

describe('purchaseCredits with the subscription’s stored card', () => {
  it('charges the card, and grants the credits once Checkout.com has captured the payment; its later webhook grants nothing more', async (ctx) => {
    const sameDay = samePeriodGuard(ctx, 'day'); // new_balance includes today's daily credits
    const cleo = await subscriber();
    const balance = await creditBalance(app.t.db, cleo.id);
    const res = await cleo.api.post('/subscription/purchase-credits', { amount: 100 });
    sameDay();
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ success: true, credits_purchased: 100, new_balance: balance.total + 100, status: 'completed', purchase_id: expect.any(String), checkout_url: null });
    const [charge] = app.checkout.chargesTo().filter((r) => r.body.metadata.purchase_id === res.body.data.purchase_id);
    expect(charge!.body).toMatchObject({ source: { type: 'id', id: `src_${cleo.id.slice(0, 8)}` }, amount: 1000, currency: 'USD', metadata: { user_id: cleo.id } });
    const [flushed] = await app.checkout.flush();
    expect(flushed!.delivery.body).toEqual({ received: true, processed: false, reason: 'ignored' });
    expect(await purchased(cleo)).toBe(100);
  });

  it('answers 402 PAYMENT_DECLINED for a declined charge: nothing granted, nothing counted', async () => {
    const dan = await subscriber();
    const before = await ledgerOf(dan);
    app.checkout.nextChargesFor(dan.id, 'decline');
    const res = await dan.api.post('/subscription/purchase-credits', { amount: 500 });
    expect(res.status).toBe(402);
    expect(res.body.error.code).toBe('PAYMENT_DECLINED');
    await app.checkout.flush(); // the decline's webhook
    expect(await ledgerOf(dan)).toEqual(before);
    expect((await dan.api.post('/subscription/purchase-credits', { amount: 500 })).body.data.status).toBe('completed');
  });

  it('answers 402 when Checkout.com refuses the charge outright (422, no payment made): nothing granted, nothing counted', async () => {
    const ivy = await subscriber();
    const before = await ledgerOf(ivy);
    app.checkout.nextChargesFor(ivy.id, 'invalid');
    const res = await ivy.api.post('/subscription/purchase-credits', { amount: 500 });
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({ code: 'PAYMENT_DECLINED', message: 'The payment was declined: the stored card could not be charged' });
    expect(await purchasesOf(ivy)).toEqual([{ amount: 500, status: 'failed' }]);
    expect(await ledgerOf(ivy)).toEqual(before);
  });

  it('grants nothing for an authorisation alone: the purchase stays pending, holding its place, until the payment is captured', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const jon = await subscriber();
    const before = await ledgerOf(jon);
    app.checkout.nextChargesFor(jon.id, 'authorize'); // approved, but Checkout.com has not captured it yet
    const res = await jon.api.post('/subscription/purchase-credits', { amount: 100 });
    expect(res.status).toBe(200);
    expect(res.body.data).toMatchObject({ success: false, credits_purchased: 0, status: 'pending', checkout_url: null });
    expect(await purchasesOf(jon)).toEqual([{ amount: 100, status: 'pending' }]);
    expect(await ledgerOf(jon)).toEqual(before);
    // the server looked whether the capture had happened before answering
    const paymentId = [...app.checkout.payments].find(([, p]) => p.body.metadata?.purchase_id === res.body.data.purchase_id)![0];
    expect(app.checkout.requests.filter((r) => r.method === 'GET' && r.path === `/payments/${paymentId}`).length).toBeGreaterThanOrEqual(1);

    // the authorisation's own webhook grants nothing
    const [approved] = intercept(jon);
    expect(approved!.type).toBe('payment_approved');
    expect((await app.checkout.deliver(approved!)).body).toEqual({ received: true, processed: false, reason: 'unknown_event_type' });
    expect(await ledgerOf(jon)).toEqual(before);
    // the pending purchase still counts toward the month
    const over = await jon.api.post('/subscription/purchase-credits', { amount: 401 });
    sameMonth();
    expect(over.status).toBe(409);

    // captured: payment_captured grants the credits, once
    app.checkout.capture(paymentId);
    const [captured] = intercept(jon);
    expect((await app.checkout.deliver(captured!)).body).toEqual({ received: true, processed: true, reason: null });
    expect(await purchased(jon)).toBe(100);
    expect(await purchasesOf(jon)).toEqual([{ amount: 100, status: 'completed' }]);
    expect((await app.checkout.deliver({ ...captured!, id: `${captured!.id}_again` })).body.reason).toBe('duplicate');
    expect(await purchased(jon)).toBe(100);
  });

  it('answers 503 when Checkout.com is down; a retry with the same Idempotency-Key charges once', async () => {
    const eve = await subscriber();
    app.checkout.nextCharges.push('unavailable');
    const first = await eve.api.post('/subscription/purchase-credits', { amount: 20 }, { idempotencyKey: 'buy-20' });
    expect(first.status).toBe(503);
    expect(first.body.error.code).toBe('PAYMENT_SERVICE_UNAVAILABLE');
    expect(await purchased(eve)).toBe(0);
    const retry = await eve.api.post('/subscription/purchase-credits', { amount: 20 }, { idempotencyKey: 'buy-20' });
    expect(retry.body.data).toMatchObject({ success: true, credits_purchased: 20, status: 'completed' });
    expect(await purchasesOf(eve)).toEqual([{ amount: 20, status: 'completed' }]);
    const keys = app.checkout.chargesTo().filter((r) => r.body.metadata.user_id === eve.id && r.body.metadata.purchase_id).map((r) => r.headers['cko-idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    expect(await purchased(eve)).toBe(20);
  });
});

describe('late captures', () => {
  const refundsOf = async (user: TestUser) =>
    (await user.api.get('/activity', { query: { entity_type: 'credit', action: 'credit_purchase_refund_required' } })).body.data.map((e: { entity_id: string; extra_data: Record<string, unknown> }) => ({
      purchase_id: e.entity_id,
      payment_id: e.extra_data.payment_id,
      amount: e.extra_data.amount,
    }));

  it('grants a purchase paid after it failed only while its month has room; otherwise grants nothing and records a refund', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const lea = await signUp(app.t);
    // 300 declined, then paid after all: the month has room, so it is granted
    const first = await lea.api.post('/subscription/purchase-credits', { amount: 300 });
    await app.checkout.payHostedPage(pageOf(first), { outcome: 'declined' });
    expect(await purchasesOf(lea)).toEqual([{ amount: 300, status: 'failed' }]);
    const late = await app.checkout.payHostedPage(pageOf(first));
    expect(late.delivery.body).toEqual({ received: true, processed: true, reason: null });
    expect(await purchased(lea)).toBe(300);

    // 200 declined; another 200 bought and paid fills the month
    const second = await lea.api.post('/subscription/purchase-credits', { amount: 200 });
    await app.checkout.payHostedPage(pageOf(second), { outcome: 'declined' });
    const third = await lea.api.post('/subscription/purchase-credits', { amount: 200 });
    await app.checkout.payHostedPage(pageOf(third));
    sameMonth();
    expect(await purchased(lea)).toBe(500);

    // the declined 200 is paid after all: over the limit, so nothing is granted and the payment is to be refunded
    const ledger = await ledgerOf(lea);
    const over = await app.checkout.payHostedPage(pageOf(second));
    expect(over.delivery.body).toEqual({ received: true, processed: true, reason: null });
    expect(await ledgerOf(lea)).toEqual(ledger);
    expect(await purchasesOf(lea)).toEqual([
      { amount: 300, status: 'completed' },
      { amount: 200, status: 'failed' },
      { amount: 200, status: 'completed' },
    ]);
    expect(await refundsOf(lea)).toEqual([{ purchase_id: second.body.data.purchase_id, payment_id: over.event.data.id, amount: 200 }]);
    // the same capture re-sent under another event id records nothing more
    expect((await app.checkout.deliver({ ...over.event, id: `${over.event.id}_again` })).body).toEqual({ received: true, processed: false, reason: 'duplicate' });
    expect(await refundsOf(lea)).toHaveLength(1);
  });

  it('treats a purchase paid after its 24-hour hold lapsed the same way', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const max = await signUp(app.t);
    const stale = await max.api.post('/subscription/purchase-credits', { amount: 500 });
    // the hold runs out (moved into the past rather than waiting a day), and the month is bought again
    await app.t.db.updateTable('credit_purchases').set({ pending_until: new Date(Date.now() - 1000) }).where('id', '=', stale.body.data.purchase_id).execute();
    const fresh = await max.api.post('/subscription/purchase-credits', { amount: 500 });
    await app.checkout.payHostedPage(pageOf(fresh));
    sameMonth();
    const late = await app.checkout.payHostedPage(pageOf(stale));
    expect(late.delivery.body.processed).toBe(true);
    expect(await purchased(max)).toBe(500);
    expect(await purchasesOf(max)).toEqual([
      { amount: 500, status: 'failed' },
      { amount: 500, status: 'completed' },
    ]);
    expect(await refundsOf(max)).toEqual([{ purchase_id: stale.body.data.purchase_id, payment_id: late.event.data.id, amount: 500 }]);
  });
});

describe('the monthly purchase limit of 500', () => {
  it('counts completed and pending purchases and refuses what would go over (409 with limit), changing nothing', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const fay = await signUp(app.t);
    expect((await fay.api.post('/subscription/purchase-credits', { amount: 300 })).status).toBe(200);
    const before = await purchasesOf(fay);
    const res = await fay.api.post('/subscription/purchase-credits', { amount: 201 });
    sameMonth();
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 500, message: expect.stringContaining('300 of 500') });
    expect(await purchasesOf(fay)).toEqual(before);
    expect((await fay.api.post('/subscription/purchase-credits', { amount: 200 })).status).toBe(200);
  });

  it('stops counting a hosted-page purchase that was never paid once its 24-hour hold lapses', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const kim = await signUp(app.t);
    const res = await kim.api.post('/subscription/purchase-credits', { amount: 500 });
    const held = await kim.api.post('/subscription/purchase-credits', { amount: 10 });
    sameMonth();
    expect(held.status).toBe(409);
    const row = await app.t.db.selectFrom('credit_purchases').select(['created_at', 'pending_until']).where('id', '=', res.body.data.purchase_id).executeTakeFirstOrThrow();
    expect(row.pending_until.getTime() - row.created_at.getTime()).toBe(24 * 3_600_000);
    // the hold runs out (moved into the past rather than waiting a day)
    await app.t.db.updateTable('credit_purchases').set({ pending_until: new Date(Date.now() - 1000) }).where('id', '=', res.body.data.purchase_id).execute();
    expect((await kim.api.post('/subscription/purchase-credits', { amount: 10 })).status).toBe(200);
  });

  it('holds under concurrency: of six parallel purchases of 100, exactly five go through', async (ctx) => {
    const sameMonth = samePeriodGuard(ctx, 'month');
    const gus = await subscriber();
    const results = await Promise.all(Array.from({ length: 6 }, () => gus.api.post('/subscription/purchase-credits', { amount: 100 })));
    sameMonth();
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 409]);
    expect(await purchased(gus)).toBe(500);
    expect((await purchasesOf(gus)).filter((p) => p.status === 'completed')).toHaveLength(5);
  });

  it.each([[0], [501], ['10']])('rejects amount %j with 400', async (amount) => {
    const hal = await signUp(app.t);
    const res = await hal.api.post('/subscription/purchase-credits', { amount });
    expect(res.status).toBe(400);
    expect(await purchasesOf(hal)).toEqual([]);
  });
});
