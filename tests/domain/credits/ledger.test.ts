import { describe, expect } from 'vitest';
import type { Database } from '../../../db/index.js';
import type { CreditKind } from '../../../db/schema/index.js';
import { consumeCredits, creditBalance, expireCredits, grantCredits, refundCredits, reserveCredits } from '../../../src/domain/credits/ledger.js';
import { domainTest as test, newUser } from '../../helpers/domain-tx.js';
import { expectConsistentLedger } from '../../helpers/credits.js';

// The credit ledger's rules (FR-037..FR-041) on the domain directly: FIFO by kind then age,
// expiry, idempotent grants, refunds to the lots a charge came from. tests/credits/ledger.test.ts
// keeps the races (concurrent charges and refunds on a real pool) and the HTTP reads.

const give = (db: Database, userId: string, kind: CreditKind, amount: number, opts: { expiresAt?: Date | null; ref?: string } = {}) =>
  db.transaction().execute((trx) =>
    grantCredits(trx, { userId, kind, amount, expiresAt: opts.expiresAt ?? null, description: `Test ${kind} credits`, operationRef: opts.ref ?? `test:${kind}:${Math.random().toString(36).slice(2)}` }),
  );
const consume = (db: Database, userId: string, amount: number, ref = `test:consume:${Math.random()}`) =>
  db.transaction().execute((trx) => consumeCredits(trx, { userId, amount, description: 'Test charge', operationRef: ref }));
const reserve = (db: Database, userId: string, amount: number) =>
  db.transaction().execute((trx) => reserveCredits(trx, { userId, amount, description: 'AI chat', operationRef: 'ai_chat:reserved' }));
const refund = (db: Database, userId: string, entryId: string) => db.transaction().execute((trx) => refundCredits(trx, { userId, entryId, description: 'Refund: AI chat not completed' }));
const balanceOf = (db: Database, userId: string) => creditBalance(db, userId);
const ledgerOf = (db: Database, userId: string) => db.selectFrom('ai_credit_ledger').selectAll().where('user_id', '=', userId).orderBy('seq').execute();
const lotsOf = (db: Database, userId: string) => db.selectFrom('credit_lots').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
const inAnHour = () => new Date(Date.now() + 3_600_000);


describe('kickstart credits', () => {
  test('a new account gets 5 once, with one ledger entry; signing in again grants nothing', async ({ db }) => {
    const u = await newUser(db);
    expect(await balanceOf(db, u.id)).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 0, total: 5 });
    const [entry, ...rest] = await ledgerOf(db, u.id);
    expect(rest).toHaveLength(0);
    expect(entry).toMatchObject({ type: 'grant', category: 'kickstart', amount: 5, balance_after: 5, operation_ref: `kickstart:${u.id}` });
    await newUser(db, { email: u.email });
    expect((await balanceOf(db, u.id)).kickstart).toBe(5);
  });

  test('cannot be granted twice, whatever the reference', async ({ db }) => {
    const u = await newUser(db);
    expect(await give(db, u.id, 'kickstart', 5, { ref: 'another-ref' })).toEqual({ granted: false, balanceAfter: 5 });
    await expect(db.insertInto('credit_lots').values({ user_id: u.id, kind: 'kickstart', amount: 5, remaining: 5 }).execute()).rejects.toThrow(/credit_lots_one_kickstart_key/);
    expect(await ledgerOf(db, u.id)).toHaveLength(1);
  });
});

describe('grantCredits', () => {
  test('is idempotent per operation reference, so a job may run twice', async ({ db }) => {
    const u = await newUser(db);
    expect(await give(db, u.id, 'daily', 10, { ref: 'daily_grant:2026-01-20' })).toEqual({ granted: true, balanceAfter: 15 });
    expect(await give(db, u.id, 'daily', 10, { ref: 'daily_grant:2026-01-20' })).toEqual({ granted: false, balanceAfter: 15 });
    await expectConsistentLedger({ db }, u.id, expect);
  });

  test('needs a transaction and a positive amount', async ({ db }) => {
    const u = await newUser(db);
    await expect(grantCredits(db, { userId: u.id, kind: 'purchased', amount: 1, expiresAt: null, description: 'x', operationRef: 'x' })).rejects.toThrow(/transaction/);
    await expect(give(db, u.id, 'purchased', 0)).rejects.toThrow(/positive/);
  });
});

