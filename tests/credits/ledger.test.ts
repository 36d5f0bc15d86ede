import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeCredits, refundCredits, reserveCredits } from '../../src/domain/credits/ledger.js';
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

// The ledger's rules (FIFO, expiry, idempotent grants, refunds, CHECK constraints) are fast tests in
// tests/domain/credits/ledger.test.ts. Here: what needs a real pool (races) or HTTP.

describe('kickstart credits', () => {
  it('are granted once at sign-up through the API, and not again at the next sign-in', async () => {
    const u = await signUp(t);
    expect(await balanceOf(t, u.id)).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 0, total: 5 });
    await signUp(t, { email: u.email });
    expect(await ledgerOf(t, u.id)).toHaveLength(1);
  });
});

describe('races on a real pool', () => {
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

  it('refunds a charge once under concurrent refunds', async () => {
    const u = await signUp(t);
    const reserved = await t.db.transaction().execute((trx) => reserveCredits(trx, { userId: u.id, amount: 3, description: 'AI chat', operationRef: 'ai_chat:reserved' }));
    const refund = () => t.db.transaction().execute((trx) => refundCredits(trx, { userId: u.id, entryId: reserved.entryId, description: 'Refund: AI chat not completed' }));
    const outcomes = await Promise.all([refund(), refund(), refund()]);
    expect(outcomes.map((o) => o.refunded).sort()).toEqual([0, 0, 3]);
    expect(outcomes.every((o) => o.balanceAfter === 5)).toBe(true);
    expect((await ledgerOf(t, u.id)).filter((e) => e.operation_ref.startsWith('refund:'))).toHaveLength(1);
    await expectConsistentLedger(t, u.id, expect);
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
