import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueJob } from '../../jobs/enqueue.js';
import { CRONTAB } from '../../jobs/runner.js';
import { addDays, startOfUtcDay } from '../../src/domain/utc-calendar.js';
import { completeTaskAt, daysAgo } from '../achievements/helpers.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp } from '../helpers/users.js';

// The scheduled jobs of issue #5 run in the worker like the cron would start them.

let app: BillingApp;

beforeAll(async () => {
  app = await startBillingApp({ worker: true });
});
afterAll(() => app?.close());

describe('scheduled jobs in the worker', () => {
  it('are in the crontab, in UTC: subscriptions hourly, credits and streaks at midnight', () => {
    expect(CRONTAB).toContain('* * * * subscription_check');
    expect(CRONTAB).toContain('0 0 * * * daily_credit_grant');
    expect(CRONTAB).toContain('0 0 * * * streak_calculate');
  });

  it('daily_credit_grant grants the day of its cron tick', async () => {
    const tick = startOfUtcDay(new Date());
    const pro = await signUp(app.t, { tier: 'pro' });
    await enqueueJob(app.t.db, { name: 'daily_credit_grant', payload: { _cron: { ts: tick.toISOString() } } });
    // the lot granted for the tick's day (not the spendable balance, which a real midnight would change)
    const dailyLots = () => app.t.db.selectFrom('credit_lots').select(['amount', 'expires_at']).where('user_id', '=', pro.id).where('kind', '=', 'daily').execute();
    await expect.poll(dailyLots, { timeout: 10_000 }).toEqual([{ amount: 10, expires_at: addDays(tick, 1) }]);
  });

  it('streak_calculate breaks streaks older than yesterday', async () => {
    const now = new Date();
    const ada = await signUp(app.t);
    await completeTaskAt(app.t, ada, daysAgo(3, now));
    await enqueueJob(app.t.db, { name: 'streak_calculate', payload: { now: now.toISOString() } });
    await expect
      .poll(async () => (await app.t.db.selectFrom('user_achievement_states').select('current_streak').where('user_id', '=', ada.id).executeTakeFirstOrThrow()).current_streak, { timeout: 10_000 })
      .toBe(0);
  });

  it('subscription_check expires a cancelled subscription whose paid time is over', async () => {
    const bob = await signUp(app.t);
    const res = await bob.api.post('/subscription/checkout');
    await app.checkout.payHostedPage(res.body.data.session_id, { createdOn: new Date(Date.now() - 40 * 86_400_000) });
    await bob.api.post('/subscription/cancel', {});
    await enqueueJob(app.t.db, { name: 'subscription_check', payload: {} });
    await expect.poll(async () => (await bob.api.get('/subscription')).body.data.status, { timeout: 10_000 }).toBe('expired');
    expect((await bob.api.get('/users/me')).body.data.tier).toBe('free');
  });
});
