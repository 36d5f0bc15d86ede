import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionCheck } from '../../jobs/tasks/subscription-check.js';
import type { WebhookEvent } from '../fakes/checkout.js';
import { startBillingApp, type BillingApp } from '../helpers/billing.js';
import { signUp, type TestUser } from '../helpers/users.js';

// Renewals that never conclude (the watchdog), and charges Checkout.com refuses outright. The hourly
// job runs at chosen times; webhooks arrive only when a test delivers them. The job also charges
// other tests' renewals that are due at those times, so every assertion is about one user, and each
// test sets its charges' outcomes for its own user only.

let app: BillingApp;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

beforeAll(async () => {
  app = await startBillingApp();
});
afterAll(() => app?.close());

const runCheck = (now: Date) => subscriptionCheck({ db: app.t.db, config: app.t.config, checkout: app.t.deps.checkout, log: app.t.deps.log }, { now: now.toISOString() });
const at = (d: Date, ms: number) => new Date(d.getTime() + ms);

/** Pays at a hosted page (the card is stored); returns the end of the paid month. */
async function subscribe(user: TestUser): Promise<Date> {
  const res = await user.api.post('/subscription/checkout');
  await app.checkout.payHostedPage(res.body.data.session_id, { sourceId: `src_${user.id.slice(0, 8)}` });
  return (await rowOf(user)).current_period_end;
}
const rowOf = (user: TestUser) =>
  app.t.db
    .selectFrom('subscriptions')
    .select(['status', 'failed_payment_count', 'current_period_start', 'current_period_end', 'last_charge_attempt_at', 'charge_outcome_due_at'])
    .where('user_id', '=', user.id)
    .executeTakeFirstOrThrow();
const subscriptionOf = async (user: TestUser) => (await user.api.get('/subscription')).body.data;
const chargesFor = (user: TestUser) => app.checkout.chargesTo().filter((r) => r.body?.metadata?.user_id === user.id);
/** The user's webhooks Checkout.com has queued, taken out of the queue: they never arrive unless delivered. */
const intercept = (user: TestUser): WebhookEvent[] => app.checkout.discard((e) => e.data.metadata?.user_id === user.id);
const failures = async (user: TestUser) =>
  (await user.api.get('/activity', { query: { entity_type: 'subscription' } })).body.data
    .filter((e: { action: string }) => e.action === 'subscription_payment_failed' || e.action === 'subscription_grace_started')
    .map((e: { extra_data: { reason: string } }) => e.extra_data.reason)
    .reverse();

