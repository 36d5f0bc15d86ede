import type { Database, Executor } from '../../../db/index.js';
import type { Logger } from '../../core/logging.js';
import type { Actor } from '../actor.js';
import { recordActivity } from '../activity/record-activity.js';
import { KeyedCombiner } from '../../core/combiner.js';
import { openTill, refundCredits } from '../credits/ledger.js';
import { translateProviderFailure } from '../provider-failures.js';
import { addTaskRequests, lockTaskCounter, releaseTaskRequest, TASK_REQUESTS_MAX, TASK_REQUESTS_WARN_FROM, taskLimitReached, type TaskCounterKey } from './task-counters.js';

export interface AiCharge {
  actor: Actor;
  /** The caller's session, for the per-task counter. */
  sessionId: string;
  /** Counted against the per-task limit when set. */
  taskId?: string;
  credits: number;
  description: string;
  operationRef: string;
  /** The activity entry of the request (entity_type ai_chat). */
  activity: { entityId: string; action: string; extra?: Record<string, unknown> };
}

async function recordAiActivity(trx: Executor, { charge: c, taskRequestCount, creditsUsed = c.credits }: { charge: AiCharge; taskRequestCount: number | undefined; creditsUsed?: number }): Promise<void> {
  await recordActivity(trx, {
    userId: c.actor.userId,
    entityType: 'ai_chat',
    entityId: c.activity.entityId,
    action: c.activity.action,
    source: c.actor.source,
    requestId: c.actor.requestId,
    extra: { credits_used: creditsUsed, ...(c.taskId ? { task_id: c.taskId, task_request_count: taskRequestCount } : {}), ...c.activity.extra },
  });
}

export interface AiReservation {
  /** The ledger entry of the charge, returned by releaseAiRequest. */
  entryId: string;
  balanceAfter: number;
  /** The per-task warning (FR-035); false without a task. */
  warning: boolean;
  taskRequestCount?: number;
}

/**
 * Pays for an AI result before the provider is asked (money before work): counts the per-task
 * request and charges the credits in one short transaction that commits before the provider call,
 * so concurrent requests see it and can never be given more provider calls or answers than the
 * balance and the task's limit allow. Throws 402/429 with nothing charged (the provider is then
 * never asked). The caller then either settles it (confirmAiRequest, once the result is complete)
 * or releases it (releaseAiRequest); paidAiRequest does both around the work.
 *
 * A user's reservations in this process are combined (KeyedCombiner): a burst of requests waits for
 * the user's credit lock on one connection and is charged by a few transactions, in arrival order,
 * instead of each holding a pool connection while it waits its turn (500 chats at once starved the
 * pool of every other request: bench/fixes.md 24).
 */
export function reserveAiRequest(db: Database, c: Omit<AiCharge, 'activity'>): Promise<AiReservation> {
  let desk = reservationDesks.get(db);
  if (!desk) {
    desk = new KeyedCombiner({ run: (userId, charges) => reserveInOrder(db, { userId, charges }), maxBatch: 200 });
    reservationDesks.set(db, desk);
  }
  return desk.submit(c.actor.userId, c);
}

const reservationDesks = new WeakMap<Database, KeyedCombiner<Omit<AiCharge, 'activity'>, AiReservation>>();

/**
 * One transaction for a batch of one user's reservations, with the outcome each would have had
 * alone in arrival order: 429 when its task's counter is full, else 402 when the credits left cannot
 * cover it, else charged and counted. Locks in the documented order: the per-task counter rows
 * first, in (session, task) order so that two batches never wait on each other's rows, then the
 * user's credits (one take of the lock for the whole batch).
 */
async function reserveInOrder(db: Database, { userId, charges }: { userId: string; charges: Omit<AiCharge, 'activity'>[] }): Promise<(AiReservation | Error)[]> {
  return db.transaction().execute(async (trx) => {
    const counters = new Map<string, { key: TaskCounterKey; count: number; added: number }>();
    const keys = [...new Set(charges.flatMap((c) => (c.taskId ? [counterId(c)] : [])))].sort();
    for (const id of keys) {
      const c = charges.find((x) => x.taskId && counterId(x) === id)!;
      const key = { userId, sessionId: c.sessionId, taskId: c.taskId! };
      counters.set(id, { key, count: await lockTaskCounter(trx, key), added: 0 });
    }
    const till = await openTill(trx, userId);
    const taken: { i: number; count?: number; balanceAfter: number }[] = [];
    const outcomes: (AiReservation | Error | undefined)[] = charges.map((c, i) => {
      const counter = c.taskId ? counters.get(counterId(c))! : undefined;
      if (counter && counter.count + counter.added >= TASK_REQUESTS_MAX) return taskLimitReached();
      const t = till.take({ amount: c.credits, description: c.description, operationRef: c.operationRef, category: 'ai' });
      if ('refused' in t) return t.refused;
      if (counter) counter.added += 1;
      taken.push({ i, count: counter ? counter.count + counter.added : undefined, balanceAfter: t.balanceAfter });
      return undefined;
    });
    const entries = await till.write();
    for (const counter of counters.values()) if (counter.added > 0) await addTaskRequests(trx, { key: counter.key, n: counter.added });
    taken.forEach((t, k) => {
      outcomes[t.i] = { entryId: entries[k]!.entryId, balanceAfter: t.balanceAfter, warning: t.count !== undefined && t.count >= TASK_REQUESTS_WARN_FROM, taskRequestCount: t.count };
    });
    return outcomes as (AiReservation | Error)[];
  });
}

