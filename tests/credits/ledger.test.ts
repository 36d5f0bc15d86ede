import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeCredits, creditBalance, expireCredits, grantCredits, refundCredits, reserveCredits } from '../../src/domain/credits/ledger.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { balanceOf, expectConsistentLedger, giveCredits, ledgerOf } from '../helpers/credits.js';
import { signUp, type TestUser } from '../helpers/users.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const consume = (userId: string, amount: number, ref = `test:consume:${Math.random()}`) =>
  t.db.transaction().execute((trx) => consumeCredits(trx, { userId, amount, description: 'Test charge', operationRef: ref }));
const lotsOf = (userId: string) => t.db.selectFrom('credit_lots').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();

describe('kickstart credits', () => {
  it('grants 5 once at sign-up, with a ledger entry', async () => {
    const u = await signUp(t);
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 0, total: 5 });
    const [entry, ...rest] = await ledgerOf(t, u.id);
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({ type: 'grant', category: 'kickstart', amount: 5, balance_after: 5, operation_ref: `kickstart:${u.id}` });

    // signing in again grants nothing
    await signUp(t, { email: u.email });
    expect((await balanceOf(t, u.id)).kickstart).toBe(5);
  });

  it('cannot be granted twice, whatever the reference', async () => {
    const u = await signUp(t);
    const again = await giveCredits(t, u.id, 'kickstart', 5, { ref: 'another-ref' });
    expect(again).toEqual({ granted: false, balanceAfter: 5 });
    await expect(t.db.insertInto('credit_lots').values({ user_id: u.id, kind: 'kickstart', amount: 5, remaining: 5 }).execute()).rejects.toThrow(/credit_lots_one_kickstart_key/);
    expect(await ledgerOf(t, u.id)).toHaveLength(1);
  });
});

describe('grantCredits', () => {
  it('is idempotent per operation reference, so a job may run twice', async () => {
    const u = await signUp(t);
    expect(await giveCredits(t, u.id, 'daily', 10, { ref: 'daily_grant:2026-01-20' })).toEqual({ granted: true, balanceAfter: 15 });
    expect(await giveCredits(t, u.id, 'daily', 10, { ref: 'daily_grant:2026-01-20' })).toEqual({ granted: false, balanceAfter: 15 });
    await expectConsistentLedger(t, u.id, expect);
  });

  it('needs a transaction and a positive amount', async () => {
    const u = await signUp(t);
    await expect(grantCredits(t.db, { userId: u.id, kind: 'purchased', amount: 1, expiresAt: null, description: 'x', operationRef: 'x' })).rejects.toThrow(/transaction/);
    await expect(giveCredits(t, u.id, 'purchased', 0)).rejects.toThrow(/positive/);
  });
});

describe('consumeCredits', () => {
  it('spends daily, then subscription, then purchased, and kickstart last', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 2);
    await giveCredits(t, u.id, 'subscription', 2);
    await giveCredits(t, u.id, 'daily', 2, { expiresAt: new Date(Date.now() + 3_600_000) });
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 5, daily: 2, subscription: 2, purchased: 2, total: 11 });

    expect(await consume(u.id, 1)).toEqual({ balanceAfter: 10 });
    expect(await balanceOf(t, u.id)).toMatchObject({ daily: 1, subscription: 2, purchased: 2, kickstart: 5 });
    await consume(u.id, 2);
    expect(await balanceOf(t, u.id)).toMatchObject({ daily: 0, subscription: 1, purchased: 2, kickstart: 5 });
    await consume(u.id, 2);
    expect(await balanceOf(t, u.id)).toMatchObject({ daily: 0, subscription: 0, purchased: 1, kickstart: 5 });
    await consume(u.id, 3);
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 3, daily: 0, subscription: 0, purchased: 0, total: 3 });

    const entries = await ledgerOf(t, u.id);
    const charges = entries.filter((e) => e.type === 'deduct');
    expect(charges.map((e) => e.category)).toEqual(['ai', 'ai', 'ai', 'ai']);
    expect(charges[3]!.allocations.map((a) => [a.kind, a.amount])).toEqual([
      ['purchased', 1],
      ['kickstart', 2],
    ]);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('takes the oldest lot of a kind first', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 3, { ref: 'old' });
    await giveCredits(t, u.id, 'purchased', 3, { ref: 'new' });
    await consume(u.id, 4);
    const purchased = (await lotsOf(u.id)).filter((l) => l.kind === 'purchased');
    expect(purchased.map((l) => l.remaining)).toEqual([0, 2]);
  });

  it('skips lots past their expiry, even before their expiry entry is written', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'daily', 4, { expiresAt: new Date(Date.now() - 1000) });
    await giveCredits(t, u.id, 'daily', 2, { expiresAt: new Date(Date.now() + 3_600_000) });
    expect(await balanceOf(t, u.id)).toMatchObject({ daily: 2, total: 7 });
    await consume(u.id, 3);
    const lots = await lotsOf(u.id);
    expect(lots.find((l) => l.kind === 'daily' && l.amount === 4)!.remaining).toBe(4);
    expect(await balanceOf(t, u.id)).toMatchObject({ daily: 0, kickstart: 4, total: 4 });
  });

  it('refuses more than the balance with 402 and charges nothing', async () => {
    const u = await signUp(t);
    const err = await consume(u.id, 6).catch((e) => e);
    expect(err).toMatchObject({ code: 'INSUFFICIENT_CREDITS', extras: { credits_required: 6, credits_available: 5 } });
    expect((await balanceOf(t, u.id)).total).toBe(5);
    expect(await ledgerOf(t, u.id)).toHaveLength(1);
  });

  it('never overdraws under concurrent charges', async () => {
    const u = await signUp(t);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => consume(u.id, 1)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(results.filter((r) => r.status === 'rejected' && (r.reason as { code: string }).code === 'INSUFFICIENT_CREDITS')).toHaveLength(15);
    expect((await balanceOf(t, u.id)).total).toBe(0);
    const balances = (await ledgerOf(t, u.id)).map((e) => e.balance_after);
    expect(balances).toEqual([5, 4, 3, 2, 1, 0]);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('charges two requests that share a (client-chosen) request id in their reference', async () => {
    const u = await signUp(t);
    await consume(u.id, 1, 'ai_chat:same');
    await consume(u.id, 1, 'ai_chat:same');
    expect((await balanceOf(t, u.id)).total).toBe(3);
  });

  it('is backed by CHECK constraints: no negative lot or balance', async () => {
    const u = await signUp(t);
    await expect(t.db.updateTable('credit_lots').set({ remaining: -1 }).where('user_id', '=', u.id).execute()).rejects.toThrow(/check constraint/);
    await expect(
      t.db.insertInto('ai_credit_ledger').values({ user_id: u.id, type: 'deduct', category: 'ai', amount: -1, balance_after: -1, description: 'x', operation_ref: 'x', created_at: new Date(), updated_at: new Date() }).execute(),
    ).rejects.toThrow(/check constraint/);
  });
});