describe('consumeCredits', () => {
  test('spends daily, then subscription, then purchased, and kickstart last', async ({ db }) => {
    const u = await newUser(db);
    await give(db, u.id, 'purchased', 2);
    await give(db, u.id, 'subscription', 2);
    await give(db, u.id, 'daily', 2, { expiresAt: inAnHour() });
    expect(await balanceOf(db, u.id)).toEqual({ kickstart: 5, daily: 2, subscription: 2, purchased: 2, total: 11 });
    expect(await consume(db, u.id, 1)).toEqual({ balanceAfter: 10 });
    expect(await balanceOf(db, u.id)).toMatchObject({ daily: 1, subscription: 2, purchased: 2, kickstart: 5 });
    await consume(db, u.id, 2);
    expect(await balanceOf(db, u.id)).toMatchObject({ daily: 0, subscription: 1, purchased: 2, kickstart: 5 });
    await consume(db, u.id, 2);
    expect(await balanceOf(db, u.id)).toMatchObject({ daily: 0, subscription: 0, purchased: 1, kickstart: 5 });
    await consume(db, u.id, 3);
    expect(await balanceOf(db, u.id)).toEqual({ kickstart: 3, daily: 0, subscription: 0, purchased: 0, total: 3 });
    const charges = (await ledgerOf(db, u.id)).filter((e) => e.type === 'deduct');
    expect(charges.map((e) => e.category)).toEqual(['ai', 'ai', 'ai', 'ai']);
    expect(charges[3]!.allocations.map((a) => [a.kind, a.amount])).toEqual([
      ['purchased', 1],
      ['kickstart', 2],
    ]);
    await expectConsistentLedger({ db }, u.id, expect);
  });

  test('takes the oldest lot of a kind first', async ({ db }) => {
    const u = await newUser(db);
    await give(db, u.id, 'purchased', 3, { ref: 'old' });
    // One test runs in one transaction, where now() stands still: date the older lot back.
    await db.updateTable('credit_lots').set({ created_at: new Date(Date.now() - 60_000) }).where('user_id', '=', u.id).where('kind', '=', 'purchased').execute();
    await give(db, u.id, 'purchased', 3, { ref: 'new' });
    await consume(db, u.id, 4);
    const purchased = (await lotsOf(db, u.id)).filter((l) => l.kind === 'purchased');
    expect(purchased.map((l) => l.remaining)).toEqual([0, 2]);
  });

  test('skips lots past their expiry, even before their expiry entry is written', async ({ db }) => {
    const u = await newUser(db);
    await give(db, u.id, 'daily', 4, { expiresAt: new Date(Date.now() - 1000) });
    await give(db, u.id, 'daily', 2, { expiresAt: inAnHour() });
    expect(await balanceOf(db, u.id)).toMatchObject({ daily: 2, total: 7 });
    await consume(db, u.id, 3);
    expect((await lotsOf(db, u.id)).find((l) => l.kind === 'daily' && l.amount === 4)!.remaining).toBe(4);
    expect(await balanceOf(db, u.id)).toMatchObject({ daily: 0, kickstart: 4, total: 4 });
  });

  test('refuses more than the balance with INSUFFICIENT_CREDITS (required, available) and charges nothing', async ({ db }) => {
    const u = await newUser(db);
    expect(await consume(db, u.id, 6).catch((e) => e)).toMatchObject({ code: 'INSUFFICIENT_CREDITS', extras: { credits_required: 6, credits_available: 5 } });
    expect((await balanceOf(db, u.id)).total).toBe(5);
    expect(await ledgerOf(db, u.id)).toHaveLength(1);
  });

  test('charges two requests that share a (client-chosen) request id in their reference', async ({ db }) => {
    const u = await newUser(db);
    await consume(db, u.id, 1, 'ai_chat:same');
    await consume(db, u.id, 1, 'ai_chat:same');
    expect((await balanceOf(db, u.id)).total).toBe(3);
  });

  test('is backed by CHECK constraints: no negative lot or balance', async ({ db }) => {
    const u = await newUser(db);
    await expect(db.updateTable('credit_lots').set({ remaining: -1 }).where('user_id', '=', u.id).execute()).rejects.toThrow(/check constraint/);
    await expect(
      db.insertInto('ai_credit_ledger').values({ user_id: u.id, type: 'deduct', category: 'ai', amount: -1, balance_after: -1, description: 'x', operation_ref: 'x', created_at: new Date(), updated_at: new Date() }).execute(),
    ).rejects.toThrow(/check constraint/);
  });
});

