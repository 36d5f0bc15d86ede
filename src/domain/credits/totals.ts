import { sql } from 'kysely';
import type { Database } from '../../../db/index.js';
import type { CreditKind } from './ledger.js';

export interface CreditTotals {
  kind: CreditKind;
  /** Granted by the daily, subscription, purchase and kickstart grants (refunds are not grants). */
  granted: number;
  /** Charged for AI work, less what was refunded. */
  consumed: number;
  /** Written off by the expiry jobs. */
  expired: number;
}

const KIND_OF_CATEGORY = { daily: 'daily', subscription: 'subscription', purchase: 'purchased', kickstart: 'kickstart' } as const;

/**
 * Every credit granted, consumed and expired so far, by kind, from the ledger (FR-066). Grants and
 * expiries carry their kind in the category; a charge (and its refund) in its lot allocations.
 */
export async function creditTotals(db: Database): Promise<CreditTotals[]> {
  // Grants and expiries name their kind by category (`purchase` for purchased credits); charges and
  // refunds by the kinds of the lots they drew from or returned to.
  const { rows } = await sql<{ kind: string; granted: string; consumed: string; expired: string }>`
    select category as kind,
           coalesce(sum(amount) filter (where type = 'grant'), 0) as granted,
           0 as consumed,
           coalesce(-sum(amount) filter (where type = 'deduct'), 0) as expired
    from ai_credit_ledger where category <> 'ai' group by category
    union all
    select a->>'kind', 0, sum(case when l.type = 'deduct' then (a->>'amount')::int else -(a->>'amount')::int end), 0
    from ai_credit_ledger l cross join jsonb_array_elements(l.allocations) a
    where l.category = 'ai' group by a->>'kind'`.execute(db);
  const totals = new Map<CreditKind, CreditTotals>();
  for (const kind of Object.values(KIND_OF_CATEGORY)) totals.set(kind, { kind, granted: 0, consumed: 0, expired: 0 });
  for (const r of rows) {
    const t = totals.get((KIND_OF_CATEGORY as Record<string, CreditKind>)[r.kind] ?? (r.kind as CreditKind));
    if (!t) continue;
    t.granted += Number(r.granted);
    t.consumed += Number(r.consumed);
    t.expired += Number(r.expired);
  }
  return [...totals.values()];
}
