import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Executor } from '../../../db/index.js';
import type { CreditAllocation, CreditCategory, CreditEntryType, CreditKind } from '../../../db/schema/index.js';
import { DomainError } from '../../core/errors.js';
import { lockFor } from '../locks.js';

// The AI credit ledger (FR-037–FR-042). Credits live in lots, one per grant, each with what is left
// and an optional expiry; every change of the balance is also an entry of ai_credit_ledger with the
// balance after it. Every write takes the user's 'credits' lock first, so writes of one user are
// serialised: a charge can never overdraw, and balance_after is a true running total — of the
// spendable balance: a lot past its expires_at stops counting at once, before the job that expires
// it writes the matching entry (issue #5, at 00:00 UTC).

export type { CreditKind };

/** Which kinds a charge draws first (FR-042): daily, subscription, purchased, kickstart last. */
export const SPEND_ORDER: readonly CreditKind[] = ['daily', 'subscription', 'purchased', 'kickstart'];

export interface CreditBalance {
  kickstart: number;
  daily: number;
  subscription: number;
  purchased: number;
  total: number;
}

const CATEGORY_OF_KIND: Record<CreditKind, CreditCategory> = {
  kickstart: 'kickstart',
  daily: 'daily',
  subscription: 'subscription',
  purchased: 'purchase',
};

export const insufficientCredits = (required: number, available: number, message?: string) =>
  new DomainError(
    'INSUFFICIENT_CREDITS',
    message ?? `This request needs ${required} credit${required === 1 ? '' : 's'}; you have ${available}`,
    { extras: { credits_required: required, credits_available: available } },
  );

function requireTransaction(trx: Executor, fn: string): void {
  // The per-user lock is transaction-scoped; outside a transaction it would be released at once.
  if (!trx.isTransaction) throw new Error(`${fn} must run inside a transaction`);
}