describe('reserveCredits and refundCredits', () => {
  test('returns a charge to the lots it came from, once, with a grant entry refund:<entry id>', async ({ db }) => {
    const u = await newUser(db);
    await give(db, u.id, 'daily', 2, { expiresAt: inAnHour() });
    const reserved = await reserve(db, u.id, 3);
    expect(reserved.balanceAfter).toBe(4);
    expect(await balanceOf(db, u.id)).toMatchObject({ daily: 0, kickstart: 4 });
    expect(await refund(db, u.id, reserved.entryId)).toEqual({ refunded: 3, balanceAfter: 7 });
    expect(await balanceOf(db, u.id)).toEqual({ kickstart: 5, daily: 2, subscription: 0, purchased: 0, total: 7 });
    const last = (await ledgerOf(db, u.id)).at(-1)!;
    expect(last).toMatchObject({ type: 'grant', category: 'ai', amount: 3, balance_after: 7, operation_ref: `refund:${reserved.entryId}`, lot_id: null });
    expect(last.allocations.map((a) => [a.kind, a.amount])).toEqual([
      ['daily', 2],
      ['kickstart', 1],
    ]);
    expect(await refund(db, u.id, reserved.entryId)).toEqual({ refunded: 0, balanceAfter: 7 });
    expect((await ledgerOf(db, u.id)).filter((e) => e.operation_ref.startsWith('refund:'))).toHaveLength(1);
    await expectConsistentLedger({ db }, u.id, expect);
  });

  test('does not return credits whose lot expired meanwhile (they would have expired unspent)', async ({ db }) => {
    const u = await newUser(db);
    expect((await give(db, u.id, 'daily', 2, { expiresAt: inAnHour() })).granted).toBe(true);
    const reserved = await reserve(db, u.id, 3);
    // midnight passes while the work runs
    await db.updateTable('credit_lots').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', u.id).where('kind', '=', 'daily').execute();
    expect(await refund(db, u.id, reserved.entryId)).toEqual({ refunded: 1, balanceAfter: 5 });
    expect(await balanceOf(db, u.id)).toEqual({ kickstart: 5, daily: 0, subscription: 0, purchased: 0, total: 5 });
    await expectConsistentLedger({ db }, u.id, expect);
  });

  test('refunds only the user’s own AI charges', async ({ db }) => {
    const u = await newUser(db);
    const other = await newUser(db);
    const reserved = await reserve(db, u.id, 1);
    await expect(refund(db, other.id, reserved.entryId)).rejects.toThrow(/no AI charge/);
    const [kickstart] = await ledgerOf(db, u.id);
    await expect(refund(db, u.id, kickstart!.id)).rejects.toThrow(/no AI charge/);
    expect((await balanceOf(db, u.id)).total).toBe(4);
  });
});

describe('expireCredits', () => {
  test('expires daily credits granted before a day, with one entry, once per reference', async ({ db }) => {
    const u = await newUser(db);
    expect((await give(db, u.id, 'daily', 10, { expiresAt: new Date(Date.now() - 1000) })).granted).toBe(true);
    const expire = () =>
      db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'daily', olderThan: new Date(Date.now() + 1000), description: 'Unused daily credits expired', operationRef: 'daily_expiry:2026-01-20' }));
    expect(await expire()).toEqual({ expired: 10, balanceAfter: 5 });
    expect(await expire()).toEqual({ expired: 0, balanceAfter: 5 });
    expect((await ledgerOf(db, u.id)).at(-1)).toMatchObject({ type: 'deduct', category: 'daily', amount: -10, balance_after: 5, operation_ref: 'daily_expiry:2026-01-20' });
  });

  test('keeps the newest credits up to `keep` (the carry-over cap) and expires the oldest', async ({ db }) => {
    const u = await newUser(db);
    await give(db, u.id, 'subscription', 40, { ref: 'month-1' });
    await db.updateTable('credit_lots').set({ created_at: new Date(Date.now() - 60_000) }).where('user_id', '=', u.id).where('kind', '=', 'subscription').execute();
    await give(db, u.id, 'subscription', 30, { ref: 'month-2' });
    expect(await db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'subscription', keep: 50, description: 'Carry-over cap', operationRef: 'carryover:2026-02' }))).toEqual({ expired: 20, balanceAfter: 55 });
    expect((await lotsOf(db, u.id)).filter((l) => l.kind === 'subscription').map((l) => l.remaining)).toEqual([20, 30]);
    await expectConsistentLedger({ db }, u.id, expect);
  });

  test('leaves lots granted after olderThan alone', async ({ db }) => {
    const u = await newUser(db);
    await give(db, u.id, 'daily', 10, { expiresAt: inAnHour() });
    const r = await db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'daily', olderThan: new Date(Date.now() - 60_000), description: 'x', operationRef: 'daily_expiry:x' }));
    expect(r.expired).toBe(0);
    expect((await creditBalance(db, u.id)).daily).toBe(10);
  });
});