const counterId = (c: Omit<AiCharge, 'activity'>) => `${c.sessionId}/${c.taskId}`;

export interface Settlement<T> {
  /** What the request really cost, when less than it reserved (the rest is refunded). */
  creditsUsed?: number;
  /** The history's text for that refund. */
  unusedDescription?: string;
  /** Writes of the result itself, in the settling transaction. */
  alongside?: (trx: Executor) => Promise<T>;
}

/**
 * The reserved request produced its result: in one transaction, refunds what it reserved beyond
 * its real cost (`creditsUsed`), writes `alongside` and records the activity. Returns the balance
 * after it and what `alongside` returned.
 */
export async function confirmAiRequest<T = undefined>(db: Database, { charge: c, reservation, settlement: s = {} }: { charge: AiCharge; reservation: AiReservation; settlement?: Settlement<T> }): Promise<{ balanceAfter: number; outcome: T }> {
  const unused = s.creditsUsed === undefined ? 0 : c.credits - s.creditsUsed;
  if (unused < 0) throw new Error(`confirmAiRequest: used ${s.creditsUsed} credits of ${c.credits} reserved`);
  // Nothing to refund or write beside it (a chat): the activity entry alone, one statement, without
  // the two round trips of a transaction around it.
  if (unused === 0 && !s.alongside) {
    await recordAiActivity(db, { charge: c, taskRequestCount: reservation.taskRequestCount, creditsUsed: s.creditsUsed });
    return { balanceAfter: reservation.balanceAfter, outcome: undefined as T };
  }
  return db.transaction().execute(async (trx) => {
    let balanceAfter = reservation.balanceAfter;
    if (unused > 0) {
      balanceAfter = (await refundCredits(trx, { userId: c.actor.userId, entryId: reservation.entryId, amount: unused, description: s.unusedDescription ?? `Refund: ${c.description} cost less than reserved` })).balanceAfter;
    }
    const outcome = s.alongside ? await s.alongside(trx) : (undefined as T);
    await recordAiActivity(trx, { charge: c, taskRequestCount: reservation.taskRequestCount, creditsUsed: s.creditsUsed });
    return { balanceAfter, outcome };
  });
}

/**
 * The reserved request produced no result: refunds its credits (a grant entry `refund:<entry id>`)
 * and gives back its per-task slot, in one transaction — counter first, then credits, the order in
 * which the reservation took them. Call it at most once per reservation (the refund itself is
 * idempotent, the counter is not).
 */
export async function releaseAiRequest(db: Database, { charge: c, reservation, description }: { charge: Omit<AiCharge, 'activity'>; reservation: AiReservation; description: string }): Promise<void> {
  await db.transaction().execute(async (trx) => {
    if (c.taskId) await releaseTaskRequest(trx, { userId: c.actor.userId, sessionId: c.sessionId, taskId: c.taskId });
    await refundCredits(trx, { userId: c.actor.userId, entryId: reservation.entryId, description });
  });
}

/**
 * Reserves the request's credits, runs `work` (the provider call, the checks of its answer and the
 * settlement with confirmAiRequest) and refunds the reservation when `work` throws — the provider
 * failed, its answer was unusable, or the settlement could not be written — so a failure is never
 * charged. `refundDescription` is the history's text for that refund.
 */
export async function paidAiRequest<R>(
  deps: { db: Database; log: Logger },
  { charge: c, refundDescription }: { charge: Omit<AiCharge, 'activity'>; refundDescription: string },
  work: (reservation: AiReservation) => Promise<R>,
): Promise<R> {
  const reservation = await reserveAiRequest(deps.db, c);
  try {
    return await work(reservation);
  } catch (caught) {
    // A provider's failure leaves in the catalogue's terms (AI_/TRANSCRIPTION_SERVICE_UNAVAILABLE).
    const err = translateProviderFailure(caught);
    await releaseAiRequest(deps.db, { charge: c, reservation, description: refundDescription }).catch((refundErr: unknown) => {
      deps.log.error({ err: refundErr, request_id: c.actor.requestId, ledger_entry: reservation.entryId }, 'AI reservation could not be refunded');
    });
    throw err;
  }
}