describe('reserveCredits and refundCredits', () => {
  const reserve = (userId: string, amount: number) =>
    t.db.transaction().execute((trx) => reserveCredits(trx, { userId, amount, description: 'AI chat', operationRef: 'ai_chat:reserved' }));
  const refund = (userId: string, entryId: string) => t.db.transaction().execute((trx) => refundCredits(trx, { userId, entryId, description: 'Refund: AI chat not completed' }));

  it('returns a charge to the lots it came from, once, with a grant entry refund:<entry id>', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'daily', 2, { expiresAt: new Date(Date.now() + 3_600_000) });
    const reserved = await reserve(u.id, 3);
    expect(reserved.balanceAfter).toBe(4);
    expect(await balanceOf(t, u.id)).toMatchObject({ daily: 0, kickstart: 4 });

    expect(await refund(u.id, reserved.entryId)).toEqual({ refunded: 3, balanceAfter: 7 });
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 5, daily: 2, subscription: 0, purchased: 0, total: 7 });
    const last = (await ledgerOf(t, u.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'grant', category: 'ai', amount: 3, balance_after: 7, operation_ref: `refund:${reserved.entryId}`, lot_id: null });
    expect(last.allocations.map((a) => [a.kind, a.amount])).toEqual([
      ['daily', 2],
      ['kickstart', 1],
    ]);

    expect(await refund(u.id, reserved.entryId)).toEqual({ refunded: 0, balanceAfter: 7 });
    expect(await Promise.all([refund(u.id, reserved.entryId), refund(u.id, reserved.entryId)])).toEqual([
      { refunded: 0, balanceAfter: 7 },
      { refunded: 0, balanceAfter: 7 },
    ]);
    expect((await ledgerOf(t, u.id)).filter((e) => e.operation_ref.startsWith('refund:'))).toHaveLength(1);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('does not return credits whose lot expired meanwhile (they would have expired unspent)', async () => {
    const u = await signUp(t);
    const daily = await giveCredits(t, u.id, 'daily', 2, { expiresAt: new Date(Date.now() + 3_600_000) });
    expect(daily.granted).toBe(true);
    const reserved = await reserve(u.id, 3);
    // midnight passes while the work runs
    await t.db.updateTable('credit_lots').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', u.id).where('kind', '=', 'daily').execute();
    expect(await refund(u.id, reserved.entryId)).toEqual({ refunded: 1, balanceAfter: 5 });
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 0, total: 5 });
    await expectConsistentLedger(t, u.id, expect);
  });

  it('refunds only the user’s own AI charges', async () => {
    const u = await signUp(t);
    const other = await signUp(t);
    const reserved = await reserve(u.id, 1);
    await expect(refund(other.id, reserved.entryId)).rejects.toThrow(/no AI charge/);
    const [kickstart] = await ledgerOf(t, u.id);
    await expect(refund(u.id, kickstart!.id)).rejects.toThrow(/no AI charge/);
    expect((await balanceOf(t, u.id)).total).toBe(4);
  });
});

