import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeCredits, expireCredits, refundCredits, reserveCredits } from '../../src/domain/credits/ledger.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { giveCredits } from '../helpers/credits.js';
import { signUp } from '../helpers/users.js';

// FR-066: credits granted, consumed and expired by kind, on /metrics.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

async function creditGauges(): Promise<Record<string, number>> {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^credits\{kind="(\w+)",movement="(\w+)"\} (\d+)$/gm)) out[`${m[1]}.${m[2]}`] = Number(m[3]);
  return out;
}

describe('credit metrics', () => {
  it('count what the ledger granted, consumed (less refunds) and expired, by kind', async () => {
    const u = await signUp(t); // 5 kickstart
    await giveCredits(t, u.id, 'daily', 10);
    await giveCredits(t, u.id, 'purchased', 4);
    await t.db.transaction().execute((trx) => consumeCredits(trx, { userId: u.id, amount: 3, description: 'chat', operationRef: 'test:a' }));
    // a reservation returned in full consumes nothing; one returned in part consumes the rest
    const r1 = await t.db.transaction().execute((trx) => reserveCredits(trx, { userId: u.id, amount: 2, description: 'chat', operationRef: 'test:b' }));
    await t.db.transaction().execute((trx) => refundCredits(trx, { userId: u.id, entryId: r1.entryId, description: 'Refund' }));
    const r2 = await t.db.transaction().execute((trx) => reserveCredits(trx, { userId: u.id, amount: 9, description: 'transcribe', operationRef: 'test:c' }));
    await t.db.transaction().execute((trx) => refundCredits(trx, { userId: u.id, entryId: r2.entryId, description: 'Refund', amount: 5 }));
    // The 9 took the 7 daily left and 2 purchased; the refund of 5 returned the last drawn first
    // (2 purchased, 3 daily), so 4 daily stay charged.
    await t.db.transaction().execute((trx) => expireCredits(trx, { userId: u.id, kind: 'daily', description: 'Daily credits expired', operationRef: 'test:expire' }));

    const g = await creditGauges();
    expect(g['kickstart.granted']).toBe(5);
    expect(g['daily.granted']).toBe(10);
    expect(g['purchased.granted']).toBe(4);
    expect(g['subscription.granted']).toBe(0);
    // charged 3 + 4 kept of the 9 (daily is drawn first): 7 daily consumed, the 3 left expired
    expect(g['daily.consumed']).toBe(7);
    expect(g['daily.expired']).toBe(3);
    expect(g['purchased.consumed']).toBe(0);
    expect(g['kickstart.consumed']).toBe(0);
  });
});
