import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dailyCreditGrant } from '../../jobs/tasks/daily-credit-grant.js';
import { consumeCredits, creditBalance } from '../../src/domain/credits/ledger.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';

let app: BillingApp;
const DAY = 86_400_000;
const today = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()));
const tomorrow = new Date(today.getTime() + DAY);

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

const runDaily = (now: Date) => dailyCreditGrant({ db: app.t.db, config: app.t.config }, { now: now.toISOString() });
const spend = (user: TestUser, amount: number) =>
  app.t.db.transaction().execute((trx) => consumeCredits(trx, { userId: user.id, amount, description: 'AI chat', operationRef: `test:${Math.random()}` }));
const ledgerOf = (user: TestUser, category: string) =>
  app.t.db.selectFrom('ai_credit_ledger').select(['type', 'amount', 'description']).where('user_id', '=', user.id).where('category', '=', category as never).orderBy('seq').execute();
const lotsOf = (user: TestUser, kind: string) => app.t.db.selectFrom('credit_lots').select(['amount', 'remaining', 'expires_at']).where('user_id', '=', user.id).where('kind', '=', kind as never).orderBy('created_at').execute();

describe('daily_credit_grant', () => {
  it('grants Pro users 10 credits at 00:00 UTC that expire at the next midnight, once per day', async () => {
    const pro = await signUp(app.t, { tier: 'pro' });
    const free = await signUp(app.t);
    await runDaily(today);
    expect((await creditBalance(app.t.db, pro.id)).daily).toBe(10);
    expect(await lotsOf(pro, 'daily')).toEqual([{ amount: 10, remaining: 10, expires_at: tomorrow }]);
    expect((await creditBalance(app.t.db, free.id)).daily).toBe(0);
    // a second run the same day (a retry, a backfilled tick) grants nothing more
    await runDaily(new Date(today.getTime() + 30 * 60_000));
    expect(await ledgerOf(pro, 'daily')).toEqual([{ type: 'grant', amount: 10, description: 'Daily Pro credits' }]);
  });

  it('at the next midnight expires what is left of yesterday’s and grants today’s', async () => {
    const pro = await signUp(app.t, { tier: 'pro' });
    await runDaily(today);
    await spend(pro, 3);
    expect((await creditBalance(app.t.db, pro.id)).daily).toBe(7);
    await runDaily(tomorrow);
    expect(await ledgerOf(pro, 'daily')).toEqual([
      { type: 'grant', amount: 10, description: 'Daily Pro credits' },
      { type: 'deduct', amount: -7, description: 'Daily credits expired at 00:00 UTC' },
      { type: 'grant', amount: 10, description: 'Daily Pro credits' },
    ]);
    expect((await lotsOf(pro, 'daily')).map((l) => l.expires_at)).toEqual([tomorrow, new Date(tomorrow.getTime() + DAY)]);
    expect((await creditBalance(app.t.db, pro.id)).daily).toBe(10);
  });

  it('only expires the leftovers of a user who is no longer Pro', async () => {
    const former = await signUp(app.t, { tier: 'pro' });
    await runDaily(today);
    await app.t.db.updateTable('users').set({ tier: 'free' }).where('id', '=', former.id).execute();
    await runDaily(tomorrow);
    expect((await ledgerOf(former, 'daily')).map((e) => e.amount)).toEqual([10, -10]);
    expect((await creditBalance(app.t.db, former.id)).daily).toBe(0);
  });
});

describe('monthly subscription credits', () => {
  const payment = (user: TestUser) =>
    app.checkout.event('payment_captured', { id: `pay_${Math.random().toString(36).slice(2)}`, amount: 999, metadata: { user_id: user.id, plan: 'pro_monthly' }, source: { id: 'src_1', type: 'card' } });

  it('grants 100 per paid month and carries at most 50 unused subscription credits over', async () => {
    const ada = await signUp(app.t);
    await app.checkout.deliver(payment(ada));
    expect(await creditBalance(app.t.db, ada.id)).toMatchObject({ subscription: 100, daily: 10 });
    await spend(ada, 30); // 10 daily first, then 20 subscription
    expect((await creditBalance(app.t.db, ada.id)).subscription).toBe(80);

    await app.checkout.deliver(payment(ada));
    expect((await creditBalance(app.t.db, ada.id)).subscription).toBe(150);
    await app.checkout.deliver(payment(ada));
    expect((await creditBalance(app.t.db, ada.id)).subscription).toBe(150);
    expect((await ledgerOf(ada, 'subscription')).map((e) => e.amount)).toEqual([100, -30, 100, -100, 100]);
    expect((await ledgerOf(ada, 'subscription'))[1]!.description).toBe('Subscription credits above the carry-over of 50 expired');
  });

  it('carries everything over when less than 50 is left', async () => {
    const bob = await signUp(app.t);
    await app.checkout.deliver(payment(bob));
    await spend(bob, 90); // 10 daily + 80 subscription
    await app.checkout.deliver(payment(bob));
    expect((await creditBalance(app.t.db, bob.id)).subscription).toBe(120);
    expect((await ledgerOf(bob, 'subscription')).map((e) => e.amount)).toEqual([100, 100]);
  });
});