describe('the renewal watchdog', () => {
  it('counts a renewal with no outcome 24 h after it was sent as a failed payment: past_due → grace → expired without a single webhook', async () => {
    const ada = await signUp(app.t);
    const periodEnd = await subscribe(ada);
    // Checkout.com accepts each charge as Pending; no webhook ever follows.
    app.checkout.nextChargesFor(ada.id, 'pending', 'pending', 'pending');

    const sent = at(periodEnd, 5 * MINUTE);
    await runCheck(sent);
    expect(chargesFor(ada)).toHaveLength(1);
    expect(await rowOf(ada)).toMatchObject({ status: 'active', failed_payment_count: 0, last_charge_attempt_at: sent, charge_outcome_due_at: at(sent, DAY) });

    // still waiting a minute before the 24 h are up: nothing changes, nothing is charged again
    await runCheck(at(sent, DAY - MINUTE));
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'pro', status: 'active' });
    expect(chargesFor(ada)).toHaveLength(1);

    // 24 h: the first failure; the retry, due 24 h after the last attempt, goes out in the same run
    await runCheck(at(sent, DAY));
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'pro', status: 'past_due', grace_period_end: null });
    expect(await rowOf(ada)).toMatchObject({ failed_payment_count: 1, last_charge_attempt_at: at(sent, DAY), charge_outcome_due_at: at(sent, 2 * DAY) });
    expect(chargesFor(ada)).toHaveLength(2);

    await runCheck(at(sent, 2 * DAY));
    expect(await rowOf(ada)).toMatchObject({ status: 'past_due', failed_payment_count: 2 });
    expect(chargesFor(ada)).toHaveLength(3);

    // the third attempt unanswered: the 3-day grace period, and no further charge
    const third = at(sent, 3 * DAY);
    await runCheck(third);
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'pro', status: 'grace', grace_period_end: at(third, 3 * DAY).toISOString() });
    expect(await rowOf(ada)).toMatchObject({ failed_payment_count: 3, charge_outcome_due_at: null });
    await runCheck(at(third, DAY));
    expect(chargesFor(ada)).toHaveLength(3);

    await runCheck(at(third, 3 * DAY + MINUTE));
    expect(await subscriptionOf(ada)).toMatchObject({ tier: 'free', status: 'expired' });
    expect((await ada.api.get('/users/me')).body.data.tier).toBe('free');
    // three attempts, three idempotency keys: each a charge of its own
    expect(new Set(chargesFor(ada).map((r) => r.headers['cko-idempotency-key'])).size).toBe(3);
    expect(chargesFor(ada).map((r) => r.body.metadata.renewal_attempt)).toEqual(['1', '2', '3']);
    expect(await failures(ada)).toEqual([1, 2, 3].map((n) => `no outcome from Checkout.com within 24 hours of renewal attempt ${n}`));
    expect(intercept(ada)).toEqual([]); // and indeed none was ever queued
  });

  it('gives a renewal that could not be sent at all (Checkout.com unreachable) the same 24 h, counted from the first try', async () => {
    const bob = await signUp(app.t);
    const periodEnd = await subscribe(bob);
    app.checkout.nextChargesFor(bob.id, ...Array<'unavailable'>(30).fill('unavailable'));
    const first = at(periodEnd, MINUTE);
    for (let h = 0; h < 24; h++) await runCheck(at(first, h * HOUR));
    // tried every hour with the same idempotency key, the outcome still due at the first try + 24 h
    expect(new Set(chargesFor(bob).map((r) => r.headers['cko-idempotency-key'])).size).toBe(1);
    expect(await rowOf(bob)).toMatchObject({ status: 'active', failed_payment_count: 0, last_charge_attempt_at: null, charge_outcome_due_at: at(first, DAY) });

    await runCheck(at(first, DAY));
    expect(await rowOf(bob)).toMatchObject({ status: 'past_due', failed_payment_count: 1 });
    // the next attempt (a new key) is tried at once, and has 24 h of its own
    const keys = chargesFor(bob).map((r) => r.headers['cko-idempotency-key']);
    expect(new Set(keys).size).toBe(2);
    expect((await rowOf(bob)).charge_outcome_due_at).toEqual(at(first, 2 * DAY));
  });

  it('does not count a late decline of an attempt it already counted; a late capture still renews', async () => {
    const cleo = await signUp(app.t);
    const periodEnd = await subscribe(cleo);
    app.checkout.nextChargesFor(cleo.id, 'decline', 'approve');

    const sent = at(periodEnd, MINUTE);
    await runCheck(sent);
    const [lateDecline] = intercept(cleo); // attempt 1's decline is delayed
    await runCheck(at(sent, DAY)); // counted by the watchdog; attempt 2 goes out and is approved
    const [capture] = intercept(cleo);
    expect(await rowOf(cleo)).toMatchObject({ status: 'past_due', failed_payment_count: 1 });
    expect(lateDecline!.data.metadata).toMatchObject({ renewal_attempt: '1', renewal_period_end: periodEnd.toISOString() });

    // attempt 1's decline finally arrives: already counted, so it changes nothing
    expect((await app.checkout.deliver(lateDecline!)).body).toEqual({ received: true, processed: false, reason: 'ignored' });
    expect(await rowOf(cleo)).toMatchObject({ status: 'past_due', failed_payment_count: 1 });

    // attempt 2's capture renews from where the paid month ended
    expect((await app.checkout.deliver(capture!)).body.processed).toBe(true);
    expect(await rowOf(cleo)).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: periodEnd, charge_outcome_due_at: null, last_charge_attempt_at: null });
  });

  it('counts a decline that arrives in time once, and stops waiting for that attempt', async () => {
    const dan = await signUp(app.t);
    const periodEnd = await subscribe(dan);
    app.checkout.nextChargesFor(dan.id, 'decline', 'pending');
    const sent = at(periodEnd, MINUTE);
    await runCheck(sent);
    const [decline] = intercept(dan);
    await app.checkout.deliver({ ...decline!, created_on: at(sent, HOUR).toISOString() });
    expect(await rowOf(dan)).toMatchObject({ status: 'past_due', failed_payment_count: 1, charge_outcome_due_at: null });
    // 24 h after the attempt: the watchdog has nothing to count; the retry is due and goes out
    await runCheck(at(sent, DAY));
    expect(await rowOf(dan)).toMatchObject({ status: 'past_due', failed_payment_count: 1, charge_outcome_due_at: at(sent, 2 * DAY) });
    expect(chargesFor(dan)).toHaveLength(2);
    expect(await failures(dan)).toEqual(['Insufficient Funds']);
  });
});

describe('charges Checkout.com refuses', () => {
  it('counts a 422 (no payment made) as a failed payment at once, and tries again 24 h later as the next attempt', async () => {
    const eve = await signUp(app.t);
    const periodEnd = await subscribe(eve);
    app.checkout.nextChargesFor(eve.id, 'invalid', 'approve');
    const sent = at(periodEnd, MINUTE);
    await runCheck(sent);
    expect(await rowOf(eve)).toMatchObject({ status: 'past_due', failed_payment_count: 1, charge_outcome_due_at: null, last_charge_attempt_at: sent });
    expect(await failures(eve)).toEqual(['Checkout.com refused the charge: Checkout.com /payments answered 422: source_id_invalid']);

    // not asked again every hour
    await runCheck(at(sent, HOUR));
    await runCheck(at(sent, 2 * HOUR));
    expect(chargesFor(eve)).toHaveLength(1);

    await runCheck(at(sent, DAY));
    const keys = chargesFor(eve).map((r) => r.headers['cko-idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[1]).not.toBe(keys[0]);
    for (const event of intercept(eve)) await app.checkout.deliver(event);
    expect(await rowOf(eve)).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: periodEnd });
  });

  it.each(['unavailable', 'rate_limited'] as const)('retries a charge answered %s next hour with the same idempotency key, counting no failure', async (outcome) => {
    const fay = await signUp(app.t);
    const periodEnd = await subscribe(fay);
    app.checkout.nextChargesFor(fay.id, outcome, 'approve');
    const sent = at(periodEnd, MINUTE);
    await runCheck(sent);
    expect(await rowOf(fay)).toMatchObject({ status: 'active', failed_payment_count: 0, last_charge_attempt_at: null });
    await runCheck(at(sent, HOUR));
    const keys = chargesFor(fay).map((r) => r.headers['cko-idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(keys[0]);
    for (const event of intercept(fay)) await app.checkout.deliver(event);
    expect(await rowOf(fay)).toMatchObject({ status: 'active', failed_payment_count: 0, current_period_start: periodEnd, charge_outcome_due_at: null });
  });
});