describe('expireCredits', () => {
  it('expires daily credits granted before a day, with one entry, once per reference', async () => {
    const u = await signUp(t);
    const yesterday = await giveCredits(t, u.id, 'daily', 10, { expiresAt: new Date(Date.now() - 1000) });
    expect(yesterday.granted).toBe(true);
    const expire = () =>
      t.db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'daily', olderThan: new Date(Date.now() + 1000), description: 'Unused daily credits expired', operationRef: 'daily_expiry:2026-01-20' }));
    expect(await expire()).toEqual({ expired: 10, balanceAfter: 5 });
    expect(await expire()).toEqual({ expired: 0, balanceAfter: 5 });
    const last = (await ledgerOf(t, u.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'deduct', category: 'daily', amount: -10, balance_after: 5, operation_ref: 'daily_expiry:2026-01-20' });
  });

  it('keeps the newest credits up to `keep` (the carry-over cap) and expires the oldest', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'subscription', 40, { ref: 'month-1' });
    await giveCredits(t, u.id, 'subscription', 30, { ref: 'month-2' });
    const r = await t.db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'subscription', keep: 50, description: 'Carry-over cap', operationRef: 'carryover:2026-02' }));
    expect(r).toEqual({ expired: 20, balanceAfter: 55 });
    expect((await lotsOf(u.id)).filter((l) => l.kind === 'subscription').map((l) => l.remaining)).toEqual([20, 30]);
    await expectConsistentLedger(t, u.id, expect);
  });

  it('leaves lots granted after olderThan alone', async () => {
    const u = await signUp(t);
    await giveCredits(t, u.id, 'daily', 10, { expiresAt: new Date(Date.now() + 3_600_000) });
    const r = await t.db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'daily', olderThan: new Date(Date.now() - 60_000), description: 'x', operationRef: 'daily_expiry:x' }));
    expect(r.expired).toBe(0);
    expect((await creditBalance(t.db, u.id)).daily).toBe(10);
  });
});

describe('getCreditBalance and listCreditHistory', () => {
  let u: TestUser;
  beforeAll(async () => {
    u = await signUp(t);
    await giveCredits(t, u.id, 'purchased', 10, { ref: 'purchase:1' });
    await consume(u.id, 3, 'ai_chat:1');
  });

  it('returns the balance by kind', async () => {
    const res = await u.api.get('/credits/balance');
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 7, total: 12 });
  });

  it('lists the ledger newest first in the frontend shape, paginated', async () => {
    const res = await u.api.get('/credits/history');
    expect(res.status).toBe(200);
    expect(res.body.data.map((e: any) => [e.type, e.category, e.amount, e.balance_after])).toEqual([
      ['deduct', 'ai', -3, 12],
      ['grant', 'purchase', 10, 15],
      ['grant', 'kickstart', 5, 5],
    ]);
    expect(res.body.data[0]).toMatchObject({ user_id: u.id, description: 'Test charge', operation_ref: 'ai_chat:1' });
    expect(res.body.pagination).toEqual({ offset: 0, limit: 25, total: 3, has_more: false });
    const page = await u.api.get('/credits/history', { query: { offset: 1, limit: 1 } });
    expect(page.body.data.map((e: any) => e.amount)).toEqual([10]);
    expect(page.body.pagination).toEqual({ offset: 1, limit: 1, total: 3, has_more: true });
  });

  it('shows only the caller’s entries', async () => {
    const other = await signUp(t);
    const res = await other.api.get('/credits/history');
    expect(res.body.data.map((e: any) => e.user_id)).toEqual([other.id]);
  });

  it('needs a token and valid paging', async () => {
    expect((await t.api.get('/credits/balance')).status).toBe(401);
    expect((await t.api.get('/credits/history')).status).toBe(401);
    expect((await u.api.get('/credits/history', { query: { limit: 101 } })).status).toBe(400);
  });
});

describe('getAiCredits', () => {
  it('gives the AI view of the balance with the next UTC midnight and the tier', async () => {
    const u = await signUp(t, { tier: 'pro' });
    await giveCredits(t, u.id, 'daily', 10, { expiresAt: new Date(Date.now() + 3_600_000) });
    const res = await u.api.get('/ai/credits');
    expect(res.status).toBe(200);
    expect(res.body.data.balance).toEqual({ daily_free: 10, subscription: 0, purchased: 0, kickstart: 5, total: 15 });
    expect(res.body.data.tier).toBe('pro');
    const reset = new Date(res.body.data.daily_reset_at);
    expect(reset.getUTCHours() + reset.getUTCMinutes() + reset.getUTCSeconds()).toBe(0);
    expect(reset.getTime() - Date.now()).toBeGreaterThan(0);
    expect(reset.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect((await t.api.get('/ai/credits')).status).toBe(401);
  });
});
