import type { CreditKind } from '../../db/schema/index.js';
import { creditBalance, expireCredits, grantCredits } from '../../src/domain/credits/ledger.js';
import type { TestApp } from './app.js';

/** Grants credits through the ledger, as the jobs of issue #5 do. */
export async function giveCredits(t: TestApp, userId: string, kind: CreditKind, amount: number, opts: { expiresAt?: Date | null; ref?: string } = {}) {
  return t.db.transaction().execute((trx) =>
    grantCredits(trx, {
      userId,
      kind,
      amount,
      expiresAt: opts.expiresAt ?? null,
      description: `Test ${kind} credits`,
      operationRef: opts.ref ?? `test:${kind}:${Math.random().toString(36).slice(2)}`,
    }),
  );
}

/** Empties a user's balance (e.g. the kickstart credits) through expiry entries, for tests that need an exact balance. */
export async function drainCredits(t: TestApp, userId: string) {
  await t.db.transaction().execute(async (trx) => {
    for (const kind of ['daily', 'subscription', 'purchased', 'kickstart'] as const) {
      await expireCredits(trx, { userId, kind, description: 'Test drain', operationRef: `test:drain:${Math.random().toString(36).slice(2)}` });
    }
  });
}

export const balanceOf = (t: TestApp, userId: string) => creditBalance(t.db, userId);

export const ledgerOf = (t: Pick<TestApp, 'db'>, userId: string) =>
  t.db.selectFrom('ai_credit_ledger').selectAll().where('user_id', '=', userId).orderBy('seq').execute();

/**
 * The ledger agrees with the lots: the entries sum to what is left in them, every balance_after is
 * the previous one plus the entry's amount, and nothing is negative.
 */
export async function expectConsistentLedger(t: Pick<TestApp, 'db'>, userId: string, expect: (v: unknown) => any) {
  const entries = await ledgerOf(t, userId);
  const lots = await t.db.selectFrom('credit_lots').selectAll().where('user_id', '=', userId).execute();
  const left = lots.reduce((s, l) => s + l.remaining, 0);
  expect(entries.reduce((s, e) => s + e.amount, 0)).toBe(left);
  let running = 0;
  for (const e of entries) {
    running += e.amount;
    expect(e.balance_after).toBe(running);
    expect(e.balance_after).toBeGreaterThanOrEqual(0);
  }
  for (const l of lots) expect(l.remaining).toBeGreaterThanOrEqual(0);
}
