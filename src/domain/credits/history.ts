import type { components } from '../../../codegen/api.js';
import type { Executor } from '../../../db/index.js';
import type { CreditEntryRow } from '../../../db/schema/index.js';
import { paginationOf, type PageParams } from '../../core/pagination.js';
import { iso } from '../time.js';
import { creditBalance } from './ledger.js';

type CreditTransaction = components['schemas']['CreditTransaction'];
type AiCredits = components['schemas']['AiCredits'];

export const presentCreditEntry = (e: CreditEntryRow): CreditTransaction => ({
  id: e.id,
  user_id: e.user_id,
  type: e.type,
  category: e.category,
  amount: e.amount,
  balance_after: e.balance_after,
  description: e.description,
  operation_ref: e.operation_ref,
  created_at: iso(e.created_at),
});

/** The user's ledger, newest entry first (in the order the entries were written). */
export async function listCreditHistory(db: Executor, userId: string, page: PageParams) {
  const [rows, count] = await Promise.all([
    db.selectFrom('ai_credit_ledger').selectAll().where('user_id', '=', userId).orderBy('seq', 'desc').offset(page.offset).limit(page.limit).execute(),
    db.selectFrom('ai_credit_ledger').select(db.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow(),
  ]);
  return { data: rows.map(presentCreditEntry), pagination: paginationOf(page, Number(count.n)) };
}

/** The next 00:00 UTC after `now`: when daily credits expire and the next daily grant arrives. */
export function nextUtcMidnight(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
}

/** GET /ai/credits: the balance in the AI view, with the daily reset time and the tier. */
export async function aiCreditsView(db: Executor, userId: string, now = new Date()): Promise<AiCredits> {
  const [balance, user] = await Promise.all([
    creditBalance(db, userId),
    db.selectFrom('users').select('tier').where('id', '=', userId).executeTakeFirst(),
  ]);
  return {
    balance: { daily_free: balance.daily, subscription: balance.subscription, purchased: balance.purchased, kickstart: balance.kickstart, total: balance.total },
    daily_reset_at: iso(nextUtcMidnight(now)),
    tier: user?.tier ?? 'free',
  };
}
