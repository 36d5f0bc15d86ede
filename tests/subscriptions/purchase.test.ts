import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { creditBalance } from '../../src/domain/credits/ledger.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';

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
    // another confirmation of the same purchase grants nothing more
    const again = await app.checkout.deliver({ ...event, id: `${event.id}_2` });
    expect(again.body).toEqual({ received: true, processed: false, reason: 'ignored' });
    expect(await purchased(ada)).toBe(50);
    const activity = await ada.api.get('/activity', { query: { entity_type: 'credit', action: 'credits_purchased' } });
    expect(activity.body.data).toHaveLength(1);
  });

  it('fails a purchase whose payment is declined: nothing granted, and it no longer counts toward the month', async () => {
    const bob = await signUp(app.t);
    const res = await bob.api.post('/subscription/purchase-credits', { amount: 500 });
    expect((await bob.api.post('/subscription/purchase-credits', { amount: 1 })).status).toBe(409);
    await app.checkout.payHostedPage(res.body.data.checkout_url.split('/').pop(), { outcome: 'declined' });
    expect(await purchasesOf(bob)).toEqual([{ amount: 500, status: 'failed' }]);
    expect(await purchased(bob)).toBe(0);
    expect((await bob.api.post('/subscription/purchase-credits', { amount: 500 })).status).toBe(200);
  });
});

describe('purchaseCredits with the subscription’s stored card', () => {
  it('charges the card at once and grants the credits; the later webhook of that payment grants nothing more', async () => {
    const cleo = await subscriber();
    const balance = await creditBalance(app.t.db, cleo.id);
    const res = await cleo.api.post('/subscription/purchase-credits', { amount: 100 });
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
    const before = await creditBalance(app.t.db, dan.id);
    app.checkout.nextCharges.push('decline');
    const res = await dan.api.post('/subscription/purchase-credits', { amount: 500 });
    expect(res.status).toBe(402);
    expect(res.body.error.code).toBe('PAYMENT_DECLINED');
    await app.checkout.flush(); // the decline's webhook
    expect(await creditBalance(app.t.db, dan.id)).toEqual(before);
    expect((await dan.api.post('/subscription/purchase-credits', { amount: 500 })).body.data.status).toBe('completed');
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

describe('the monthly purchase limit of 500', () => {
  it('counts completed and pending purchases and refuses what would go over (409 with limit), changing nothing', async () => {
    const fay = await signUp(app.t);
    expect((await fay.api.post('/subscription/purchase-credits', { amount: 300 })).status).toBe(200);
    const before = await purchasesOf(fay);
    const res = await fay.api.post('/subscription/purchase-credits', { amount: 201 });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 500, message: expect.stringContaining('300 of 500') });
    expect(await purchasesOf(fay)).toEqual(before);
    expect((await fay.api.post('/subscription/purchase-credits', { amount: 200 })).status).toBe(200);
  });

  it('stops counting a hosted-page purchase that was never paid once its 24-hour hold lapses', async () => {
    const kim = await signUp(app.t);
    const res = await kim.api.post('/subscription/purchase-credits', { amount: 500 });
    expect((await kim.api.post('/subscription/purchase-credits', { amount: 10 })).status).toBe(409);
    const row = await app.t.db.selectFrom('credit_purchases').select(['created_at', 'pending_until']).where('id', '=', res.body.data.purchase_id).executeTakeFirstOrThrow();
    expect(row.pending_until.getTime() - row.created_at.getTime()).toBe(24 * 3_600_000);
    // the hold runs out (moved into the past rather than waiting a day)
    await app.t.db.updateTable('credit_purchases').set({ pending_until: new Date(Date.now() - 1000) }).where('id', '=', res.body.data.purchase_id).execute();
    expect((await kim.api.post('/subscription/purchase-credits', { amount: 10 })).status).toBe(200);
  });

  it('holds under concurrency: of six parallel purchases of 100, exactly five go through', async () => {
    const gus = await subscriber();
    const results = await Promise.all(Array.from({ length: 6 }, () => gus.api.post('/subscription/purchase-credits', { amount: 100 })));
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
