import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dailyCreditGrant } from '../../jobs/tasks/daily-credit-grant.js';
import { consumeCredits, creditBalance } from '../../src/domain/credits/ledger.js';
import { grantPeriodCredits } from '../../src/domain/subscriptions/credits.js';
import { addDays, startOfUtcDay } from '../../src/domain/utc-calendar.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';

let app: BillingApp;

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

// Each test takes `now` once and derives the midnights it runs the job for from it.
const todayOf = (now: Date) => startOfUtcDay(now);

const runDaily = (now: Date) => dailyCreditGrant({ db: app.t.db, config: app.t.config }, { now: now.toISOString() });
const spend = (user: TestUser, amount: number) =>
  app.t.db.transaction().execute((trx) => consumeCredits(trx, { userId: user.id, amount, description: 'AI chat', operationRef: `test:${Math.random()}` }));
const ledgerOf = (user: TestUser, category: string) =>
  app.t.db.selectFrom('ai_credit_ledger').select(['type', 'amount', 'description']).where('user_id', '=', user.id).where('category', '=', category as never).orderBy('seq').execute();
const lotsOf = (user: TestUser, kind: string) => app.t.db.selectFrom('credit_lots').select(['amount', 'remaining', 'expires_at']).where('user_id', '=', user.id).where('kind', '=', kind as never).orderBy('created_at').execute();

describe('daily_credit_grant', () => {
  it('grants Pro users 10 credits at 00:00 UTC that expire at the next midnight, once per day', async () => {
    const today = todayOf(new Date());
    const pro = await signUp(app.t, { tier: 'pro' });
    const free = await signUp(app.t);
    await runDaily(today);
    // the lots themselves, not the spendable balance, which a real midnight during the test would change
    expect(await lotsOf(pro, 'daily')).toEqual([{ amount: 10, remaining: 10, expires_at: addDays(today, 1) }]);
    expect(await lotsOf(free, 'daily')).toEqual([]);
    // a second run the same day (a retry, a backfilled tick) grants nothing more
    await runDaily(new Date(today.getTime() + 30 * 60_000));
    expect(await ledgerOf(pro, 'daily')).toEqual([{ type: 'grant', amount: 10, description: 'Daily Pro credits' }]);
  });

  it('at the next midnight expires what is left of the day before’s and grants the new day’s', async () => {
    // Spending needs the credits spendable at the database's clock: the job runs for the coming
    // midnight (the cron's next tick), whose credits stay spendable for a day after it, and the
    // next run (a day later) finds them granted before its day, as at any real midnight.
    const first = addDays(todayOf(new Date()), 1);
    const pro = await signUp(app.t, { tier: 'pro' });
    await runDaily(first);
    await spend(pro, 3);
    expect((await creditBalance(app.t.db, pro.id)).daily).toBe(7);
    await runDaily(addDays(first, 1));
    expect(await ledgerOf(pro, 'daily')).toEqual([
      { type: 'grant', amount: 10, description: 'Daily Pro credits' },
      { type: 'deduct', amount: -7, description: 'Daily credits expired at 00:00 UTC' },
      { type: 'grant', amount: 10, description: 'Daily Pro credits' },
    ]);
    expect((await lotsOf(pro, 'daily')).map((l) => l.expires_at)).toEqual([addDays(first, 1), addDays(first, 2)]);
    expect((await creditBalance(app.t.db, pro.id)).daily).toBe(10);
  });

  it('only expires the leftovers of a user who is no longer Pro', async () => {
    const first = addDays(todayOf(new Date()), 1); // as above: the coming midnight, then the one after
    const former = await signUp(app.t, { tier: 'pro' });
    await runDaily(first);
    await app.t.db.updateTable('users').set({ tier: 'free' }).where('id', '=', former.id).execute();
    await runDaily(addDays(first, 1));
    expect((await ledgerOf(former, 'daily')).map((e) => e.amount)).toEqual([10, -10]);
    expect((await creditBalance(app.t.db, former.id)).daily).toBe(0);
  });
});

describe('monthly subscription credits', () => {
  // A payment also grants today's daily credits, which are spent first and expire at the next real
  // midnight; this app grants none, so what is spent comes from the subscription credits whenever
  // the test runs.
  let monthly: BillingApp;
  beforeAll(async () => {
    monthly = await startBillingApp({ env: { PRO_DAILY_CREDITS: '0' } });
  });
  afterAll(() => monthly?.close());

  const payment = (user: TestUser) =>
    monthly.checkout.event('payment_captured', { id: `pay_${Math.random().toString(36).slice(2)}`, amount: 999, metadata: { user_id: user.id, plan: 'pro_monthly' }, source: { id: 'src_1', type: 'card' } });
  const spendOf = (user: TestUser, amount: number) =>
    monthly.t.db.transaction().execute((trx) => consumeCredits(trx, { userId: user.id, amount, description: 'AI chat', operationRef: `test:${Math.random()}` }));
  const subscriptionLedgerOf = (user: TestUser) =>
    monthly.t.db.selectFrom('ai_credit_ledger').select(['amount', 'description']).where('user_id', '=', user.id).where('category', '=', 'subscription').orderBy('seq').execute();

  it('grants 100 per paid month and carries at most 50 unused subscription credits over', async () => {
    const ada = await signUp(monthly.t);
    await monthly.checkout.deliver(payment(ada));
    expect(await creditBalance(monthly.t.db, ada.id)).toMatchObject({ subscription: 100, daily: 0 });
    await spendOf(ada, 20);
    expect((await creditBalance(monthly.t.db, ada.id)).subscription).toBe(80);

    await monthly.checkout.deliver(payment(ada));
    expect((await creditBalance(monthly.t.db, ada.id)).subscription).toBe(150);
    await monthly.checkout.deliver(payment(ada));
    expect((await creditBalance(monthly.t.db, ada.id)).subscription).toBe(150);
    expect((await subscriptionLedgerOf(ada)).map((e) => e.amount)).toEqual([100, -30, 100, -100, 100]);
    expect((await subscriptionLedgerOf(ada))[1]!.description).toBe('Subscription credits above the carry-over of 50 expired');
  });

  it('carries everything over when less than 50 is left', async () => {
    const bob = await signUp(monthly.t);
    await monthly.checkout.deliver(payment(bob));
    await spendOf(bob, 80);
    await monthly.checkout.deliver(payment(bob));
    expect((await creditBalance(monthly.t.db, bob.id)).subscription).toBe(120);
    expect((await subscriptionLedgerOf(bob)).map((e) => e.amount)).toEqual([100, 100]);
  });

  it('carries over and grants once per period: a second settlement of the same period expires and grants nothing (issue 15, item 2)', async () => {
    const cy = await signUp(monthly.t);
    await monthly.checkout.deliver(payment(cy));
    const sub = await monthly.t.db.selectFrom('subscriptions').select(['id', 'current_period_start']).where('user_id', '=', cy.id).executeTakeFirstOrThrow();
    const periodRef = `${sub.id}:${sub.current_period_start.toISOString()}`;
    await monthly.t.db.transaction().execute((trx) => grantPeriodCredits(trx, { settings: monthly.t.config, userId: cy.id, periodRef }));
    expect((await creditBalance(monthly.t.db, cy.id)).subscription).toBe(100);
    expect((await subscriptionLedgerOf(cy)).map((e) => e.amount)).toEqual([100]);
  });
});