function requirePositiveInteger(n: number, what: string): void {
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${what} must be a positive integer, got ${n}`);
}

/** A lot is spendable while it has credits left and has not reached its expiry. */
const spendable = sql<boolean>`remaining > 0 and (expires_at is null or expires_at > now())`;

/** The spendable balance by kind. Reads without locking: exact at the moment it runs. */
export async function creditBalance(db: Executor, userId: string): Promise<CreditBalance> {
  const rows = await db
    .selectFrom('credit_lots')
    .select(['kind', sql<number>`sum(remaining)::int`.as('credits')])
    .where('user_id', '=', userId)
    .where(spendable)
    .groupBy('kind')
    .execute();
  const balance: CreditBalance = { kickstart: 0, daily: 0, subscription: 0, purchased: 0, total: 0 };
  for (const r of rows) {
    balance[r.kind] = Number(r.credits);
    balance.total += Number(r.credits);
  }
  return balance;
}

/** The 402 a request gets when the balance cannot cover `amount`; checked again under the lock when charging. */
export async function assertCanAfford(db: Executor, { userId, amount, message }: { userId: string; amount: number; message?: string }): Promise<void> {
  const { total } = await creditBalance(db, userId);
  if (total < amount) throw insufficientCredits(amount, total, message);
}

export interface GrantCreditsInput {
  userId: string;
  kind: CreditKind;
  amount: number;
  /** When the credits stop being spendable (daily credits: the next 00:00 UTC); null: never. */
  expiresAt: Date | null;
  /** Shown in the history, e.g. "Daily Pro credits". */
  description: string;
  /** The operation the grant belongs to (`daily_grant:2026-01-20`, `purchase:<id>`); a second grant
   * of the same kind with the same reference is ignored, so jobs may run twice. */
  operationRef: string;
}

export interface GrantResult {
  /** false when this operation had already granted (or, for kickstart, the account already had its kickstart). */
  granted: boolean;
  balanceAfter: number;
}

/** Whether the ledger already holds this entry: what makes grants, refunds and expiries idempotent per reference. */
async function ledgerEntryExists(trx: Executor, { userId, type, category, operationRef }: { userId: string; type: CreditEntryType; category: CreditCategory; operationRef: string }): Promise<boolean> {
  const entry = await trx
    .selectFrom('ai_credit_ledger')
    .select('id')
    .where('user_id', '=', userId)
    .where('type', '=', type)
    .where('category', '=', category)
    .where('operation_ref', '=', operationRef)
    .executeTakeFirst();
  return entry !== undefined;
}

/** Whether a grant of this kind was already made for the operation (what grantCredits would skip). */
export async function grantRecorded(trx: Executor, { userId, kind, operationRef }: { userId: string; kind: CreditKind; operationRef: string }): Promise<boolean> {
  return ledgerEntryExists(trx, { userId, type: 'grant', category: CATEGORY_OF_KIND[kind], operationRef });
}

/** Adds a lot of credits and its ledger entry. Idempotent per (kind, operationRef). */
export async function grantCredits(trx: Executor, input: GrantCreditsInput): Promise<GrantResult> {
  requireTransaction(trx, 'grantCredits');
  requirePositiveInteger(input.amount, 'amount');
  await lockFor(trx, 'credits', input.userId);
  const category = CATEGORY_OF_KIND[input.kind];
  const done = await ledgerEntryExists(trx, { userId: input.userId, type: 'grant', category, operationRef: input.operationRef });
  const kickstartDone =
    input.kind === 'kickstart' &&
    (await trx.selectFrom('credit_lots').select('id').where('user_id', '=', input.userId).where('kind', '=', 'kickstart').executeTakeFirst());
  if (done || kickstartDone) return { granted: false, balanceAfter: (await creditBalance(trx, input.userId)).total };

  const lot = await trx
    .insertInto('credit_lots')
    .values({ user_id: input.userId, kind: input.kind, amount: input.amount, remaining: input.amount, expires_at: input.expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  const balanceAfter = (await creditBalance(trx, input.userId)).total;
  await insertEntry(trx, {
    userId: input.userId,
    type: 'grant',
    category,
    amount: input.amount,
    balanceAfter,
    description: input.description,
    operationRef: input.operationRef,
    lotId: lot.id,
    allocations: [],
  });
  return { granted: true, balanceAfter };
}

export interface ConsumeCreditsInput {
  userId: string;
  amount: number;
  /** Shown in the history, e.g. "AI chat". */
  description: string;
  /** The operation paid for (`ai_chat:<request id>`, `voice_session:<id>`); one charge per operation. */
  operationRef: string;
  category?: 'ai';
}

/**
 * Charges `amount` credits in the caller's transaction, which should also hold the result it pays
 * for: daily first, then subscription, purchased and kickstart, oldest lot first within a kind.
 * Throws 402 INSUFFICIENT_CREDITS (nothing charged) when the spendable balance is smaller.
 */
export async function consumeCredits(trx: Executor, input: ConsumeCreditsInput): Promise<{ balanceAfter: number }> {
  requireTransaction(trx, 'consumeCredits');
  const { balanceAfter } = await charge(trx, input);
  return { balanceAfter };
}

export interface CreditReservation {
  /** The charge's ledger entry: what refundCredits returns. */
  entryId: string;
  balanceAfter: number;
}

/**
 * Charges like consumeCredits, for work whose result comes only after the transaction commits (a
 * streamed answer, a minute of live audio): the credits are taken before the work starts, so
 * concurrent work can never spend them twice, and refundCredits returns them if it fails.
 */
export async function reserveCredits(trx: Executor, input: ConsumeCreditsInput): Promise<CreditReservation> {
  requireTransaction(trx, 'reserveCredits');
  return charge(trx, input);
}

export interface RefundCreditsInput {
  userId: string;
  /** The ledger entry of the reserved charge (CreditReservation.entryId). */
  entryId: string;
  /** Shown in the history, e.g. "Refund: AI chat not completed". */
  description: string;
  /**
   * Return only this many of the charge (a reservation larger than the work's real cost, e.g. a
   * transcription reserved for the longest recording): the credits drawn last go back first, so
   * what stays charged is what a charge of the real cost would have taken. Omitted: all of it.
   */
  amount?: number;
}

/**
 * Returns a reserved AI charge (or `amount` of it) to the lots it was taken from, with a grant entry
 * of category `ai` and operation `refund:<entry id>` (one refund per charge: a second call returns
 * nothing, so a reservation is settled once, whether in part or in full). Credits
 * whose lot expired meanwhile are not returned — they would have expired unspent anyway, and the
 * expiry has already been (or will be) written for the lot as it stands.
 */
export async function refundCredits(trx: Executor, input: RefundCreditsInput): Promise<{ refunded: number; balanceAfter: number }> {
  requireTransaction(trx, 'refundCredits');
  await lockFor(trx, 'credits', input.userId);
  const charged = await trx
    .selectFrom('ai_credit_ledger')
    .select('allocations')
    .where('id', '=', input.entryId)
    .where('user_id', '=', input.userId)
    .where('type', '=', 'deduct')
    .where('category', '=', 'ai')
    .executeTakeFirst();
  if (!charged) throw new Error(`refundCredits: no AI charge ${input.entryId} of user ${input.userId}`);
  const operationRef = `refund:${input.entryId}`;
  const done = await ledgerEntryExists(trx, { userId: input.userId, type: 'grant', category: 'ai', operationRef });
  if (done) return { refunded: 0, balanceAfter: (await creditBalance(trx, input.userId)).total };

  if (input.amount !== undefined && (!Number.isInteger(input.amount) || input.amount < 0)) throw new Error(`amount must be a non-negative integer, got ${input.amount}`);
  let due = input.amount ?? Number.POSITIVE_INFINITY;
  const returned: CreditAllocation[] = [];
  for (const a of input.amount === undefined ? charged.allocations : [...charged.allocations].reverse()) {
    if (due === 0) break;
    const give = Math.min(a.amount, due);
    const lot = await trx
      .updateTable('credit_lots')
      .set({ remaining: sql`remaining + ${give}`, updated_at: new Date() })
      .where('id', '=', a.lot_id)
      .where('user_id', '=', input.userId)
      .where(sql<boolean>`(expires_at is null or expires_at > now())`)
      .returning('id')
      .executeTakeFirst();
    if (!lot) continue;
    returned.push({ ...a, amount: give });
    due -= give;
  }
  const refunded = returned.reduce((sum, a) => sum + a.amount, 0);
  const balanceAfter = (await creditBalance(trx, input.userId)).total;
  if (refunded === 0) return { refunded, balanceAfter };
  await insertEntry(trx, {
    userId: input.userId,
    type: 'grant',
    category: 'ai',
    amount: refunded,
    balanceAfter,
    description: input.description,
    operationRef,
    lotId: null,
    allocations: returned,
  });
  return { refunded, balanceAfter };
}

async function charge(trx: Executor, input: ConsumeCreditsInput): Promise<CreditReservation> {
  const till = await openTill(trx, input.userId);
  const taken = till.take(input);
  if ('refused' in taken) throw taken.refused;
  return (await till.write())[0]!;
}

/** A charge the till took (its balance after it), or the 402 it refused. */
export type TillOutcome = { balanceAfter: number } | { refused: DomainError };

export interface Till {
  /**
   * Takes one charge from what is left, as charge() would take it alone after the ones before it
   * (daily first, oldest lot first), or refuses it (402, nothing taken) when what is left cannot
   * cover it; a later, smaller charge may still be taken. Nothing is written until write().
   */
  take(c: Omit<ConsumeCreditsInput, 'userId'>): TillOutcome;
  /** Writes what was taken: one update per lot drawn from, one insert of the entries (their
   * balance_after run down in the order taken). Returns each taken charge's entry, in that order. */
  write(): Promise<CreditReservation[]>;
}

/**
 * Takes the user's credit lock and reads the spendable lots once, for several charges in the
 * caller's transaction (a burst of AI requests reserved together): see Till.
 */
export async function openTill(trx: Executor, userId: string): Promise<Till> {
  requireTransaction(trx, 'openTill');
  await lockFor(trx, 'credits', userId);
  // The row locks repeat what the advisory lock already guarantees, for any writer that forgets it.
  const lots = await trx
    .selectFrom('credit_lots')
    .select(['id', 'kind', 'remaining'])
    .where('user_id', '=', userId)
    .where(spendable)
    .orderBy(sql`array_position(array['daily', 'subscription', 'purchased', 'kickstart']::text[], kind)`)
    .orderBy('created_at')
    .orderBy('id')
    .forUpdate()
    .execute();
  let available = lots.reduce((sum, l) => sum + l.remaining, 0);
  const drawn = new Map<string, number>();
  const entries: NewEntry[] = [];
  return {
    take(c) {
      requirePositiveInteger(c.amount, 'amount');
      if (available < c.amount) return { refused: insufficientCredits(c.amount, available) };
      const allocations: CreditAllocation[] = [];
      let due = c.amount;
      for (const lot of lots) {
        if (due === 0) break;
        const take = Math.min(lot.remaining - (drawn.get(lot.id) ?? 0), due);
        if (take === 0) continue;
        allocations.push({ lot_id: lot.id, kind: lot.kind, amount: take });
        drawn.set(lot.id, (drawn.get(lot.id) ?? 0) + take);
        due -= take;
      }
      available -= c.amount;
      entries.push({ userId, type: 'deduct', category: c.category ?? 'ai', amount: -c.amount, balanceAfter: available, description: c.description, operationRef: c.operationRef, lotId: null, allocations });
      return { balanceAfter: available };
    },
    async write() {
      if (entries.length === 0) return [];
      await drawDown(trx, [...drawn].map(([lotId, amount]) => ({ lot_id: lotId, amount })));
      const ids = await insertEntries(trx, entries);
      return entries.map((e, i) => ({ entryId: ids[i]!, balanceAfter: e.balanceAfter }));
    },
  };
}

export interface ExpireCreditsInput {
  userId: string;
  kind: CreditKind;
  /** Only lots granted before this instant (e.g. today's 00:00 UTC for the daily expiry). */
  olderThan?: Date;
  /** Credits of this kind to leave (the newest ones), e.g. 50 for the monthly carry-over cap. */
  keep?: number;
  description: string;
  /** One expiry per (kind, operationRef): running it again expires nothing more. */
  operationRef: string;
}

/**
 * Expires what is left of the user's lots of one kind, oldest first, leaving `keep` credits, and
 * writes one deduct entry for the total. Lots past their expires_at are included (they are already
 * unspendable; this records it). Returns how many credits expired (0: nothing written).
 */
export async function expireCredits(trx: Executor, input: ExpireCreditsInput): Promise<{ expired: number; balanceAfter: number }> {
  requireTransaction(trx, 'expireCredits');
  const keep = input.keep ?? 0;
  if (!Number.isInteger(keep) || keep < 0) throw new Error(`keep must be a non-negative integer, got ${keep}`);
  await lockFor(trx, 'credits', input.userId);
  const category = CATEGORY_OF_KIND[input.kind];
  const done = await ledgerEntryExists(trx, { userId: input.userId, type: 'deduct', category, operationRef: input.operationRef });
  if (done) return { expired: 0, balanceAfter: (await creditBalance(trx, input.userId)).total };

  let query = trx
    .selectFrom('credit_lots')
    .select(['id', 'kind', 'remaining'])
    .where('user_id', '=', input.userId)
    .where('kind', '=', input.kind)
    .where('remaining', '>', 0);
  if (input.olderThan) query = query.where('created_at', '<', input.olderThan);
  const lots = await query.orderBy('created_at').orderBy('id').forUpdate().execute();
  const held = lots.reduce((sum, l) => sum + l.remaining, 0);
  let due = Math.max(0, held - keep);
  if (due === 0) return { expired: 0, balanceAfter: (await creditBalance(trx, input.userId)).total };

  const expired = due;
  const allocations: CreditAllocation[] = [];
  for (const lot of lots) {
    if (due === 0) break;
    const take = Math.min(lot.remaining, due);
    allocations.push({ lot_id: lot.id, kind: lot.kind, amount: take });
    due -= take;
  }
  await drawDown(trx, allocations);
  const balanceAfter = (await creditBalance(trx, input.userId)).total;
  await insertEntry(trx, {
    userId: input.userId,
    type: 'deduct',
    category,
    amount: -expired,
    balanceAfter,
    description: input.description,
    operationRef: input.operationRef,
    lotId: null,
    allocations,
  });
  return { expired, balanceAfter };
}

async function drawDown(trx: Executor, allocations: readonly Pick<CreditAllocation, 'lot_id' | 'amount'>[]): Promise<void> {
  for (const a of allocations) {
    await trx
      .updateTable('credit_lots')
      .set({ remaining: sql`remaining - ${a.amount}`, updated_at: new Date() })
      .where('id', '=', a.lot_id)
      .execute();
  }
}

interface NewEntry {
  userId: string;
  type: 'grant' | 'deduct';
  category: CreditCategory;
  amount: number;
  balanceAfter: number;
  description: string;
  operationRef: string;
  lotId: string | null;
  allocations: CreditAllocation[];
}

async function insertEntry(trx: Executor, e: NewEntry): Promise<string> {
  return (await insertEntries(trx, [e]))[0]!;
}

/** Inserts entries in their order (seq and created_at follow it); returns their ids in that order. */
async function insertEntries(trx: Executor, entries: readonly NewEntry[]): Promise<string[]> {
  const ids = entries.map(() => randomUUID());
  await trx
    .insertInto('ai_credit_ledger')
    .values(
      entries.map((e, i) => ({
        id: ids[i]!,
        user_id: e.userId,
        type: e.type,
        category: e.category,
        amount: e.amount,
        balance_after: e.balanceAfter,
        description: e.description.slice(0, 200),
        operation_ref: e.operationRef,
        lot_id: e.lotId,
        allocations: JSON.stringify(e.allocations),
        // the wall-clock instant, under the lock: entries of one user are ordered like their writes
        created_at: sql<Date>`clock_timestamp()`,
        updated_at: sql<Date>`clock_timestamp()`,
      })),
    )
    .execute();
  return ids;
}
